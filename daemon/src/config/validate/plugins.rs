//! `[plugins.NAME]`: the plugin's path and its sandbox — limits (memory up
//! to [`MAX_PLUGIN_MEMORY`], timeout, output cap) and grants: directories
//! (which must exist; each guest path once), environment (fixed or inherited
//! at load time) and network destinations.

use std::collections::BTreeMap;

use serde_spanned::Spanned;

use super::Ctx;
use crate::config::names::{is_env_name, is_valid_name};
use crate::config::raw;
use crate::config::{
    DEFAULT_RECYCLE_AFTER, DirGrant, HostPort, InstanceMode, MAX_PLUGIN_MEMORY, PER_SESSION_MAX,
    PluginConfig, Sandbox, parse_duration, parse_size,
};

impl Ctx<'_> {
    /// Every `[plugins.NAME]` whose name is valid.
    pub(super) fn plugins(
        &mut self,
        declared: &BTreeMap<raw::S, raw::RawPlugin>,
    ) -> BTreeMap<String, PluginConfig> {
        let mut plugins = BTreeMap::new();
        for (name, p) in declared {
            if !is_valid_name(name.get_ref()) {
                self.error(
                    name,
                    format!(
                        "plugin name `{}` must be 1-64 characters of a-z, A-Z, 0-9, `_` or `-`",
                        name.get_ref()
                    ),
                );
                continue;
            }
            let sandbox = self.sandbox(&p.sandbox);
            let instance = match &p.instance {
                Some(i) => self.instance(i, &sandbox),
                None => InstanceMode::PerCall,
            };
            plugins.insert(
                name.get_ref().clone(),
                PluginConfig {
                    name: name.get_ref().clone(),
                    path: self.path(&p.path),
                    sandbox,
                    instance,
                    at: Some(self.written(name)),
                },
            );
        }
        plugins
    }

    /// `instance = "per-call" | "per-session" | { pool = N, recycle_after = M, recycle_memory = SIZE }`.
    fn instance(
        &mut self,
        written: &Spanned<raw::OrTable<raw::RawInstance>>,
        sandbox: &Sandbox,
    ) -> InstanceMode {
        let raw = &written.get_ref().0;
        // Recycle before the cap is hit: a call that reaches the cap traps.
        let mut recycle_memory = sandbox.memory / 4 * 3;
        if let Some(m) = &raw.recycle_memory {
            match parse_size(m) {
                Ok(v) if v == 0 || v > sandbox.memory => self.error(
                    written,
                    format!("instance: recycle_memory {m} must be more than 0 and at most the sandbox memory"),
                ),
                Ok(v) => recycle_memory = v,
                Err(e) => self.error(written, format!("instance: recycle_memory: {e}")),
            }
        }
        let recycle_after = match raw.recycle_after {
            Some(0) => {
                self.error(written, "instance: recycle_after must be at least 1");
                DEFAULT_RECYCLE_AFTER
            }
            Some(n) => n,
            None => DEFAULT_RECYCLE_AFTER,
        };
        match (raw.mode.as_deref(), raw.pool) {
            (Some("per-call"), _) => InstanceMode::PerCall,
            (Some("per-session"), _) => InstanceMode::Reused {
                max: PER_SESSION_MAX,
                recycle_after,
                recycle_memory,
                per_session: true,
            },
            (Some(other), _) => {
                let hint = crate::config::names::closest(other, ["per-call", "per-session"])
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                self.error(
                    written,
                    format!(
                        "instance `{other}` must be \"per-call\", \"per-session\" or {{ pool = N, recycle_after = M }}{hint}"
                    ),
                );
                InstanceMode::PerCall
            }
            (None, Some(0)) | (None, None) => {
                self.error(written, "instance: `pool` must be at least 1");
                InstanceMode::PerCall
            }
            (None, Some(max)) => InstanceMode::Reused {
                max,
                recycle_after,
                recycle_memory,
                per_session: false,
            },
        }
    }

    fn sandbox(&mut self, s: &raw::RawSandbox) -> Sandbox {
        let mut sandbox = Sandbox::default();
        if let Some(m) = &s.memory {
            match parse_size(m.get_ref()) {
                Ok(v) if v > MAX_PLUGIN_MEMORY => self.error(
                    m,
                    format!("memory {} is over the limit of 1GiB", m.get_ref()),
                ),
                Ok(v) => sandbox.memory = v,
                Err(e) => self.error(m, format!("memory: {e}")),
            }
        }
        if let Some(t) = &s.timeout {
            match parse_duration(t.get_ref()) {
                Ok(v) if v.is_zero() => self.error(t, "timeout must be more than zero"),
                Ok(v) => sandbox.timeout = v,
                Err(e) => self.error(t, format!("timeout: {e}")),
            }
        }
        if let Some(o) = &s.max_output {
            match parse_size(o.get_ref()) {
                Ok(v) => sandbox.max_output = v,
                Err(e) => self.error(o, format!("max_output: {e}")),
            }
        }
        for d in &s.dirs {
            if let Some(grant) = self.dir_grant(d, &sandbox.dirs) {
                sandbox.dirs.push(grant);
            }
        }
        for (name, value) in &s.env {
            if !is_env_name(name.get_ref()) {
                self.error(
                    name,
                    format!("env: `{}` is not a variable name", name.get_ref()),
                );
                continue;
            }
            sandbox.env.push((name.get_ref().clone(), value.clone()));
        }
        for name in &s.inherit_env {
            let n = name.get_ref();
            if !is_env_name(n) {
                self.error(name, format!("inherit_env: `{n}` is not a variable name"));
            } else if s.env.keys().any(|k| k.get_ref() == n) {
                self.error(name, format!("inherit_env: `{n}` is also set in `env`"));
            } else if let Ok(v) = std::env::var(n) {
                // Read at load (and reload) time; an unset variable is simply not passed.
                sandbox.env.push((n.clone(), v));
            }
        }
        for h in &s.allow_hosts {
            match HostPort::parse(h.get_ref()) {
                Ok(hp) => sandbox.allow_hosts.push(hp),
                Err(e) => self.error(h, format!("allow_hosts: {e}")),
            }
        }
        sandbox
    }

    fn dir_grant(&mut self, d: &Spanned<raw::RawDir>, seen: &[DirGrant]) -> Option<DirGrant> {
        let raw = d.get_ref();
        let read_only = match raw.mode.as_ref().map(|m| m.get_ref().as_str()) {
            None | Some("ro") => true,
            Some("rw") => false,
            Some(other) => {
                let m = raw.mode.as_ref()?;
                self.error(m, format!("dirs: mode `{other}` must be `ro` or `rw`"));
                return None;
            }
        };
        let host = self.path(&raw.host);
        if !host.is_dir() {
            self.error(
                &raw.host,
                format!("dirs: {} is not an existing directory", host.display()),
            );
            return None;
        }
        let guest = raw.guest.get_ref();
        if !guest.starts_with('/') || guest.split('/').any(|c| c == "..") {
            self.error(
                &raw.guest,
                format!("dirs: guest path `{guest}` must be absolute, like `/data`, without `..`"),
            );
            return None;
        }
        if seen.iter().any(|g| g.guest == *guest) {
            self.error(
                &raw.guest,
                format!("dirs: guest path `{guest}` is granted twice"),
            );
            return None;
        }
        Some(DirGrant {
            host,
            guest: guest.clone(),
            read_only,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::{messages, parse};
    use crate::config::{Config, DirGrant};

    #[test]
    fn sandbox_grants_are_resolved_against_the_config_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        let text = r#"
[plugins.files.sandbox]
memory = "32MiB"
dirs = [{ host = "data", guest = "/data" }, { host = "data", guest = "/out", mode = "rw" }]
env = { GREETING = "hello" }
allow_hosts = ["api.example.com:443", "127.0.0.1:8080", "[::1]:9"]
"#;
        let text = format!("[plugins.files]\npath = \"files.wasm\"\n{}", &text[1..]);
        let c = Config::parse(&dir.path().join("agents.toml"), &text).unwrap();
        let s = &c.plugins["files"].sandbox;
        assert_eq!(s.memory, 32 << 20);
        assert_eq!(
            s.dirs,
            vec![
                DirGrant {
                    host: dir.path().join("data"),
                    guest: "/data".into(),
                    read_only: true
                },
                DirGrant {
                    host: dir.path().join("data"),
                    guest: "/out".into(),
                    read_only: false
                },
            ]
        );
        assert_eq!(s.env, vec![("GREETING".to_string(), "hello".to_string())]);
        let hosts: Vec<String> = s.allow_hosts.iter().map(ToString::to_string).collect();
        assert_eq!(hosts, ["api.example.com:443", "127.0.0.1:8080", "[::1]:9"]);
    }

    #[test]
    fn inherit_env_copies_only_the_named_variables_that_are_set() {
        // PATH is set for any test run; the other name is not.
        let c = parse(
        "[plugins.p]\npath = \"p.wasm\"\nsandbox = { inherit_env = [\"PATH\", \"AGENTD_TEST_SURELY_UNSET\"] }\n",
    )
    .unwrap();
        let env = &c.plugins["p"].sandbox.env;
        assert_eq!(env.len(), 1);
        assert_eq!(env[0].0, "PATH");
        assert_eq!(Some(env[0].1.clone()), std::env::var("PATH").ok());
    }

    #[test]
    fn bad_sandbox_grants_are_errors_with_positions() {
        let m = messages(
            r#"[plugins.p]
path = "p.wasm"
sandbox = { dirs = [{ host = "/definitely/not/here", guest = "/d" }] }
[plugins.q]
path = "q.wasm"
sandbox = { dirs = [{ host = "/", guest = "rel", mode = "ro" }] }
[plugins.r]
path = "r.wasm"
sandbox = { dirs = [{ host = "/", guest = "/x", mode = "rwx" }] }
[plugins.s]
path = "s.wasm"
sandbox = { allow_hosts = ["example.com"], env = { "1BAD" = "x" } }
"#,
        );
        let want = [
            "agents.toml:3:30: dirs: /definitely/not/here is not an existing directory",
            "agents.toml:6:43: dirs: guest path `rel` must be absolute",
            "agents.toml:9:56: dirs: mode `rwx` must be `ro` or `rw`",
            "agents.toml:12:28: allow_hosts: `example.com` must be `host:port`",
            "agents.toml:12:52: env: `1BAD` is not a variable name",
        ];
        for w in want {
            assert!(m.iter().any(|d| d.contains(w)), "no `{w}` in {m:#?}");
        }
        // Unknown keys are a parse error, reported alone (serde stops at the first).
        let m = messages("[plugins.t]\npath = \"t.wasm\"\nsandbox = { dirz = [] }\n");
        assert!(
            m[0].starts_with("/etc/agentd/agents.toml:3:13:"),
            "{}",
            m[0]
        );
        assert!(m[0].contains("dirz"), "{}", m[0]);
    }
}
