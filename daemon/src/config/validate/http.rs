//! `[daemon.http]` and `[daemon] socket_group`: the listen address, TLS
//! files (both or neither, readable PEM), bearer tokens read from their
//! files (refused when every user may read them, like a bad key), roles,
//! limits; the group resolved to its id at load.

use std::os::unix::fs::PermissionsExt;

use super::Ctx;
use crate::config::raw;
use crate::config::{
    DEFAULT_HTTP_MAX_BODY, DEFAULT_RATE_LIMIT, HttpConfig, Role, Token, parse_size,
};

impl Ctx<'_> {
    /// `[daemon.http]`, when written.
    pub(super) fn http(&mut self, raw: &raw::RawHttp) -> Option<HttpConfig> {
        let Some(listen) = &raw.listen else {
            if let Some(t) = raw.tokens.first() {
                self.error(t, "[daemon.http] needs `listen` (like \"127.0.0.1:8080\")");
            }
            return None;
        };
        let addr = match listen.get_ref().parse() {
            Ok(a) => a,
            Err(_) => {
                self.error(
                    listen,
                    format!(
                        "listen `{}` is not an address:port (like \"127.0.0.1:8080\")",
                        listen.get_ref()
                    ),
                );
                return None;
            }
        };
        let tls = match (&raw.tls_cert, &raw.tls_key) {
            (None, None) => None,
            (Some(c), Some(k)) => {
                let (cert, key) = (self.path(c), self.path(k));
                if let Err(e) = crate::http::tls::server_config(&cert, &key) {
                    self.error(c, e.to_string());
                }
                Some((cert, key))
            }
            (Some(c), None) => {
                self.error(c, "tls_cert needs tls_key too");
                None
            }
            (None, Some(k)) => {
                self.error(k, "tls_key needs tls_cert too");
                None
            }
        };
        let mut tokens: Vec<Token> = Vec::new();
        for t in &raw.tokens {
            let name = t.get_ref().name.get_ref();
            if !crate::config::is_valid_name(name) {
                self.error(
                    &t.get_ref().name,
                    format!(
                        "token name `{name}` must be 1-64 characters of a-z, A-Z, 0-9, `_` or `-`"
                    ),
                );
                continue;
            }
            if tokens.iter().any(|x| &x.name == name) {
                self.error(
                    &t.get_ref().name,
                    format!("token `{name}` is declared twice"),
                );
                continue;
            }
            let role = match t.get_ref().role.as_ref().map(|r| r.get_ref().as_str()) {
                None | Some("viewer") => Role::Viewer,
                Some("operator") => Role::Operator,
                Some(other) => {
                    let r = t.get_ref().role.as_ref().unwrap_or(&t.get_ref().name);
                    self.error(
                        r,
                        format!("unknown role `{other}`; expected `operator` or `viewer`"),
                    );
                    continue;
                }
            };
            let file = self.path(&t.get_ref().file);
            match read_token(&file) {
                Ok(secret) => tokens.push(Token {
                    name: name.clone(),
                    file,
                    role,
                    secret,
                }),
                Err(e) => self.error(&t.get_ref().file, format!("token `{name}`: {e}")),
            }
        }
        let max_body = match &raw.max_body {
            Some(s) => match parse_size(s.get_ref()) {
                Ok(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
                Ok(_) => {
                    self.error(s, "max_body must be more than zero");
                    DEFAULT_HTTP_MAX_BODY
                }
                Err(e) => {
                    self.error(s, format!("max_body: {e}"));
                    DEFAULT_HTTP_MAX_BODY
                }
            },
            None => DEFAULT_HTTP_MAX_BODY,
        };
        let rate_limit = match &raw.rate_limit {
            Some(n) => match u32::try_from(*n.get_ref()) {
                Ok(v) if v > 0 => v,
                _ => {
                    self.error(n, "rate_limit must be 1 or more requests per minute");
                    DEFAULT_RATE_LIMIT
                }
            },
            None => DEFAULT_RATE_LIMIT,
        };
        Some(HttpConfig {
            listen: addr,
            tls,
            tokens,
            allow_origins: raw
                .allow_origins
                .iter()
                .map(|o| o.get_ref().clone())
                .collect(),
            max_body,
            rate_limit,
            metrics_public: raw.metrics_public,
        })
    }

    /// `socket_group`: its name and id.
    pub(super) fn socket_group(&mut self, raw: &raw::RawDaemon) -> Option<(String, u32)> {
        let g = raw.socket_group.as_ref()?;
        match group_id(g.get_ref()) {
            Some(gid) => Some((g.get_ref().clone(), gid)),
            None => {
                self.error(
                    g,
                    format!(
                        "socket_group: no group named `{}` on this system",
                        g.get_ref()
                    ),
                );
                None
            }
        }
    }
}

/// The token in `path`: its file must not be readable by every user.
fn read_token(path: &std::path::Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mode = meta.permissions().mode();
    if mode & 0o004 != 0 {
        return Err(format!(
            "{} is readable by every user (mode {:o}); `chmod o-r` it",
            path.display(),
            mode & 0o777
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let secret = text.trim();
    if secret.len() < 16 {
        return Err(format!(
            "{} must hold a token of at least 16 characters",
            path.display()
        ));
    }
    Ok(secret.to_string())
}

/// The id of group `name`, when the system has one.
fn group_id(name: &str) -> Option<u32> {
    let cname = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0u8; 16 << 10];
    // SAFETY: an all-zero group is a valid value for getgrnam_r to fill in.
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and `buf` outlives it.
    let rc = unsafe {
        libc::getgrnam_r(
            cname.as_ptr(),
            &mut grp,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        )
    };
    (rc == 0 && !found.is_null()).then_some(grp.gr_gid)
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::{messages, parse};
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn tokens_are_read_and_world_readable_ones_refused() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("ops.token");
        std::fs::write(&good, "0123456789abcdef0123\n").unwrap();
        std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o600)).unwrap();
        let open = dir.path().join("wall.token");
        std::fs::write(&open, "0123456789abcdef0123\n").unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        let c = parse(&format!(
            "[daemon.http]\nlisten = \"127.0.0.1:0\"\ntokens = [{{ name = \"ops\", file = \"{}\", role = \"operator\" }}]\n",
            good.display()
        ))
        .unwrap();
        let http = c.daemon.http.unwrap();
        assert_eq!(http.tokens[0].secret, "0123456789abcdef0123");
        assert!(!format!("{:?}", http.tokens[0]).contains("0123456789"));
        let m = messages(&format!(
            "[daemon.http]\nlisten = \"127.0.0.1:0\"\ntokens = [{{ name = \"wall\", file = \"{}\" }}]\n",
            open.display()
        ));
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].contains("readable by every user"), "{m:?}");
        let m = messages("[daemon.http]\nlisten = \"nowhere\"\n");
        assert_eq!(
            m,
            [
                "/etc/agentd/agents.toml:2:10: listen `nowhere` is not an address:port (like \"127.0.0.1:8080\")"
            ]
        );
    }
}
