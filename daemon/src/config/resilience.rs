//! Keepalive and reconnect policy of a model connection, as `[models.X]`
//! sets it (`keepalive`, `dead_after`, `reconnect_*`).
//!
//! The values are checked where they are read (validation in this module's
//! parent); this type only holds them and computes the delay before each
//! reconnect attempt. The connection that applies the policy lives in
//! `realtime::connection`.

use std::time::Duration;

/// Keepalive and reconnect policy of a model connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Resilience {
    /// How often a WebSocket ping is sent.
    pub ping_interval: Duration,
    /// A peer that sent nothing (not even a pong), or read nothing of what
    /// agentd sends, for this long is dead.
    pub dead_after: Duration,
    /// Reconnect attempts after a loss before giving up; 0 never reconnects.
    pub max_attempts: u32,
    /// Delay before the first attempt; doubled each time up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

impl Default for Resilience {
    fn default() -> Self {
        Resilience {
            ping_interval: Duration::from_secs(20),
            dead_after: Duration::from_secs(40),
            max_attempts: 5,
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(10),
        }
    }
}

impl Resilience {
    /// Delay before attempt `n` (1-based): exponential, with "equal jitter"
    /// (half fixed, half random) so many sessions do not reconnect in step.
    pub fn backoff(&self, n: u32) -> Duration {
        let base = self
            .backoff_initial
            .saturating_mul(1u32 << n.saturating_sub(1).min(16))
            .min(self.backoff_max);
        base / 2 + base.mul_f64(rand::random::<f64>() / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let r = Resilience::default();
        for _ in 0..50 {
            let first = r.backoff(1);
            assert!(first >= r.backoff_initial / 2 && first <= r.backoff_initial);
            let third = r.backoff(3);
            assert!(third >= r.backoff_initial * 2 && third <= r.backoff_initial * 4);
            let late = r.backoff(30);
            assert!(late >= r.backoff_max / 2 && late <= r.backoff_max);
        }
    }
}
