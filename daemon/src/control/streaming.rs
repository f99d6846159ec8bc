//! Event streams: `GET /v1/sessions/{id}/events` as newline-delimited JSON.
//!
//! A stream sends the kept events from `since`, then (with `follow`) live
//! ones until the session ends. It never skips silently: a range it cannot
//! send (no longer kept, or lost while the subscriber lagged) is an
//! `events_lost` line naming it. Every line is one JSON value; an event that
//! cannot be serialized is logged and replaced, in its place, by an `error`
//! event with its sequence number — never an empty or partial line.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::Response;
use hyper::body::Frame;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use super::reply::Body;
use crate::session::{Envelope, SessionEvent, SessionHandle};
use agentd_api::events::{EventsLost, StreamItem};
use agentd_api::query::EventsQuery;

/// The `code` of the `error` event sent in place of one that could not be serialized.
const UNSERIALIZABLE: &str = "event_not_serializable";

/// Newline-delimited JSON events from `query.since`; with `query.follow`,
/// until the session ends.
pub fn events(h: SessionHandle, query: EventsQuery) -> Response<Body> {
    let (backlog, rx) = h.bus.subscribe(query.since);
    let mut last = query.since.saturating_sub(1);
    let mut closed = false;
    let mut chunks: Vec<Bytes> = Vec::with_capacity(backlog.len());
    for env in &backlog {
        chunks.extend(gap_line(&env.session, last, env.seq));
        last = env.seq;
        closed |= matches!(env.event, SessionEvent::SessionClosed { .. });
        chunks.extend(event_line(env));
    }
    let (tx, body_rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let bus = h.bus.clone();
    tokio::spawn(async move {
        for c in chunks {
            if tx.send(c).await.is_err() {
                return;
            }
        }
        if !query.follow || closed {
            return;
        }
        let mut rx = rx;
        loop {
            let batch = match rx.recv().await {
                Ok(env) => vec![env],
                // Fell behind the live stream: re-read the gap from the log.
                Err(RecvError::Lagged(_)) => bus.since(last + 1),
                Err(RecvError::Closed) => return,
            };
            for env in batch {
                if env.seq <= last {
                    continue;
                }
                if let Some(lost) = gap_line(&env.session, last, env.seq)
                    && tx.send(lost).await.is_err()
                {
                    return;
                }
                last = env.seq;
                let end = matches!(env.event, SessionEvent::SessionClosed { .. });
                if let Some(line) = event_line(&env)
                    && tx.send(line).await.is_err()
                {
                    return;
                }
                if end {
                    return;
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(body_rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    resp
}

/// The event as a line, or an `error` event in its place if it cannot be serialized.
fn event_line(env: &Envelope) -> Option<Bytes> {
    line_or(env, |e| {
        tracing::error!(
            session = %env.session,
            seq = env.seq,
            event = env.event.kind(),
            error = %e,
            "cannot serialize a session event; sending an error event in its place"
        );
        Some(stand_in(
            env.session.clone(),
            env.seq,
            env.time_ms,
            env.event.kind(),
            e,
        ))
    })
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

/// What is sent instead of event `seq` when it cannot be serialized.
fn stand_in(
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
fn line_or<T: Serialize>(
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
    let mut bytes = serde_json::to_vec(item)?;
    bytes.push(b'\n');
    Ok(Bytes::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

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
