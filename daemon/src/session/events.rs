//! The per-session event bus. The events themselves ([`SessionEvent`],
//! [`Envelope`]) are the control API's, defined in its crate.
//!
//! Every event gets the next sequence number of its session. The bus keeps
//! the events for late subscribers — the newest in memory, older ones
//! spilled to a file when the daemon-wide budget ([`super::hub`]) is
//! exceeded — and broadcasts new ones live; a subscriber that falls behind
//! the broadcast re-reads what it missed from the log (memory or file), so
//! it loses nothing that is still kept. Each event is serialized once, the
//! first time a subscriber or the spill needs its line, and that line is
//! shared by every subscriber.

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;

use super::hub::EventHub;
use crate::realtime::protocol::RawEvent;
pub use agentd_api::events::{Direction, Envelope, SessionEvent, ToolOutcome};

/// At most this many events are kept in memory per session for late
/// subscribers (older ones spill like those over the byte budget).
pub const KEPT_EVENTS: usize = 20_000;
/// …and about this many bytes of them: one long call does not take the
/// whole daemon-wide budget while others could use it (the rest spills).
pub const SESSION_MEMORY: usize = 8 << 20;

/// The `code` of the `error` event sent in place of one that could not be serialized.
pub const UNSERIALIZABLE: &str = "event_not_serializable";

/// One published event with its NDJSON line, made at most once.
pub struct Logged {
    pub seq: u64,
    pub session: Arc<str>,
    pub time_ms: u64,
    body: Body,
    /// Estimated bytes in memory (the budget's unit).
    size: usize,
    line: OnceLock<Option<Bytes>>,
    /// An `audio` event's PCM, decoded once for every audio relay listening.
    pcm: OnceLock<Option<Bytes>>,
}

/// What a logged event holds.
enum Body {
    Event(SessionEvent),
    /// A `raw_model_event`, as the model's JSON text: written out verbatim.
    Raw(RawEvent),
}

impl Logged {
    /// The event as one newline-terminated JSON line (an `error` event in
    /// its place when it cannot be serialized), shared by all subscribers.
    pub fn line(&self) -> Option<&Bytes> {
        self.line
            .get_or_init(|| match &self.body {
                Body::Event(event) => line_of(self.seq, &self.session, self.time_ms, event),
                Body::Raw(raw) => Some(raw_line(self.seq, &self.session, self.time_ms, raw)),
            })
            .as_ref()
    }

    /// The event, unless it is a raw model event.
    pub fn event(&self) -> Option<&SessionEvent> {
        match &self.body {
            Body::Event(e) => Some(e),
            Body::Raw(_) => None,
        }
    }

    /// An `audio` event's bytes, decoded from base64 the first time any
    /// subscriber asks and shared by all of them; `None` for other events
    /// (and for audio that is not base64).
    pub fn pcm(&self) -> Option<&Bytes> {
        use base64::Engine as _;
        self.pcm
            .get_or_init(|| match &self.body {
                Body::Event(SessionEvent::Audio { audio, .. }) => {
                    base64::engine::general_purpose::STANDARD
                        .decode(audio)
                        .ok()
                        .map(Bytes::from)
                }
                _ => None,
            })
            .as_ref()
    }

    /// The session's last event.
    pub fn is_closed(&self) -> bool {
        matches!(self.body, Body::Event(SessionEvent::SessionClosed { .. }))
    }

    /// The event's `type`.
    pub fn kind(&self) -> &'static str {
        match &self.body {
            Body::Event(e) => e.kind(),
            Body::Raw(_) => "raw_model_event",
        }
    }
}

