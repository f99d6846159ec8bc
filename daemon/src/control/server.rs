//! The control API server: the Unix socket, who may connect, and one HTTP/1.1
//! connection task per client.
//!
//! Only the daemon's own user, root and members of `[daemon] socket_group`
//! may connect: peer credentials are checked on accept (a refused client is
//! answered 403 with the reason, not dropped), and the socket is created
//! mode 0660, owned by that group when one is named. Each request is
//! parsed into a route (`routes`) before any state is touched, then run by
//! its handler (`handlers`); whatever fails is answered by `errors`.

use std::convert::Infallible;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;

use super::reply::Body;
use super::{handlers, routes};
use crate::supervisor::Supervisor;
use agentd_api::Identity;

/// Let members of group `gid` connect: the socket's group becomes `gid`.
pub fn share_with_group(path: &Path, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::chown(path, None, Some(gid))
}

/// Whether user `uid` (primary group `primary`) is a member of group `gid`.
fn in_group(uid: libc::uid_t, primary: libc::gid_t, gid: libc::gid_t) -> bool {
    if primary == gid {
        return true;
    }
    let Some(name) = user_name(uid).and_then(|n| std::ffi::CString::new(n).ok()) else {
        return false;
    };
    let mut groups: Vec<libc::gid_t> = vec![0; 256];
    let mut n: libc::c_int = groups.len() as libc::c_int;
    // SAFETY: `name` is NUL-terminated and `groups` holds `n` entries.
    let rc = unsafe { libc::getgrouplist(name.as_ptr(), primary, groups.as_mut_ptr(), &mut n) };
    if rc < 0 {
        return false;
    }
    groups.truncate(n.max(0) as usize);
    groups.contains(&gid)
}

/// Answer every request on a refused connection with 403 and `why`.
async fn refuse(stream: tokio::net::UnixStream, why: String) {
    let service = hyper::service::service_fn(move |_req| {
        let why = why.clone();
        async move {
            Ok::<_, Infallible>(
                super::errors::ApiError::new(hyper::StatusCode::FORBIDDEN, "forbidden", why)
                    .response(),
            )
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn handle(
    daemon: Arc<Supervisor>,
    socket: Arc<Path>,
    who: Arc<Identity>,
    req: Request<Incoming>,
) -> Response<Body> {
    let route = match routes::parse(req.method(), req.uri().path(), req.uri().query()) {
        Ok(r) => r,
        Err(e) => return e.response(),
    };
    tracing::debug!(?route, "control request");
    match handlers::dispatch(&daemon, &socket, &who, route, req).await {
        Ok(resp) => resp,
        Err(e) => e.response(),
    }
}

/// Why the control socket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("another agentd is already listening on {0}")]
    InUse(String),
    #[error("cannot create the control socket {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Bind the control socket: refuse to steal a live one, replace a stale one.
pub async fn bind(path: &Path) -> Result<UnixListener, BindError> {
    let io = |source| BindError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    if path.exists() {
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return Err(BindError::InUse(path.display().to_string()));
        }
        std::fs::remove_file(path).map_err(io)?;
    }
    let listener = UnixListener::bind(path).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(io)?;
    Ok(listener)
}

/// The control socket systemd bound and passed as `fd` (socket activation):
/// it must be a listening Unix stream socket. Returns it with its path.
pub fn from_activation(
    fd: std::os::fd::RawFd,
) -> Result<(UnixListener, Option<std::path::PathBuf>), BindError> {
    use std::os::fd::FromRawFd;
    let io = |source| BindError::Io {
        path: format!("(socket-activation fd {fd})"),
        source,
    };
    // SAFETY: systemd passed `fd` to this process for it to own (see
    // `systemd::listen_fds`); nothing else in the daemon uses it.
    let std_listener = unsafe { std::os::unix::net::UnixListener::from_raw_fd(fd) };
    // Not a listening Unix socket (a misconfigured .socket unit) fails here.
    let path = std_listener
        .local_addr()
        .map_err(io)?
        .as_pathname()
        .map(Path::to_path_buf);
    std_listener.set_nonblocking(true).map_err(io)?;
    let listener = UnixListener::from_std(std_listener).map_err(io)?;
    Ok((listener, path))
}

/// Serve the control API until `shutdown` resolves.
pub async fn serve(
    listener: UnixListener,
    socket: Arc<Path>,
    daemon: Arc<Supervisor>,
    shutdown: impl Future<Output = ()>,
) {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let group = daemon.catalog().config.daemon.socket_group.clone();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let uid = match stream.peer_cred() {
            Ok(cred) if cred.uid() == me || cred.uid() == 0 => cred.uid(),
            Ok(cred)
                if group
                    .as_ref()
                    .is_some_and(|(_, gid)| in_group(cred.uid(), cred.gid(), *gid)) =>
            {
                cred.uid()
            }
            Ok(cred) => {
                tracing::warn!(
                    uid = cred.uid(),
                    "control connection from another user refused"
                );
                let why = match &group {
                    Some((name, _)) => format!(
                        "uid {} may not use this socket: only agentd's user (uid {me}), root and members of group `{name}` may",
                        cred.uid()
                    ),
                    None => format!(
                        "uid {} may not use this socket: only agentd's user (uid {me}) and root may ([daemon] socket_group lets a group in)",
                        cred.uid()
                    ),
                };
                tokio::spawn(refuse(stream, why));
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read control peer credentials; refused");
                continue;
            }
        };
        let daemon = daemon.clone();
        let socket = socket.clone();
        tokio::spawn(async move {
            // Looking a name up may ask NSS (files, LDAP…): off the reactor.
            let name = tokio::task::spawn_blocking(move || user_name(uid))
                .await
                .ok()
                .flatten();
            let who = Arc::new(Identity::Uid { uid, name });
            let service = hyper::service::service_fn(move |req| {
                let daemon = daemon.clone();
                let socket = socket.clone();
                let who = who.clone();
                async move { Ok::<_, Infallible>(handle(daemon, socket, who, req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await
            {
                tracing::debug!(error = %e, "control connection ended with an error");
            }
        });
    }
}

/// The name of user `uid`, when the system has one.
fn user_name(uid: libc::uid_t) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: an all-zero passwd is a valid value for getpwuid_r to fill in.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and `buf` outlives its use;
    // getpwuid_r writes only into `pwd` and `buf`.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() || pwd.pw_name.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points at a NUL-terminated string in `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
    name.to_str().ok().map(str::to_string)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_daemons_own_user_has_a_name() {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if me == 0 {
            assert_eq!(super::user_name(0).as_deref(), Some("root"));
        }
        assert_eq!(super::user_name(u32::MAX - 7), None);
    }
}
