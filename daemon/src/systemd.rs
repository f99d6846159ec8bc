//! systemd integration: readiness, reloading, stopping and watchdog
//! notifications, and socket activation.
//!
//! agentd runs as `Type=notify`: it says `READY=1` only once the control
//! socket is listening, `RELOADING=1` with `MONOTONIC_USEC=` while a reload
//! is prepared and `READY=1` after (what `Type=notify-reload` needs),
//! `STATUS=` lines with its agents, plugins and live sessions, `STOPPING=1`
//! when a drain starts, and — when the unit sets `WatchdogSec=` —
//! `WATCHDOG=1` at half the interval, from the async runtime, so a wedged
//! reactor stops the pings and systemd restarts the daemon. Outside systemd
//! (no `NOTIFY_SOCKET`) every notification is a no-op.
//!
//! [`listen_fds`] takes the control socket systemd bound (`agentd.socket`)
//! instead of binding one.

use std::os::fd::RawFd;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Where notifications go, if anywhere.
#[derive(Debug, Clone)]
pub struct Notifier {
    socket: Option<String>,
}

impl Notifier {
    /// Read `NOTIFY_SOCKET` from the environment.
    pub fn from_env() -> Notifier {
        Notifier {
            socket: std::env::var("NOTIFY_SOCKET")
                .ok()
                .filter(|s| !s.is_empty()),
        }
    }

    /// Send one notification (`READY=1`, `STATUS=…`); failures are logged, never fatal.
    pub fn notify(&self, state: &str) {
        let Some(path) = &self.socket else {
            return;
        };
        if let Err(e) = send(path, state) {
            tracing::warn!(socket = %path, error = %e, "systemd notification failed");
        }
    }

    /// `RELOADING=1` with the monotonic time, as `Type=notify-reload` wants.
    pub fn reloading(&self) {
        self.notify(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
    }

    /// The watchdog interval systemd asked for, if any, and if it is meant for this process.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.socket.as_ref()?;
        let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
        if let Ok(pid) = std::env::var("WATCHDOG_PID")
            && pid.parse::<u32>().ok() != Some(std::process::id())
        {
            return None;
        }
        (usec > 0).then(|| Duration::from_micros(usec))
    }

    /// Ping the watchdog at half its interval for as long as the runtime runs.
    pub fn spawn_watchdog(&self) {
        let Some(interval) = self.watchdog_interval() else {
            return;
        };
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval / 2);
            loop {
                tick.tick().await;
                me.notify("WATCHDOG=1");
            }
        });
    }
}

/// `CLOCK_MONOTONIC` in microseconds (what `MONOTONIC_USEC=` carries).
pub fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for clock_gettime to fill in.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

/// The first file descriptor systemd passes (`SD_LISTEN_FDS_START`).
pub const LISTEN_FDS_START: RawFd = 3;

/// Sockets passed by systemd socket activation: `LISTEN_FDS` descriptors
/// from fd 3, when `LISTEN_PID` names this process (else they were meant for
/// another). Each is marked close-on-exec.
pub fn listen_fds() -> Vec<RawFd> {
    let pid_matches = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    if !pid_matches {
        return Vec::new();
    }
    let n: RawFd = match std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        Some(n) if n > 0 => n,
        _ => return Vec::new(),
    };
    (LISTEN_FDS_START..LISTEN_FDS_START + n)
        .inspect(|&fd| {
            // SAFETY: fcntl on a descriptor number has no memory effects;
            // on a closed one it fails harmlessly.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        })
        .collect()
}

fn send(path: &str, state: &str) -> std::io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    if let Some(name) = path.strip_prefix('@') {
        // An abstract socket (systemd's default for services).
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        sock.send_to_addr(state.as_bytes(), &addr)?;
    } else {
        sock.send_to(state.as_bytes(), path)?;
    }
    Ok(())
}
