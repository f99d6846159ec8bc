//! systemd integration: readiness, stopping and watchdog notifications.
//!
//! agentd runs as `Type=notify`: it says `READY=1` only once the control
//! socket is listening, `STOPPING=1` when shutdown starts, and — when the unit
//! sets `WatchdogSec=` — `WATCHDOG=1` at half the interval, from the async
//! runtime, so a wedged reactor stops the pings and systemd restarts the
//! daemon. Outside systemd (no `NOTIFY_SOCKET`) every call is a no-op.

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
