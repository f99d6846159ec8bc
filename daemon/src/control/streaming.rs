//! Event streams as newline-delimited JSON: one session's
//! (`GET /v1/sessions/{id}/events`) and every session's
//! (`GET /v1/events?follow=1`, each event naming its session).
//!
//! A session's stream sends the kept events from `since` (those spilled to
//! disk read back off the reactor), then (with `follow`) live ones until the
//! session ends. The daemon-wide stream is live only, from the moment it is
//! asked for. Neither skips silently: a range it cannot send (no longer
//! kept) is an `events_lost` line naming the session and the range; one that
//! fell behind the live broadcast re-reads the session's log first. Every
//! line is one JSON value, serialized once per event for all subscribers; an
//! event that cannot be serialized is logged and replaced, in its place, by
//! an `error` event with its sequence number — never an empty or partial line.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::Response;
use hyper::body::Frame;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::reply::Body;
use crate::session::SessionHandle;
use crate::session::events::{Backlog, EventBus, Logged, line_or};
#[cfg(test)]
use crate::session::{Envelope, SessionEvent};
use crate::supervisor::Supervisor;
use agentd_api::events::{EventsLost, StreamItem};
use agentd_api::query::EventsQuery;

#[cfg(test)]
use crate::session::events::{UNSERIALIZABLE, event_line, stand_in};

/// Lines waiting for a slow reader, per stream; past this the stream task
/// waits and re-reads the log when it is back (the session never waits).
const STREAM_QUEUE: usize = 64;

/// Spilled events are read back this many bytes at a time.
const SPILL_CHUNK: usize = 1 << 20;

/// Small lines are sent to the socket together, up to about this many bytes.
const BATCH_BYTES: usize = 32 << 10;

/// Where a stream task puts its lines: consecutive small ones go out as one
/// body frame (one socket write) instead of one each.
struct Out {
    tx: mpsc::Sender<Bytes>,
    pending: Vec<u8>,
}

impl Out {
    async fn line(&mut self, line: &Bytes) -> Result<(), ()> {
        if self.pending.is_empty() && line.len() >= BATCH_BYTES {
            return self.tx.send(line.clone()).await.map_err(drop);
        }
        self.pending.extend_from_slice(line);
        if self.pending.len() >= BATCH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.pending));
        self.tx.send(chunk).await.map_err(drop)
    }

    /// Whether the task should flush before waiting for the next event.
    fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

/// Event-stream bodies still being sent. A stopping daemon waits (bounded)
/// for them, so a watcher gets the last lines — `session_closed` above all —
/// instead of a stream cut when the runtime goes.
static OPEN_STREAMS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Held by a stream body until its last line was handed to the connection.
struct OpenStream;

