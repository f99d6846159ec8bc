//! `GET /v1/sessions/{id}/audio` with `Upgrade: websocket`: talk to a
//! session (the offline model, or any model agentd carries the audio for)
//! through agentd, on the Unix socket and the HTTP listener alike.
//!
//! Client → daemon: binary frames are PCM16 little-endian mono 24 kHz,
//! appended to the session's input buffer through the same session command
//! as `POST …/audio`; text `{"type":"commit"}` ends the user's turn;
//! `{"type":"playback","item_id":…,"played_ms":N}` is the playback report
//! of `POST …/playback` (so a barge-in truncates exactly there).
//!
//! Daemon → client: binary frames are the assistant's audio, each the bytes
//! of one `audio` event decoded once for every relay ([`Logged::pcm`]);
//! text `{"type":"audio_start","item_id":…}` before an item's first audio,
//! `{"type":"audio_stop"}` when its playback is cut (barge-in, interrupt),
//! `{"type":"error","message":…}` for a frame the daemon cannot read (the
//! connection stays open).
//!
//! A slow client never slows the session: events reach the relay through
//! the bus's broadcast, and frames go out through a bounded queue. When the
//! queue is full (or the broadcast ran past the relay) the relay closes the
//! socket with code 1008 and the reason, instead of dropping frames: audio
//! with holes would make the client's playback position — and so the
//! truncation on barge-in — wrong without anyone knowing.

use std::sync::Arc;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::errors::ApiError;
use super::reply::{self, Body};
use crate::session::SessionHandle;
use crate::session::events::{Logged, SessionEvent};

/// Frames waiting for a slow client, about 3 s of audio in the offline
/// model's 50 ms chunks.
const OUT_QUEUE: usize = 64;

/// A text frame the client may send.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientFrame {
    Commit,
    Playback { item_id: String, played_ms: u64 },
}

/// Answer the upgrade and relay in a task of its own.
pub fn upgrade(
    session: SessionHandle,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok());
    let is_ws = header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let Some(key) = header("sec-websocket-key").filter(|_| is_ws) else {
        return Err(ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
            "this route is a WebSocket: ask with `Upgrade: websocket` and a `Sec-WebSocket-Key`",
        ));
    };
    if session.call.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "call_session",
            format!(
                "session `{}` drives a call: its audio travels on the call's media path, not through agentd",
                session.id
            ),
        ));
    }
    let key = key.to_string();
    let on_upgrade = hyper::upgrade::on(&mut req);
    // Subscribed before answering: no audio after the 101 is missed.
    let (_, events) = session.bus.subscribe(u64::MAX);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws = crate::http::upgrade::server_stream(upgraded).await;
                relay(session, ws, events).await;
            }
            Err(e) => tracing::debug!(error = %e, "audio relay: upgrade failed"),
        }
    });
    let mut resp = reply::bytes(StatusCode::SWITCHING_PROTOCOLS, "text/plain", Vec::new());
    crate::http::upgrade::accept_headers(resp.headers_mut(), &key);
    // `bytes` sets a content type a 101 must not carry.
    resp.headers_mut().remove("content-type");
    Ok(resp)
}

fn text(v: serde_json::Value) -> Message {
    Message::text(v.to_string())
}

fn error_frame(message: impl Into<String>) -> Message {
    text(json!({"type": "error", "message": message.into()}))
}

/// What one event becomes for the client, in order.
fn frames(ev: &Logged, current: &mut Option<String>) -> Vec<Message> {
    match ev.event() {
        Some(SessionEvent::Audio { item_id, .. }) => {
            let mut out = Vec::new();
            if current.as_deref() != Some(item_id) {
                *current = Some(item_id.clone());
                out.push(text(json!({"type": "audio_start", "item_id": item_id})));
            }
            if let Some(pcm) = ev.pcm() {
                out.push(Message::Binary(pcm.clone()));
            }
            out
        }
        Some(SessionEvent::AudioInterrupted { .. }) => {
            *current = None;
            vec![text(json!({"type": "audio_stop"}))]
        }
        _ => vec![],
    }
}

