//! The per-session event bus. The events themselves ([`SessionEvent`],
//! [`Envelope`]) are the control API's, defined in its crate.
//!
//! Every event gets the next sequence number of its session. The bus keeps
//! the most recent events so a subscriber can start from any `since` still in
//! memory, and broadcasts new ones live; a subscriber that falls behind the
//! broadcast re-reads what it missed from the log, so it loses nothing that
//! is still kept.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::sync::broadcast;

pub use agentd_api::events::{Direction, Envelope, SessionEvent, ToolOutcome};

/// At most this many events are kept per session for late subscribers…
pub const KEPT_EVENTS: usize = 20_000;
/// …and at most about this many bytes of them: audio (and its raw model
/// events) would otherwise hold a long call's whole recording in memory.
pub const KEPT_BYTES: usize = 16 << 20;

struct Log {
    next_seq: u64,
    events: VecDeque<(Arc<Envelope>, usize)>,
    bytes: usize,
}

impl Log {
    fn kept_since(&self, since: u64) -> Vec<Arc<Envelope>> {
        // Sequence numbers are contiguous in the log: skip straight to `since`.
        let first = self.events.front().map_or(0, |(e, _)| e.seq);
        let skip = since.saturating_sub(first) as usize;
        self.events
            .iter()
            .skip(skip)
            .map(|(e, _)| e.clone())
            .collect()
    }
}

/// A cheap estimate of an event's size, dominated by its largest strings.
fn approx_bytes(event: &SessionEvent) -> usize {
    let payload = match event {
        SessionEvent::Audio { audio, .. } => audio.len(),
        SessionEvent::RawModelEvent { data } => json_bytes(data),
        SessionEvent::ToolStart { arguments, .. }
        | SessionEvent::ToolApprovalRequired { arguments, .. } => arguments.len(),
        SessionEvent::ToolEnd {
            arguments, output, ..
        } => arguments.len() + output.len(),
        SessionEvent::HistoryAdded { item, .. } | SessionEvent::HistoryUpdated { item, .. } => {
            json_bytes(item)
        }
        SessionEvent::GuardrailTripped { message, .. } | SessionEvent::Error { message, .. } => {
            message.len()
        }
        SessionEvent::TranscriptDelta { delta, .. } => delta.len(),
        _ => 0,
    };
    payload + 128
}

/// Roughly what `v` takes in memory: its strings plus a little per node.
/// Walks the value instead of serializing it — this runs for every event.
fn json_bytes(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len() + 8,
        Value::Array(a) => a.iter().map(json_bytes).sum::<usize>() + 8,
        Value::Object(o) => {
            o.iter()
                .map(|(k, v)| k.len() + json_bytes(v))
                .sum::<usize>()
                + 8
        }
        _ => 8,
    }
}

/// One session's event stream.
pub struct EventBus {
    session: Arc<str>,
    log: Mutex<Log>,
    live: broadcast::Sender<Arc<Envelope>>,
    /// Where guardrail trips are journaled: every trip is published here,
    /// whichever task noticed it, so this is the one place that sees them all.
    journal: std::sync::OnceLock<crate::store::Journal>,
    /// Responses started (`agent_start`) and not yet ended (`agent_end`).
    responses_open: AtomicI64,
    /// When the last event was published, ms since the epoch.
    last_event_ms: AtomicU64,
}

impl EventBus {
    /// A new, empty stream; the first event gets sequence number 1.
    pub fn new(session: Arc<str>) -> Arc<EventBus> {
        let (live, _) = broadcast::channel(1024);
        Arc::new(EventBus {
            session,
            log: Mutex::new(Log {
                next_seq: 1,
                events: VecDeque::new(),
                bytes: 0,
            }),
            live,
            journal: std::sync::OnceLock::new(),
            responses_open: AtomicI64::new(0),
            last_event_ms: AtomicU64::new(0),
        })
    }

    /// Journal the guardrail trips published from now on.
    pub fn journal_trips(&self, journal: crate::store::Journal) {
        let _ = self.journal.set(journal);
    }

