//! The graceful drain: what SIGTERM and `agentctl drain` (`POST /v1/drain`)
//! do before the daemon exits.
//!
//! The supervisor stops taking sessions first (its `draining` state: new
//! sessions fail with `draining`, and so do new calls on a channel). Then,
//! every [`TICK`]:
//! - idle control-API sessions — no response or tool call in flight and no
//!   event for [`QUIET`] — are closed with reason [`DRAINING`];
//! - sessions carrying a call on a channel (SIP, WebRTC;
//!   [`SessionHandle::is_channel`]) and busy ones are waited for;
//! - systemd hears `STATUS=` with the count left.
//!
//! At `[daemon] drain_timeout` what is left is closed with reason
//! [`DRAIN_TIMEOUT`]; a second SIGTERM closes it at once with reason
//! [`SHUTDOWN`]. The caller then flushes the journal and removes the socket.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::session::SessionHandle;
use crate::supervisor::Supervisor;
use crate::systemd::Notifier;

/// Reason recorded for an idle session closed by a drain.
pub const DRAINING: &str = "draining";
/// Reason recorded for a session still live when the drain timed out.
pub const DRAIN_TIMEOUT: &str = "drain timeout";
/// Reason recorded for a session closed by a second stop signal.
pub const SHUTDOWN: &str = "shutdown";

/// A session without events this long (and nothing in flight) is idle.
pub const QUIET: Duration = Duration::from_secs(1);
/// How often live sessions are looked at.
const TICK: Duration = Duration::from_millis(200);
/// How long one session may take to answer the drain (its state, a close)
/// before the drain goes on without it: a session stuck in its teardown must
/// not keep the daemon from stopping.
const ANSWER: Duration = Duration::from_secs(5);

/// What a drain did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Drained {
    /// Idle sessions closed with reason `draining`.
    pub closed_idle: usize,
    /// Sessions that ended by themselves while the drain waited.
    pub finished: usize,
    /// Sessions closed at the timeout or on a second signal.
    pub cut: usize,
    /// The drain was cut short by a second signal.
    pub forced: bool,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Whether the drain waits for `h` rather than closing it now.
async fn waits_for(h: &SessionHandle) -> bool {
    if h.is_channel() {
        return true;
    }
    // No answer in time: not busy (a closing session answers nothing).
    if tokio::time::timeout(ANSWER, h.busy())
        .await
        .unwrap_or(false)
    {
        return true;
    }
    now_ms().saturating_sub(h.bus.last_event_ms()) < QUIET.as_millis() as u64
}

/// Close `h` with `reason`; false if it was already gone or did not answer
/// within [`ANSWER`] (logged: the drain goes on without it).
async fn close(h: &SessionHandle, reason: &str) -> bool {
    match tokio::time::timeout(ANSWER, h.close_with(reason)).await {
        Ok(r) => r.is_ok(),
        Err(_) => {
            tracing::warn!(session = %h.id, reason, "session did not answer the drain's close in time");
            false
        }
    }
}

/// Drain the daemon: see the module notes. `force` resolves on a second
/// stop signal.
pub async fn drain(
    daemon: &Supervisor,
    timeout: Duration,
    systemd: &Notifier,
    force: impl Future<Output = ()>,
) -> Drained {
    daemon.drain().await;
    let deadline = Instant::now() + timeout;
    let mut out = Drained::default();
    let mut waited: Vec<std::sync::Arc<str>> = Vec::new();
    tokio::pin!(force);
    loop {
        let live: Vec<SessionHandle> = daemon
            .sessions()
            .await
            .into_iter()
            .filter(|h| !h.is_closed())
            .collect();
        // Sessions waited for last round that are gone ended by themselves.
        out.finished += waited
            .iter()
            .filter(|id| !live.iter().any(|h| &h.id == *id))
            .count();
        let mut left = Vec::new();
        for h in live {
            if waits_for(&h).await {
                left.push(h);
            } else if close(&h, DRAINING).await {
                tracing::info!(session = %h.id, "idle session closed: draining");
                out.closed_idle += 1;
            }
        }
        systemd.notify(&format!(
            "STATUS=draining: {} session{} left",
            left.len(),
            if left.len() == 1 { "" } else { "s" }
        ));
        if left.is_empty() {
            break;
        }
        waited = left.iter().map(|h| h.id.clone()).collect();
        let cut = tokio::select! {
            _ = tokio::time::sleep(TICK) => (Instant::now() >= deadline).then_some(DRAIN_TIMEOUT),
            _ = &mut force => Some(SHUTDOWN),
        };
        if let Some(reason) = cut {
            out.forced = reason == SHUTDOWN;
            tracing::warn!(sessions = left.len(), %reason, "closing the sessions still live");
            let closed = futures_util::future::join_all(left.iter().map(|h| close(h, reason)));
            out.cut += closed.await.iter().filter(|closed| **closed).count();
            break;
        }
    }
    tracing::info!(
        closed_idle = out.closed_idle,
        finished = out.finished,
        cut = out.cut,
        forced = out.forced,
        "drained"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SettingsOverlay;

    async fn supervisor() -> Supervisor {
        crate::supervisor::test_supervisor().await
    }

    #[tokio::test]
    async fn channel_calls_are_waited_for_and_idle_sessions_closed() {
        let sup = supervisor().await;
        let idle = sup
            .start_session(None, SettingsOverlay::default())
            .await
            .unwrap();
        let call = sup
            .start_session(None, SettingsOverlay::default())
            .await
            .unwrap();
        call.set_channel("sip");
        assert!(call.is_channel() && !idle.is_channel());
        let drained = drain(
            &sup,
            Duration::from_secs(3),
            &Notifier::from_env(),
            std::future::pending(),
        )
        .await;
        assert_eq!(
            drained,
            Drained {
                closed_idle: 1,
                finished: 0,
                cut: 1,
                forced: false
            }
        );
        assert!(idle.is_closed() && call.is_closed());
        assert!(sup.counts().await.draining);
    }

    #[tokio::test]
    async fn a_second_signal_cuts_the_drain_short() {
        let sup = supervisor().await;
        let call = sup
            .start_session(None, SettingsOverlay::default())
            .await
            .unwrap();
        call.set_channel("webrtc");
        let drained = drain(
            &sup,
            Duration::from_secs(300),
            &Notifier::from_env(),
            tokio::time::sleep(Duration::from_millis(300)),
        )
        .await;
        assert!(drained.forced);
        assert_eq!(drained.cut, 1);
        assert!(call.is_closed());
    }
}
