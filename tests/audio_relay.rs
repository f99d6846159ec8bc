//! The WebSocket audio relay (`GET /v1/sessions/{id}/audio`) with the real
//! daemon on the offline model: scripted transcripts, server VAD, a tool
//! call, audio back, barge-in truncated at the reported playback position;
//! and the refusals (viewer, cross-origin), and a garbage frame answered.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::{TestDaemon, plugin};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const OPS: &str = "ops-secret-0123456789abcdef";
const WALL: &str = "wall-secret-0123456789abcdef";

fn token_file(dir: &std::path::Path, name: &str, secret: &str) -> String {
    let p = dir.join(format!("{name}.token"));
    std::fs::write(&p, format!("{secret}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p.display().to_string()
}

/// PCM16 24 kHz: `ms` of a 300 Hz tone (speech-like energy) or of silence.
fn pcm(ms: usize, loud: bool) -> Vec<u8> {
    (0..ms * 24)
        .flat_map(|n| {
            let t = n as f64 / 24_000.0;
            let s = if loud {
                ((t * 300.0 * std::f64::consts::TAU).sin() * 6_000.0) as i16
            } else {
                0
            };
            s.to_le_bytes()
        })
        .collect()
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn open(addr: &str, session: &str, token: &str, origin: Option<&str>) -> Result<Ws, u16> {
    let mut req = format!("ws://{addr}/v1/sessions/{session}/audio")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().unwrap());
    }
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    match tokio_tungstenite::client_async(req, tcp).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("handshake: {e}"),
    }
}

/// Frames until `pred` holds for a text frame; binary frames are counted.
async fn until(ws: &mut Ws, what: &str, pred: impl Fn(&Value) -> bool) -> (Value, usize) {
    let mut binary = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {what} within 20 s"))
            .unwrap_or_else(|| panic!("socket closed before {what}"))
            .unwrap();
        match msg {
            Message::Binary(b) => {
                assert_eq!(b.len() % 2, 0, "whole PCM16 samples");
                binary += b.len();
            }
            Message::Text(t) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if pred(&v) {
                    return (v, binary);
                }
            }
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn talking_through_the_relay_calls_a_tool_and_barge_in_truncates_where_heard() {
    let tokens = tempfile::tempdir().unwrap();
    let ops = token_file(tokens.path(), "ops", OPS);
    let wall = token_file(tokens.path(), "wall", WALL);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let body = format!(
        r#"[daemon.http]
listen = "{addr}"
tokens = [{{ name = "ops", file = "{ops}", role = "operator" }}, {{ name = "wall", file = "{wall}", role = "viewer" }}]

[models.default]
transcripts = ["call calc.multiply {{\"a\":6,\"b\":7}}", "stop please"]

[plugins.calc]
path = "{calc}"

[agents.concierge]
instructions = "x"
tools = ["calc.*"]
turn_detection = {{ type = "server_vad", silence_duration_ms = 300 }}
"#,
        calc = plugin("calc").display()
    );
    let d = TestDaemon::start(&body).await;
    let session = d.start_session("concierge").await;
    let mut events = d.watch(&session);

    // Refusals come before the upgrade.
    assert_eq!(open(&addr, &session, WALL, None).await.err(), Some(403));
    assert_eq!(
        open(&addr, &session, OPS, Some("https://evil.example"))
            .await
            .err(),
        Some(403)
    );

    let mut ws = open(&addr, &session, OPS, Some(&format!("http://{addr}")))
        .await
        .unwrap();
    // A frame the daemon cannot read: an error frame naming it, and the relay goes on.
    ws.send(Message::text("{\"type\":\"dance\"}"))
        .await
        .unwrap();
    let (err, _) = until(&mut ws, "error frame", |v| v["type"] == "error").await;
    assert!(err["message"].as_str().unwrap().contains("dance"), "{err}");
    ws.send(Message::Binary(vec![1u8, 2, 3].into()))
        .await
        .unwrap();
    let (err, _) = until(&mut ws, "odd-length error", |v| v["type"] == "error").await;
    assert!(
        err["message"].as_str().unwrap().contains("3 bytes"),
        "{err}"
    );

    // Speech, then silence: server VAD commits, the scripted line is the user's words.
    for chunk in [pcm(400, true), pcm(400, false)] {
        ws.send(Message::Binary(chunk.into())).await.unwrap();
    }
    let user = events
        .until("the scripted transcript", |e| {
            e["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("history_"))
                && e["item"]["role"] == "user"
                && e["item"]["content"][0]["transcript"].is_string()
        })
        .await;
    assert_eq!(
        user["item"]["content"][0]["transcript"], r#"call calc.multiply {"a":6,"b":7}"#,
        "{user}"
    );
    let end = events.until_type("tool_end", &[]).await;
    assert_eq!(end["output"], "42", "{end}");
    // The reply's audio comes back: audio_start, then PCM.
    let (start, _) = until(&mut ws, "audio_start", |v| v["type"] == "audio_start").await;
    let item = start["item_id"].as_str().unwrap().to_string();
    events.until_type("audio_end", &[("item_id", &item)]).await;
    // The listener has heard 120 ms of the reply ("The result…") when the user barges in.
    ws.send(Message::text(
        json!({"type": "playback", "item_id": item, "played_ms": 120}).to_string(),
    ))
    .await
    .unwrap();
    for chunk in [pcm(300, true), pcm(400, false)] {
        ws.send(Message::Binary(chunk.into())).await.unwrap();
    }
    until(&mut ws, "audio_stop", |v| v["type"] == "audio_stop").await;
    events
        .until_type("audio_interrupted", &[("item_id", &item)])
        .await;
    // The truncation reached the model at 120 ms: two words of 50 ms were heard.
    let cut = events
        .until("the truncated item", |e| {
            e["type"] == "history_updated"
                && e["item"]["id"] == item.as_str()
                && e["item"]["content"][0]["transcript"] == "The result"
        })
        .await;
    assert_eq!(cut["item"]["content"][0]["transcript"], "The result");
    ws.close(None).await.ok();
    // The daemon kept running through all of it.
    let status = d.client().get::<Value>("/v1/status").await;
    assert!(status.is_ok(), "{status:?}");
}