/// The line of a `raw_model_event`, built around the model's text as it came
/// (the same fields and value as serializing the [`Envelope`] would give).
fn raw_line(seq: u64, session: &str, time_ms: u64, raw: &RawEvent) -> Bytes {
    let json = raw.json();
    let mut out = Vec::with_capacity(json.len() + session.len() + 96);
    out.extend_from_slice(b"{\"seq\":");
    out.extend_from_slice(seq.to_string().as_bytes());
    out.extend_from_slice(b",\"session\":");
    // A string always serializes.
    let _ = serde_json::to_writer(&mut out, session);
    out.extend_from_slice(b",\"time_ms\":");
    out.extend_from_slice(time_ms.to_string().as_bytes());
    out.extend_from_slice(b",\"type\":\"raw_model_event\",\"data\":");
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

/// What a subscriber starting at `since` can still get.
#[derive(Default)]
pub struct Backlog {
    /// Spilled events, oldest first: their lines in `path` from byte
    /// `start` to `end`, sequence numbers `first..=last`.
    pub spilled: Option<SpilledRange>,
    /// Events still in memory, after the spilled ones.
    pub memory: Vec<Arc<Logged>>,
}

/// A contiguous range of spilled lines.
#[derive(Debug, Clone)]
pub struct SpilledRange {
    pub path: PathBuf,
    pub start: u64,
    pub end: u64,
    pub first: u64,
    pub last: u64,
}

impl SpilledRange {
    /// The lines, read from the file (blocking I/O: call off the reactor).
    pub fn read(&self) -> std::io::Result<Vec<u8>> {
        self.read_at(self.start, usize::MAX)
    }

    /// Whole lines from byte `from` of the range, about `max` bytes of them
    /// (at least one line), so a far-behind subscriber never holds the whole
    /// file in memory at once. Blocking I/O: call off the reactor.
    pub fn read_at(&self, from: u64, max: usize) -> std::io::Result<Vec<u8>> {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(&self.path)?;
        f.seek(SeekFrom::Start(from))?;
        let want = (self.end.saturating_sub(from) as usize).min(max);
        let mut buf = vec![0; want];
        f.read_exact(&mut buf)?;
        if from + (want as u64) < self.end {
            match buf.iter().rposition(|b| *b == b'\n') {
                Some(i) => buf.truncate(i + 1),
                None => {
                    // One line longer than `max`: read on to its end.
                    let mut rest = Vec::new();
                    f.take(self.end - from - want as u64)
                        .read_to_end(&mut rest)?;
                    let cut = rest
                        .iter()
                        .position(|b| *b == b'\n')
                        .map_or(rest.len(), |i| i + 1);
                    buf.extend_from_slice(&rest[..cut]);
                }
            }
        }
        Ok(buf)
    }
}

/// The file older events go to, with where each one starts.
struct Spill {
    path: Option<PathBuf>,
    /// Sequence number of the first spilled event.
    first: u64,
    /// Byte offset of each spilled event's line; `end` after the last.
    offsets: Vec<u64>,
    end: u64,
}

struct Log {
    next_seq: u64,
    events: VecDeque<Arc<Logged>>,
    bytes: usize,
    spill: Spill,
    /// Events below this are gone (spilling was off or failed).
    dropped_below: u64,
}

impl Log {
    fn first_in_memory(&self) -> u64 {
        self.events.front().map_or(self.next_seq, |e| e.seq)
    }

    fn kept_since(&self, since: u64) -> Backlog {
        let since = since.max(self.dropped_below).max(1);
        let mem_first = self.first_in_memory();
        let spilled = self.spill.path.as_ref().and_then(|path| {
            let n = self.spill.offsets.len() as u64;
            if n == 0 || since >= self.spill.first + n {
                return None;
            }
            let from = since.max(self.spill.first);
            Some(SpilledRange {
                path: path.clone(),
                start: self.spill.offsets[(from - self.spill.first) as usize],
                end: self.spill.end,
                first: from,
                last: self.spill.first + n - 1,
            })
        });
        // Sequence numbers are contiguous in memory: skip straight to `since`.
        let skip = since.saturating_sub(mem_first) as usize;
        Backlog {
            spilled,
            memory: self.events.iter().skip(skip).cloned().collect(),
        }
    }
}

/// A cheap estimate of an event's size, dominated by its largest strings,
/// which are counted twice: once in the event, once in its serialized line
/// (made when a subscriber or the spill first needs it).
fn approx_bytes(event: &SessionEvent) -> usize {
    let payload = match event {
        SessionEvent::Audio { audio, .. } => audio.len(),
        // Published by the session as text (`publish_raw`), rarely as a tree.
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
    payload * 2 + 160
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
    live: broadcast::Sender<Arc<Logged>>,
    hub: EventHub,
    /// Where guardrail trips are journaled: every trip is published here,
    /// whichever task noticed it, so this is the one place that sees them all.
    journal: OnceLock<crate::store::Journal>,
    /// Responses started (`agent_start`) and not yet ended (`agent_end`).
    responses_open: AtomicI64,
    /// When the last event was published, ms since the epoch.
    last_event_ms: AtomicU64,
}

impl EventBus {
    /// A new, empty stream; the first event gets sequence number 1. Its
    /// kept events count against `hub`'s budget and go to its stream.
    pub fn new(session: Arc<str>, hub: &EventHub) -> Arc<EventBus> {
        // Small: a subscriber that lags re-reads from the log instead.
        let (live, _) = broadcast::channel(256);
        let bus = Arc::new(EventBus {
            log: Mutex::new(Log {
                next_seq: 1,
                events: VecDeque::new(),
                bytes: 0,
                spill: Spill {
                    path: hub.spill_path(&session),
                    first: 1,
                    offsets: Vec::new(),
                    end: 0,
                },
                dropped_below: 1,
            }),
            session,
            live,
            hub: hub.clone(),
            journal: OnceLock::new(),
            responses_open: AtomicI64::new(0),
            last_event_ms: AtomicU64::new(0),
        });
        hub.register(&bus);
        bus
    }

    /// The session's id.
    pub fn session(&self) -> &Arc<str> {
        &self.session
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
        let size = approx_bytes(&event);
        self.append(Body::Event(event), size)
    }

    /// Append a model event as it came (a `raw_model_event`); returns its
    /// sequence number.
    pub fn publish_raw(&self, raw: RawEvent) -> u64 {
        // The text and its line hold it twice.
        let size = raw.json().len() * 2 + 160;
        self.append(Body::Raw(raw), size)
    }

    fn append(&self, body: Body, size: usize) -> u64 {
        let time_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.last_event_ms.store(time_ms, Ordering::Relaxed);
        // The lock covers numbering and logging only, so order in the log is
        // order of sequence numbers; sending happens under it too so live
        // subscribers see the same order.
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let seq = log.next_seq;
        log.next_seq += 1;
        let logged = Arc::new(Logged {
            seq,
            session: self.session.clone(),
            time_ms,
            body,
            size,
            line: OnceLock::new(),
            pcm: OnceLock::new(),
        });
        log.bytes += size;
        log.events.push_back(logged.clone());
        // A little over, so a sweep moves a batch rather than one event each time.
        let too_many = log.events.len() > KEPT_EVENTS + KEPT_EVENTS / 16
            || log.bytes > SESSION_MEMORY + SESSION_MEMORY / 8;
        // No receivers is fine: nobody is watching.
        let _ = self.live.send(logged.clone());
        self.hub.publish(logged);
        drop(log);
        // Moving events to disk is the hub's sweeper's work, never the session's.
        self.hub.used(size as isize, too_many);
        seq
    }

    /// Events with `seq >= since` still kept, and a receiver for what comes next.
    pub fn subscribe(&self, since: u64) -> (Backlog, broadcast::Receiver<Arc<Logged>>) {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.live.subscribe();
        (log.kept_since(since), rx)
    }

    /// Events with `seq >= since` still kept.
    pub fn since(&self, since: u64) -> Backlog {
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

    /// Bytes of events held in memory.
    pub fn memory_bytes(&self) -> usize {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).bytes
    }

    /// Move the oldest in-memory events out until at most `keep_bytes` (and
    /// [`KEPT_EVENTS`], [`SESSION_MEMORY`]) stay, the newest always: to the spill file when there
    /// is one, else they are dropped (subscribers get `events_lost`). Returns
    /// the bytes freed. Runs on the hub's sweeper thread; the file is written
    /// without holding the log's lock, and events leave memory only once
    /// their lines are on disk, so a reader never sees a hole.
    pub(super) fn evict(&self, keep_bytes: usize) -> usize {
        let (batch, path, mut end) = {
            let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            let len = log.events.len();
            let mut over = log.bytes.saturating_sub(keep_bytes.min(SESSION_MEMORY));
            let forced = len.saturating_sub(KEPT_EVENTS);
            let mut n = 0;
            for e in &log.events {
                if n + 1 >= len || (n >= forced && over == 0) {
                    break;
                }
                over = over.saturating_sub(e.size);
                n += 1;
            }
            if n == 0 {
                return 0;
            }
            let batch: Vec<Arc<Logged>> = log.events.iter().take(n).cloned().collect();
            (batch, log.spill.path.clone(), log.spill.end)
        };
        let mut offsets = Vec::with_capacity(batch.len());
        let written = path.as_ref().and_then(|p| {
            let mut buf = Vec::new();
            for e in &batch {
                offsets.push(end + buf.len() as u64);
                if let Some(line) = e.line() {
                    buf.extend_from_slice(line);
                }
            }
            let result = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .and_then(|mut f| f.write_all(&buf));
            match result {
                Ok(()) => {
                    end += buf.len() as u64;
                    Some(())
                }
                Err(e) => {
                    tracing::error!(session = %self.session, path = %p.display(), error = %e,
                        "cannot spill events to disk; the oldest are dropped (subscribers get events_lost)");
                    None
                }
            }
        });
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let mut freed = 0;
        for _ in &batch {
            if let Some(e) = log.events.pop_front() {
                freed += e.size;
            }
        }
        log.bytes -= freed;
        if written.is_some() {
            log.spill.offsets.extend(offsets);
            log.spill.end = end;
        } else {
            // Nothing older than what is left can be served any more.
            let first = log.first_in_memory();
            log.dropped_below = first;
            if let Some(p) = log.spill.path.take() {
                let _ = std::fs::remove_file(p);
            }
        }
        freed
    }
}

impl Drop for EventBus {
    fn drop(&mut self) {
        let log = self.log.get_mut().unwrap_or_else(|p| p.into_inner());
        self.hub.used(-(log.bytes as isize), false);
        if let Some(p) = &log.spill.path
            && !log.spill.offsets.is_empty()
        {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The event as a line, or an `error` event in its place if it cannot be serialized.
pub fn event_line(env: &Envelope) -> Option<Bytes> {
    line_of(env.seq, &env.session, env.time_ms, &env.event)
}

/// [`Envelope`]'s wire form, borrowed: the same fields in the same order,
/// so a line is made without copying the event.
#[derive(Serialize)]
struct EnvelopeRef<'a> {
    seq: u64,
    session: &'a str,
    time_ms: u64,
    #[serde(flatten)]
    event: &'a SessionEvent,
}

fn line_of(seq: u64, session: &Arc<str>, time_ms: u64, event: &SessionEvent) -> Option<Bytes> {
    let env = EnvelopeRef {
        seq,
        session,
        time_ms,
        event,
    };
    line_or(&env, |e| {
        tracing::error!(
            session = %session,
            seq,
            event = event.kind(),
            error = %e,
            "cannot serialize a session event; sending an error event in its place"
        );
        Some(stand_in(session.clone(), seq, time_ms, event.kind(), e))
    })
}

/// What is sent instead of event `seq` when it cannot be serialized.
pub fn stand_in(
    session: Arc<str>,
    seq: u64,
    time_ms: u64,
    kind: &str,
    e: &serde_json::Error,
) -> Envelope {
    Envelope {
        seq,
        session,
        time_ms,
        event: SessionEvent::Error {
            code: Some(UNSERIALIZABLE.to_string()),
            message: format!("event {seq} ({kind}) could not be serialized: {e}"),
        },
    }
}

/// `item` as one newline-terminated JSON line; when it cannot be
/// serialized, the line of what `instead` gives (nothing if it gives none).
pub fn line_or<T: Serialize>(
    item: &T,
    instead: impl FnOnce(&serde_json::Error) -> Option<Envelope>,
) -> Option<Bytes> {
    match encode(item) {
        Ok(line) => Some(line),
        // The stand-in holds only strings and numbers, so it serializes.
        Err(e) => instead(&e).and_then(|env| encode(&env).ok()),
    }
}

fn encode<T: Serialize>(item: &T) -> Result<Bytes, serde_json::Error> {
    let mut bytes = Vec::with_capacity(256);
    serde_json::to_writer(&mut bytes, item)?;
    bytes.push(b'\n');
    Ok(Bytes::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(b: &Backlog) -> Vec<u64> {
        let mut out = Vec::new();
        if let Some(s) = &b.spilled {
            let text = s.read().unwrap();
            for line in text.split(|c| *c == b'\n').filter(|l| !l.is_empty()) {
                let v: Value = serde_json::from_slice(line).unwrap();
                out.push(v["seq"].as_u64().unwrap());
            }
            assert_eq!(out.first(), Some(&s.first));
            assert_eq!(out.last(), Some(&s.last));
        }
        out.extend(b.memory.iter().map(|e| e.seq));
        out
    }

    #[test]
    fn subscribers_resume_from_any_kept_sequence_number() {
        let hub = EventHub::default();
        let bus = EventBus::new(Arc::from("s"), &hub);
        for i in 0..5 {
            bus.publish(SessionEvent::AgentStart {
                agent: format!("a{i}"),
            });
        }
        let (backlog, mut rx) = bus.subscribe(3);
        assert_eq!(seqs(&backlog), [3, 4, 5]);
        bus.publish(SessionEvent::InputAudioTimeoutTriggered);
        assert_eq!(rx.try_recv().unwrap().seq, 6);
        assert_eq!(bus.last_seq(), 6);
    }

    fn audio(chunk: &str) -> SessionEvent {
        SessionEvent::Audio {
            item_id: "m".into(),
            content_index: 0,
            response_id: "r".into(),
            audio: chunk.to_string(),
        }
    }

    #[test]
    fn without_a_spill_folder_the_oldest_are_dropped_within_the_budget() {
        let hub = EventHub::new(4 << 20, None);
        let bus = EventBus::new(Arc::from("s"), &hub);
        let chunk = "A".repeat(64 << 10);
        for _ in 0..1_000 {
            bus.publish(audio(&chunk));
        }
        hub.sweep_now();
        assert!(bus.memory_bytes() <= 4 << 20, "{}", bus.memory_bytes());
        let kept = bus.since(0);
        assert!(kept.spilled.is_none());
        let s = seqs(&kept);
        assert!(s.len() > 15, "keeps as much as fits: {}", s.len());
        // The newest events are the ones kept, and numbering is unaffected.
        assert_eq!(s.last(), Some(&1_000));
        assert_eq!(bus.last_seq(), 1_000);
        assert!(hub.used_bytes() <= 4 << 20);
    }

    #[test]
    fn spilled_events_are_still_served_from_any_since() {
        let dir = tempfile::tempdir().unwrap();
        let hub = EventHub::new(1 << 20, Some(dir.path().to_path_buf()));
        let bus = EventBus::new(Arc::from("s1"), &hub);
        let chunk = "B".repeat(16 << 10);
        for _ in 0..500 {
            bus.publish(audio(&chunk));
        }
        hub.sweep_now();
        assert!(hub.used_bytes() <= 1 << 20, "{}", hub.used_bytes());
        // Every event is still there, in order, part of them from the file.
        let all = bus.since(0);
        assert!(all.spilled.is_some());
        assert_eq!(seqs(&all), (1..=500).collect::<Vec<_>>());
        let from = bus.since(123);
        assert_eq!(seqs(&from), (123..=500).collect::<Vec<_>>());
        // Read back in chunks smaller than a line, or of several: whole
        // lines each time, the same bytes in all.
        let range = all.spilled.clone().unwrap();
        for max in [1, 50_000, 1 << 20] {
            let (mut at, mut joined) = (range.start, Vec::new());
            while at < range.end {
                let chunk = range.read_at(at, max).unwrap();
                assert!(chunk.ends_with(b"\n"));
                at += chunk.len() as u64;
                joined.extend(chunk);
            }
            assert_eq!(joined, range.read().unwrap(), "{max}");
        }
        // Dropping the bus removes its file and gives its budget back.
        let path = all.spilled.unwrap().path;
        assert!(path.exists());
        drop((bus, from));
        drop(all.memory);
        assert!(!path.exists());
        assert_eq!(hub.used_bytes(), 0);
    }

    #[test]
    fn the_budget_is_shared_by_all_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let hub = EventHub::new(2 << 20, Some(dir.path().to_path_buf()));
        let chunk = "C".repeat(8 << 10);
        let buses: Vec<_> = (0..8)
            .map(|i| EventBus::new(Arc::from(format!("s{i}").as_str()), &hub))
            .collect();
        for _ in 0..200 {
            for b in &buses {
                b.publish(audio(&chunk));
            }
        }
        hub.sweep_now();
        assert!(hub.used_bytes() <= 2 << 20, "{}", hub.used_bytes());
        for b in &buses {
            assert_eq!(seqs(&b.since(0)), (1..=200).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_raw_model_event_line_is_what_its_envelope_would_serialize_to() {
        let bus = EventBus::new(Arc::from("s\"1"), &EventHub::default());
        let text = "{\"type\":\"response.output_audio.delta\",\n \"delta\":\"QUJD\",\"n\":[1,2]}";
        let (raw, _) = crate::realtime::protocol::parse_server_event(text);
        bus.publish_raw(raw);
        bus.publish(SessionEvent::RawModelEvent {
            data: serde_json::from_str(text).unwrap(),
        });
        let kept = bus.since(0).memory;
        let ours: Value = serde_json::from_slice(kept[0].line().unwrap()).unwrap();
        let theirs: Value = serde_json::from_slice(kept[1].line().unwrap()).unwrap();
        assert_eq!(ours["seq"], 1);
        assert_eq!(ours["session"], "s\"1");
        assert_eq!(ours["data"], theirs["data"]);
        assert_eq!(ours["type"], "raw_model_event");
        assert_eq!(kept[0].kind(), "raw_model_event");
        // One line, newline-terminated.
        let line = kept[0].line().unwrap();
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        assert!(line.ends_with(b"\n"));
        let envelope: Envelope = serde_json::from_slice(line).unwrap();
        assert!(matches!(envelope.event, SessionEvent::RawModelEvent { .. }));
    }

    #[test]
    fn envelopes_serialize_flat_with_type() {
        let bus = EventBus::new(Arc::from("s1"), &EventHub::default());
        bus.publish(SessionEvent::Handoff {
            from: "a".into(),
            to: "b".into(),
        });
        let v: Value = serde_json::from_slice(bus.since(0).memory[0].line().unwrap()).unwrap();
        assert_eq!(v["type"], "handoff");
        assert_eq!(v["seq"], 1);
        assert_eq!(v["session"], "s1");
        assert_eq!(v["to"], "b");
    }
}