impl OpenStream {
    fn new() -> OpenStream {
        OPEN_STREAMS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        OpenStream
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        OPEN_STREAMS.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Wait until every event stream has sent its last line, at most `limit`
/// (a daemon-wide follower never ends by itself).
pub async fn wait_for_streams(limit: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while OPEN_STREAMS.load(std::sync::atomic::Ordering::Relaxed) > 0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn ndjson(body_rx: mpsc::Receiver<Bytes>) -> Response<Body> {
    let stream =
        futures_util::stream::unfold((body_rx, OpenStream::new()), |(mut rx, open)| async move {
            rx.recv()
                .await
                .map(|b| (Ok::<_, Infallible>(Frame::data(b)), (rx, open)))
        });
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    resp
}

/// Send `backlog` after `*last` (the last sequence number sent), with
/// `events_lost` for any hole, stopping before `before`. Returns whether
/// `session_closed` was among them.
async fn send_backlog(
    out: &mut Out,
    session: &str,
    backlog: Backlog,
    last: &mut u64,
    before: u64,
) -> Result<bool, ()> {
    if let Some(range) = backlog.spilled
        && range.last > *last
        && range.first < before
    {
        // File I/O, off the reactor, a chunk at a time.
        let mut seq = range.first;
        let mut at = range.start;
        while at < range.end && seq < before {
            let r = range.clone();
            let chunk = match tokio::task::spawn_blocking(move || r.read_at(at, SPILL_CHUNK)).await
            {
                Ok(Ok(bytes)) if !bytes.is_empty() => bytes,
                Ok(Ok(_)) => break,
                Ok(Err(e)) => {
                    tracing::warn!(session, path = %range.path.display(), error = %e, "cannot read spilled events");
                    break;
                }
                Err(e) => {
                    tracing::warn!(session, error = %e, "spilled-event reader failed");
                    break;
                }
            };
            at += chunk.len() as u64;
            let chunk = Bytes::from(chunk);
            // The lines are those of range.first, range.first + 1, …
            let mut pos = 0;
            while pos < chunk.len() && seq < before {
                let end = chunk[pos..]
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(chunk.len(), |i| pos + i + 1);
                if seq > *last {
                    if let Some(lost) = gap_line(session, *last, seq) {
                        out.line(&lost).await?;
                    }
                    out.line(&chunk.slice(pos..end)).await?;
                    *last = seq;
                }
                seq += 1;
                pos = end;
            }
        }
    }
    let mut closed = false;
    for logged in backlog.memory {
        let seq = logged.seq;
        if seq <= *last {
            continue;
        }
        if seq >= before {
            break;
        }
        if let Some(lost) = gap_line(session, *last, seq) {
            out.line(&lost).await?;
        }
        *last = seq;
        closed |= logged.is_closed();
        if let Some(line) = logged.line() {
            out.line(line).await?;
        }
    }
    Ok(closed)
}

/// Newline-delimited JSON events from `query.since`; with `query.follow`,
/// until the session ends.
pub fn events(h: SessionHandle, query: EventsQuery) -> Response<Body> {
    let (backlog, rx) = h.bus.subscribe(query.since);
    let (tx, body_rx) = mpsc::channel::<Bytes>(STREAM_QUEUE);
    let bus = h.bus.clone();
    tokio::spawn(async move {
        let mut out = Out {
            tx,
            pending: Vec::new(),
        };
        let _ = follow_session(&mut out, &bus, backlog, rx, query).await;
        let _ = out.flush().await;
    });
    ndjson(body_rx)
}

async fn follow_session(
    out: &mut Out,
    bus: &EventBus,
    backlog: Backlog,
    mut rx: tokio::sync::broadcast::Receiver<Arc<Logged>>,
    query: EventsQuery,
) -> Result<(), ()> {
    let session = bus.session().clone();
    let mut last = query.since.saturating_sub(1);
    let closed = send_backlog(out, &session, backlog, &mut last, u64::MAX).await?;
    if !query.follow || closed {
        return Ok(());
    }
    loop {
        // Nothing more is ready: what is batched goes out before waiting.
        let next = match rx.try_recv() {
            Err(tokio::sync::broadcast::error::TryRecvError::Empty) => {
                out.flush().await?;
                rx.recv().await
            }
            Ok(v) => Ok(v),
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                Err(RecvError::Lagged(n))
            }
            Err(tokio::sync::broadcast::error::TryRecvError::Closed) => Err(RecvError::Closed),
        };
        match next {
            Ok(logged) => {
                let seq = logged.seq;
                if seq <= last {
                    continue;
                }
                if seq > last + 1 {
                    // A hole before this one: fill it from the log.
                    send_backlog(out, &session, bus.since(last + 1), &mut last, seq).await?;
                }
                if let Some(lost) = gap_line(&session, last, seq) {
                    out.line(&lost).await?;
                }
                last = seq;
                if let Some(line) = logged.line() {
                    out.line(line).await?;
                }
                if logged.is_closed() {
                    return Ok(());
                }
            }
            // Fell behind the live stream: re-read the gap from the log.
            Err(RecvError::Lagged(_)) => {
                if send_backlog(out, &session, bus.since(last + 1), &mut last, u64::MAX).await? {
                    return Ok(());
                }
            }
            Err(RecvError::Closed) => return Ok(()),
        }
    }
}

/// `GET /v1/events?follow=1`: every session's events from now on.
pub fn all_events(daemon: Arc<Supervisor>) -> Response<Body> {
    let rx = daemon.events().subscribe();
    let (tx, body_rx) = mpsc::channel::<Bytes>(STREAM_QUEUE);
    tokio::spawn(async move {
        let mut out = Out {
            tx,
            pending: Vec::new(),
        };
        let _ = follow_all(&mut out, &daemon, rx).await;
        let _ = out.flush().await;
    });
    ndjson(body_rx)
}

async fn follow_all(
    out: &mut Out,
    daemon: &Supervisor,
    mut rx: tokio::sync::broadcast::Receiver<Arc<Logged>>,
) -> Result<(), ()> {
    // Where each session's stream stands. Sessions live before the stream
    // was asked for start where they were then; new ones from their first.
    // Subscribed first, so nothing falls between the two.
    let mut last: HashMap<Arc<str>, u64> = HashMap::new();
    let mut buses: HashMap<Arc<str>, Arc<EventBus>> = HashMap::new();
    for h in daemon.sessions().await {
        last.insert(h.id.clone(), h.bus.last_seq());
        buses.insert(h.id.clone(), h.bus.clone());
    }
    loop {
        let next = match rx.try_recv() {
            Err(tokio::sync::broadcast::error::TryRecvError::Empty) => {
                if out.has_pending() {
                    out.flush().await?;
                }
                rx.recv().await
            }
            Ok(v) => Ok(v),
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                Err(RecvError::Lagged(n))
            }
            Err(tokio::sync::broadcast::error::TryRecvError::Closed) => Err(RecvError::Closed),
        };
        match next {
            Ok(logged) => {
                let session = logged.session.clone();
                let seq = logged.seq;
                let at = last.entry(session.clone()).or_insert(0);
                if seq <= *at {
                    continue;
                }
                if seq > *at + 1 {
                    let bus = match buses.get(&session) {
                        Some(b) => Some(b.clone()),
                        None => daemon.session(&session).await.map(|h| h.bus.clone()),
                    };
                    if let Some(bus) = bus {
                        send_backlog(out, &session, bus.since(*at + 1), at, seq).await?;
                    }
                }
                if let Some(lost) = gap_line(&session, *at, seq) {
                    out.line(&lost).await?;
                }
                *at = seq;
                if let Some(line) = logged.line() {
                    out.line(line).await?;
                }
                // Its `last` stays: a later re-read must not send it again.
                if logged.is_closed() {
                    buses.remove(&session);
                }
            }
            // Fell behind: every live session's log has what was missed.
            Err(RecvError::Lagged(_)) => {
                for h in daemon.sessions().await {
                    let at = last.entry(h.id.clone()).or_insert(0);
                    let closed =
                        send_backlog(out, &h.id, h.bus.since(*at + 1), at, u64::MAX).await?;
                    if closed {
                        buses.remove(&h.id);
                    } else {
                        buses.insert(h.id.clone(), h.bus.clone());
                    }
                }
            }
            Err(RecvError::Closed) => return Ok(()),
        }
    }
}

/// A line saying events `last+1 .. next-1` are gone (the session keeps a
/// bounded log): a subscriber that fell too far behind learns it lost
/// something instead of silently missing it.
fn gap_line(session: &str, last: u64, next: u64) -> Option<Bytes> {
    let lost = StreamItem::Lost(EventsLost::between(session, last, next)?);
    crate::metrics::metrics()
        .events_lost
        .inc_by(next.saturating_sub(last + 1));
    line_or(&lost, |e| {
        // A string and two numbers; if that ever fails there is no sequence
        // number to put an error event at, so the line is left out.
        tracing::error!(session, error = %e, "cannot serialize an events_lost line; left out");
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    struct Unserializable;

    impl Serialize for Unserializable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("key must be a string"))
        }
    }