    /// Append an event and send it to live subscribers; returns its sequence number.
    pub fn publish(&self, event: SessionEvent) -> u64 {
        if let SessionEvent::GuardrailTripped {
            direction,
            guardrails,
            message,
        } = &event
            && let Some(j) = self.journal.get()
        {
            for g in guardrails {
                crate::metrics::metrics().guardrail_tripped(direction.as_str(), g);
            }
            j.record_later(crate::store::Record::GuardrailTrip {
                session: self.session.to_string(),
                direction: direction.as_str().to_string(),
                guardrails: guardrails.join(","),
                message: message.clone(),
            });
        }
        let time_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        match &event {
            SessionEvent::AgentStart { .. } => {
                self.responses_open.fetch_add(1, Ordering::Relaxed);
            }
            SessionEvent::AgentEnd { .. } => {
                let _ =
                    self.responses_open
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                            Some((n - 1).max(0))
                        });
            }
            _ => {}
        }
        self.last_event_ms.store(time_ms, Ordering::Relaxed);
        // The lock covers numbering and logging only, so order in the log is
        // order of sequence numbers; sending happens under it too so live
        // subscribers see the same order.
        let size = approx_bytes(&event);
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let seq = log.next_seq;
        log.next_seq += 1;
        let env = Arc::new(Envelope {
            seq,
            session: self.session.clone(),
            time_ms,
            event,
        });
        log.bytes += size;
        log.events.push_back((env.clone(), size));
        while log.events.len() > KEPT_EVENTS || (log.bytes > KEPT_BYTES && log.events.len() > 1) {
            if let Some((_, n)) = log.events.pop_front() {
                log.bytes -= n;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.live.send(env);
        seq
    }

    /// Events with `seq >= since` still kept, and a receiver for what comes next.
    pub fn subscribe(
        &self,
        since: u64,
    ) -> (Vec<Arc<Envelope>>, broadcast::Receiver<Arc<Envelope>>) {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.live.subscribe();
        (log.kept_since(since), rx)
    }

    /// Events with `seq >= since` still kept.
    pub fn since(&self, since: u64) -> Vec<Arc<Envelope>> {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.kept_since(since)
    }

    /// Whether a response is being produced (an `agent_start` without its `agent_end`).
    pub fn response_in_flight(&self) -> bool {
        self.responses_open.load(Ordering::Relaxed) > 0
    }

    /// When the last event was published (ms since the epoch; 0: none yet).
    pub fn last_event_ms(&self) -> u64 {
        self.last_event_ms.load(Ordering::Relaxed)
    }

    /// Sequence number of the last event, 0 when there is none.
    pub fn last_seq(&self) -> u64 {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.next_seq - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribers_resume_from_any_kept_sequence_number() {
        let bus = EventBus::new(Arc::from("s"));
        for i in 0..5 {
            bus.publish(SessionEvent::AgentStart {
                agent: format!("a{i}"),
            });
        }
        let (backlog, mut rx) = bus.subscribe(3);
        assert_eq!(backlog.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4, 5]);
        bus.publish(SessionEvent::InputAudioTimeoutTriggered);
        assert_eq!(rx.try_recv().unwrap().seq, 6);
        assert_eq!(bus.last_seq(), 6);
    }

    #[test]
    fn audio_is_kept_within_a_byte_budget() {
        let bus = EventBus::new(Arc::from("s"));
        let chunk = "A".repeat(64 << 10);
        for _ in 0..1_000 {
            bus.publish(SessionEvent::Audio {
                item_id: "m".into(),
                content_index: 0,
                response_id: "r".into(),
                audio: chunk.clone(),
            });
        }
        let kept = bus.since(0);
        let bytes: usize = kept.iter().map(|e| approx_bytes(&e.event)).sum();
        assert!(bytes <= KEPT_BYTES, "{bytes}");
        assert!(kept.len() > 200, "keeps as much as fits: {}", kept.len());
        // The newest events are the ones kept, and numbering is unaffected.
        assert_eq!(kept.last().map(|e| e.seq), Some(1_000));
        assert_eq!(bus.last_seq(), 1_000);
    }

    #[test]
    fn envelopes_serialize_flat_with_type() {
        let bus = EventBus::new(Arc::from("s1"));
        bus.publish(SessionEvent::Handoff {
            from: "a".into(),
            to: "b".into(),
        });
        let v = serde_json::to_value(&*bus.since(0)[0]).unwrap();
        assert_eq!(v["type"], "handoff");
        assert_eq!(v["seq"], 1);
        assert_eq!(v["session"], "s1");
        assert_eq!(v["to"], "b");
    }
}