/// Read a client frame and act on it; `Err` is the error frame's message.
async fn on_client(session: &SessionHandle, msg: Message) -> Result<(), String> {
    match msg {
        Message::Binary(pcm) => {
            if pcm.len() % 2 != 0 {
                return Err(format!(
                    "a binary frame is PCM16 (2 bytes a sample): {} bytes is not whole samples",
                    pcm.len()
                ));
            }
            let audio = base64::engine::general_purpose::STANDARD.encode(&pcm);
            session
                .send_audio(audio, false)
                .await
                .map_err(|e| e.to_string())
        }
        Message::Text(t) => match serde_json::from_str::<ClientFrame>(t.as_str()) {
            Ok(ClientFrame::Commit) => session
                .send_audio(String::new(), true)
                .await
                .map_err(|e| e.to_string()),
            Ok(ClientFrame::Playback { item_id, played_ms }) => session
                .playback(item_id, played_ms)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(format!(
                "cannot read the text frame ({e}); expected {{\"type\":\"commit\"}} or {{\"type\":\"playback\",\"item_id\":…,\"played_ms\":N}}"
            )),
        },
        _ => Ok(()),
    }
}

async fn relay<S>(
    session: SessionHandle,
    ws: tokio_tungstenite::WebSocketStream<S>,
    mut events: broadcast::Receiver<Arc<Logged>>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let id = session.id.to_string();
    tracing::info!(session = %id, "audio relay opened");
    let (mut sink, mut stream) = ws.split();
    let (out, mut queue) = mpsc::channel::<Message>(OUT_QUEUE);
    // The writer alone waits on the client; everything else only queues.
    let writer = tokio::spawn(async move {
        while let Some(m) = queue.recv().await {
            let closing = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || closing {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let close = |reason: &str| {
        Message::Close(Some(CloseFrame {
            code: CloseCode::Policy,
            reason: reason.to_string().into(),
        }))
    };
    let mut current = None;
    let why: String = loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(Message::Close(_))) | None => break "client closed".into(),
                Some(Err(e)) => break format!("client error: {e}"),
                Some(Ok(m)) => {
                    if let Err(message) = on_client(&session, m).await {
                        tracing::debug!(session = %id, %message, "audio relay: frame refused");
                        if out.try_send(error_frame(message)).is_err() {
                            let _ = out.try_send(close("too slow: outgoing queue full"));
                            break "client too slow".into();
                        }
                    }
                }
            },
            ev = events.recv() => match ev {
                Ok(ev) => {
                    if ev.is_closed() {
                        let _ = out.send(Message::Close(Some(CloseFrame {
                            code: CloseCode::Normal,
                            reason: "session closed".into(),
                        }))).await;
                        break "session closed".into();
                    }
                    let mut full = false;
                    for f in frames(&ev, &mut current) {
                        if out.try_send(f).is_err() {
                            full = true;
                            break;
                        }
                    }
                    if full {
                        // Closing, not dropping: see the module note.
                        tracing::warn!(session = %id, "audio relay: client too slow, closing");
                        let _ = out.try_send(close("too slow: outgoing audio queue full"));
                        break "client too slow".into();
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(session = %id, missed = n, "audio relay: fell behind the session, closing");
                    let _ = out.try_send(close("too slow: missed session events"));
                    break "fell behind".into();
                }
                Err(broadcast::error::RecvError::Closed) => break "session ended".into(),
            },
        }
    };
    drop(out);
    let _ = writer.await;
    tracing::info!(session = %id, reason = %why, "audio relay closed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_parse_or_say_why_not() {
        let cases = [
            (r#"{"type":"commit"}"#, Some(ClientFrame::Commit)),
            (
                r#"{"type":"playback","item_id":"m1","played_ms":120}"#,
                Some(ClientFrame::Playback {
                    item_id: "m1".into(),
                    played_ms: 120,
                }),
            ),
            (r#"{"type":"playback","item_id":"m1"}"#, None),
            (r#"{"type":"dance"}"#, None),
            ("not json", None),
        ];
        for (text, want) in cases {
            assert_eq!(
                serde_json::from_str::<ClientFrame>(text).ok(),
                want,
                "{text}"
            );
        }
    }
}