    fn parse(line: &[u8]) -> StreamItem {
        assert!(line.ends_with(b"\n"));
        serde_json::from_slice(line).unwrap()
    }

    #[test]
    fn a_gap_in_sequence_numbers_is_reported_not_skipped() {
        assert!(gap_line("s", 4, 5).is_none());
        assert!(gap_line("s", 0, 1).is_none());
        let line = gap_line("s", 4, 10).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "events_lost", "session": "s", "first": 5, "last": 9})
        );
        assert_eq!(
            parse(&line),
            StreamItem::Lost(EventsLost {
                session: "s".into(),
                first: 5,
                last: 9
            })
        );
    }

    #[test]
    fn an_event_line_is_its_envelope() {
        let env = Envelope {
            seq: 3,
            session: Arc::from("s1"),
            time_ms: 7,
            event: SessionEvent::AgentStart {
                agent: "concierge".into(),
            },
        };
        let line = event_line(&env).unwrap();
        assert_eq!(parse(&line), StreamItem::Event(env));
    }

    #[test]
    fn an_unserializable_event_becomes_an_error_line_in_its_place() {
        let line = line_or(&Unserializable, |e| {
            Some(stand_in(Arc::from("s1"), 12, 99, "raw_model_event", e))
        })
        .unwrap();
        let StreamItem::Event(env) = parse(&line) else {
            panic!("not an event: {line:?}");
        };
        assert_eq!((env.seq, &*env.session, env.time_ms), (12, "s1", 99));
        let SessionEvent::Error { code, message } = env.event else {
            panic!("not an error event: {:?}", env.event);
        };
        assert_eq!(code.as_deref(), Some(UNSERIALIZABLE));
        assert_eq!(
            message,
            "event 12 (raw_model_event) could not be serialized: key must be a string"
        );
        // Without a stand-in the line is left out, never sent empty.
        assert_eq!(line_or(&Unserializable, |_| None), None);
    }
}
