//! The built-in offline model: a loopback WebSocket server speaking the
//! Realtime protocol, so the quick start and the tests use the real client.
//!
//! It is deterministic. What it does with the last thing in the conversation:
//! - user text `call <tool> <json-arguments>` → one function call to `<tool>`
//!   (a tool named `plugin.tool` is matched to the declared `plugin_tool`);
//! - function call outputs → `The result of <tool> is <output>.`;
//! - any other user text → `You said: <text>`;
//! - committed input audio → transcribed as `(<n> ms of audio)` and answered.
//!
//! On the same port it serves the provider's call routes and sidebands
//! (`sim_calls`): a sideband (`?call_id=`) starts with the accepted call's
//! settings, plays the simulated caller's words as input transcripts
//! (`dtmf 12#` presses keys), and closes when the call is hung up or referred.
//!
//! Replies stream word by word: a transcript delta and 50 ms of a 440 Hz PCM16
//! tone per word when the session's output modality is audio, text deltas when
//! it is text. `response.cancel` stops a reply mid-stream.

use std::collections::VecDeque;
use std::net::SocketAddr;

use base64::Engine as _;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::sim_calls::{Sideband, SimCalls};

/// A running offline model.
pub struct SimServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl SimServer {
    /// Bind to a free loopback port and serve until dropped.
    pub async fn start() -> std::io::Result<SimServer> {
        Self::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Serve on `addr` until dropped (`agentd sim --listen ADDR`: the offline
    /// model in a process of its own, so its work is not the daemon's).
    pub async fn bind(addr: SocketAddr) -> std::io::Result<SimServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let calls = Arc::new(SimCalls::default());
        let task = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        // Small events, answered at once.
                        let _ = stream.set_nodelay(true);
                        tokio::spawn(serve(stream, calls.clone()));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "sim model: accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                }
            }
        });
        Ok(SimServer { addr, task })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT/v1/realtime?model=…`
    pub fn url(&self, model: &str) -> String {
        format!("ws://{}/v1/realtime?model={model}", self.addr)
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One client connection: REST requests, or a WebSocket upgrade.
async fn serve(stream: TcpStream, calls: Arc<SimCalls>) {
    let service = hyper::service::service_fn(move |req| {
        let calls = calls.clone();
        async move { Ok::<_, std::convert::Infallible>(route(calls, req).await) }
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await
    {
        tracing::debug!(error = %e, "sim model: connection ended");
    }
}

type Reply = hyper::Response<http_body_util::Full<bytes::Bytes>>;

fn plain(status: hyper::StatusCode, text: &str) -> Reply {
    let mut r = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(
        text.to_string(),
    )));
    *r.status_mut() = status;
    r
}

async fn route(calls: Arc<SimCalls>, mut req: hyper::Request<hyper::body::Incoming>) -> Reply {
    let upgrade = req
        .headers()
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !upgrade {
        return calls.handle(req).await;
    }
    let Some(key) = req
        .headers()
        .get("sec-websocket-key")
        .map(|k| derive_accept_key(k.as_bytes()))
    else {
        return plain(hyper::StatusCode::BAD_REQUEST, "no Sec-WebSocket-Key");
    };
    let query = req.uri().query().unwrap_or("").to_string();
    let call_id = form_urlencoded_get(&query, "call_id");
    let sideband = match &call_id {
        Some(id) => match calls.sideband(id) {
            Some(s) => Some(s),
            None => {
                return plain(
                    hyper::StatusCode::NOT_FOUND,
                    "no live call with that call_id",
                );
            }
        },
        None => None,
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!(error = %e, "sim model: upgrade failed");
                return;
            }
        };
        let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            tokio_tungstenite::tungstenite::protocol::Role::Server,
            Some(crate::realtime::connection::ws_config()),
        )
        .await;
        let mut conn = SimConnection::new();
        if let Some(s) = sideband {
            conn.attach(s);
        }
        if let Err(e) = conn.run(ws).await {
            tracing::debug!(error = %e, "sim model: connection ended");
        }
    });
    let mut r = plain(hyper::StatusCode::SWITCHING_PROTOCOLS, "");
    let h = r.headers_mut();
    h.insert(
        "upgrade",
        hyper::header::HeaderValue::from_static("websocket"),
    );
    h.insert(
        "connection",
        hyper::header::HeaderValue::from_static("Upgrade"),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(&key) {
        h.insert("sec-websocket-accept", v);
    }
    r
}

/// The value of `key` in a query string.
fn form_urlencoded_get(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| v.to_string())
    })
}

/// Milliseconds of tone sent with each word of an audio reply.
const MS_PER_WORD: usize = 50;

struct SimConnection {
    session: Value,
    items: Vec<Value>,
    next_id: u64,
    /// Events of the response being streamed.
    queue: VecDeque<Value>,
    active_response: Option<String>,
    input_audio_bytes: usize,
    tone: String,
    /// What the simulated caller still has to say (a sideband only).
    caller: VecDeque<String>,
    /// The client has sent its settings: the caller may start talking.
    configured: bool,
    /// Fires when the call this sideband drives has ended.
    ended: Option<tokio::sync::watch::Receiver<bool>>,
}

impl SimConnection {
    fn new() -> Self {
        SimConnection {
            session: json!({
                "type": "realtime", "object": "realtime.session", "id": "sess_sim",
                "model": "agentd-sim", "output_modalities": ["audio"], "instructions": "",
                "tools": [], "tool_choice": "auto",
                "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}},
                          "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"}}
            }),
            items: Vec::new(),
            next_id: 0,
            queue: VecDeque::new(),
            active_response: None,
            input_audio_bytes: 0,
            tone: base64::engine::general_purpose::STANDARD.encode(tone(MS_PER_WORD)),
            caller: VecDeque::new(),
            configured: false,
            ended: None,
        }
    }

    /// Drive an accepted call: its settings, its caller, its end.
    fn attach(&mut self, s: Sideband) {
        if let (Some(into), Some(from)) = (self.session.as_object_mut(), s.session.as_object()) {
            for (k, v) in from {
                into.insert(k.clone(), v.clone());
            }
        }
        self.caller = s.say.into();
        self.ended = Some(s.ended);
    }

    /// Nothing streaming and no tool call waiting for its output: the caller may speak.
    fn idle(&self) -> bool {
        self.configured
            && self.queue.is_empty()
            && self.active_response.is_none()
            && self
                .items
                .last()
                .is_none_or(|i| i["type"] != "function_call")
    }

    /// The caller's next utterance, as the provider reports speech on a call.
    fn caller_speaks(&mut self) -> Vec<Value> {
        let Some(line) = self.caller.pop_front() else {
            return vec![];
        };
        if let Some(digits) = line.strip_prefix("dtmf ") {
            let at = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            return digits
                .chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| json!({"type": "input_audio_buffer.dtmf_event_received", "event": c.to_string(), "received_at": at}))
                .collect();
        }
        let id = self.id("item");
        let previous = self
            .items
            .last()
            .map(|i| i["id"].clone())
            .unwrap_or(Value::Null);
        let mut out = vec![
            json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": id}),
            json!({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 800, "item_id": id}),
            json!({"type": "input_audio_buffer.committed", "previous_item_id": previous, "item_id": id}),
        ];
        let item = json!({"id": id, "object": "realtime.item", "type": "message", "role": "user",
                          "status": "completed", "content": [{"type": "input_audio", "transcript": null}]});
        out.extend(self.add_item(item));
        if let Some(last) = self.items.last_mut() {
            last["content"][0]["transcript"] = json!(line);
        }
        out.push(
            json!({"type": "conversation.item.input_audio_transcription.completed",
                        "item_id": id, "content_index": 0, "transcript": line}),
        );
        if self.active_response.is_none() {
            self.respond();
        }
        out
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}_{}", self.next_id)
    }

    async fn run<S>(&mut self, mut ws: tokio_tungstenite::WebSocketStream<S>) -> Result<(), String>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let created = json!({"type": "session.created", "session": self.session});
        send(&mut ws, created).await?;
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(50));
        let mut ended = self.ended.take();
        loop {
            let streaming = !self.queue.is_empty();
            let speaking = !self.caller.is_empty() && self.idle();
            tokio::select! {
                biased;
                Some(()) = call_ended(&mut ended) => {
                    let _ = ws.close(None).await;
                    return Ok(());
                }
                msg = ws.next() => match msg {
                    Some(Ok(Message::Text(text))) => {
                        for out in self.on_client_text(text.as_str()) {
                            send(&mut ws, out).await?;
                        }
                    }
                    Some(Ok(Message::Close(_))) | None => return Ok(()),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.to_string()),
                },
                _ = tick.tick(), if speaking => {
                    for out in self.caller_speaks() {
                        send(&mut ws, out).await?;
                    }
                }
                _ = std::future::ready(()), if streaming => {
                    if let Some(ev) = self.queue.pop_front() {
                        if ev["type"] == "response.done" {
                            self.active_response = None;
                        }
                        send(&mut ws, ev).await?;
                    }
                }
            }
        }
    }

    fn error(code: &str, message: &str, event_id: Option<&Value>) -> Value {
        json!({"type": "error", "error": {
            "type": "invalid_request_error", "code": code, "message": message,
            "event_id": event_id.cloned().unwrap_or(Value::Null)
        }})
    }

    fn on_client_text(&mut self, text: &str) -> Vec<Value> {
        let ev: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return vec![Self::error("invalid_json", &e.to_string(), None)],
        };
        let event_id = ev.get("event_id");
        match ev["type"].as_str().unwrap_or("") {
            "session.update" => {
                self.configured = true;
                if let (Some(into), Some(from)) =
                    (self.session.as_object_mut(), ev["session"].as_object())
                {
                    for (k, v) in from {
                        into.insert(k.clone(), v.clone());
                    }
                }
                vec![json!({"type": "session.updated", "session": self.session})]
            }
            "conversation.item.create" => {
                let mut item = ev["item"].clone();
                if !item.is_object() {
                    return vec![Self::error(
                        "invalid_item",
                        "item must be an object",
                        event_id,
                    )];
                }
                if item.get("id").is_none() {
                    item["id"] = json!(self.id("item"));
                }
                item["object"] = json!("realtime.item");
                item["status"] = json!("completed");
                self.add_item(item)
            }
            "conversation.item.retrieve" => {
                let id = ev["item_id"].as_str().unwrap_or("");
                match self.items.iter().find(|i| i["id"] == id) {
                    Some(item) => {
                        vec![json!({"type": "conversation.item.retrieved", "item": item})]
                    }
                    None => vec![Self::error(
                        "item_not_found",
                        &format!("no item `{id}`"),
                        event_id,
                    )],
                }
            }
            "conversation.item.delete" => {
                let id = ev["item_id"].as_str().unwrap_or("").to_string();
                self.items.retain(|i| i["id"] != id.as_str());
                vec![json!({"type": "conversation.item.deleted", "item_id": id})]
            }
            "conversation.item.truncate" => vec![json!({
                "type": "conversation.item.truncated", "item_id": ev["item_id"],
                "content_index": ev["content_index"], "audio_end_ms": ev["audio_end_ms"]
            })],
            "input_audio_buffer.append" => {
                let len = ev["audio"].as_str().map_or(0, |a| a.len() / 4 * 3);
                self.input_audio_bytes += len;
                vec![]
            }
            "input_audio_buffer.clear" => {
                self.input_audio_bytes = 0;
                vec![json!({"type": "input_audio_buffer.cleared"})]
            }
            "input_audio_buffer.commit" => self.commit_audio(),
            "response.create" => {
                if self.active_response.is_some() {
                    return vec![Self::error(
                        "conversation_already_has_active_response",
                        "Conversation already has an active response in progress",
                        event_id,
                    )];
                }
                self.respond();
                vec![]
            }
            "response.cancel" => self.cancel(),
            "output_audio_buffer.clear" => {
                vec![json!({"type": "output_audio_buffer.cleared", "response_id": Value::Null})]
            }
            other => vec![Self::error(
                "unknown_event",
                &format!("unknown client event type `{other}`"),
                event_id,
            )],
        }
    }

    fn add_item(&mut self, item: Value) -> Vec<Value> {
        let previous = self
            .items
            .last()
            .map(|i| i["id"].clone())
            .unwrap_or(Value::Null);
        self.items.push(item.clone());
        vec![
            json!({"type": "conversation.item.added", "previous_item_id": previous, "item": item}),
            json!({"type": "conversation.item.done", "previous_item_id": previous, "item": item}),
        ]
    }

    fn commit_audio(&mut self) -> Vec<Value> {
        let ms = self.input_audio_bytes / 48;
        self.input_audio_bytes = 0;
        let id = self.id("item");
        let previous = self
            .items
            .last()
            .map(|i| i["id"].clone())
            .unwrap_or(Value::Null);
        let item = json!({"id": id, "object": "realtime.item", "type": "message", "role": "user",
                          "status": "completed", "content": [{"type": "input_audio", "transcript": null}]});
        let mut out = vec![
            json!({"type": "input_audio_buffer.committed", "previous_item_id": previous, "item_id": id}),
        ];
        out.extend(self.add_item(item));
        let transcript = format!("({ms} ms of audio)");
        if let Some(last) = self.items.last_mut() {
            last["content"][0]["transcript"] = json!(transcript);
        }
        out.push(
            json!({"type": "conversation.item.input_audio_transcription.completed",
                        "item_id": id, "content_index": 0, "transcript": transcript}),
        );
        if self.active_response.is_none() {
            self.respond();
        }
        out
    }

    fn cancel(&mut self) -> Vec<Value> {
        let Some(id) = self.active_response.take() else {
            return vec![];
        };
        self.queue.clear();
        vec![json!({"type": "response.done", "response": {
            "id": id, "object": "realtime.response", "status": "cancelled", "output": [],
            "usage": {"total_tokens": 0, "input_tokens": 0, "output_tokens": 0}
        }})]
    }

    /// Queue the events of the next response.
    fn respond(&mut self) {
        let response_id = self.id("resp");
        self.active_response = Some(response_id.clone());
        let created = json!({"type": "response.created", "response": {
            "id": response_id, "object": "realtime.response", "status": "in_progress", "output": []
        }});
        self.queue.push_back(created);
        let (output, tokens) = match self.plan() {
            Plan::Call { name, arguments } => (
                self.function_call(&response_id, &name, &arguments),
                arguments.len(),
            ),
            Plan::Say(text) => {
                let n = text.len();
                (self.message(&response_id, &text), n)
            }
        };
        self.queue.push_back(json!({"type": "response.done", "response": {
            "id": response_id, "object": "realtime.response", "status": "completed", "output": [output],
            "usage": {"total_tokens": 10 + tokens as u64 / 4, "input_tokens": 10, "output_tokens": tokens as u64 / 4}
        }}));
    }

    fn plan(&self) -> Plan {
        let Some(last) = self.items.last() else {
            return Plan::Say("How can I help?".into());
        };
        if last["type"] == "function_call_output" {
            let outputs: Vec<String> = self
                .items
                .iter()
                .rev()
                .take_while(|i| i["type"] == "function_call_output")
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .map(|out| {
                    let name = self
                        .items
                        .iter()
                        .find(|i| i["type"] == "function_call" && i["call_id"] == out["call_id"])
                        .and_then(|i| i["name"].as_str())
                        .unwrap_or("the tool");
                    format!(
                        "The result of {name} is {}.",
                        out["output"].as_str().unwrap_or("")
                    )
                })
                .collect();
            return Plan::Say(outputs.join(" "));
        }
        let text = last["content"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["text"].as_str().or_else(|| c["transcript"].as_str()))
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(rest) = text.trim().strip_prefix("call ") {
            let (tool, args) = rest
                .trim()
                .split_once(char::is_whitespace)
                .unwrap_or((rest.trim(), "{}"));
            return Plan::Call {
                name: self.resolve_tool(tool),
                arguments: args.trim().to_string(),
            };
        }
        Plan::Say(format!("You said: {text}"))
    }

    /// `calc.add` names the declared tool `calc_add`; an exact match wins.
    fn resolve_tool(&self, asked: &str) -> String {
        let declared: Vec<&str> = self.session["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["name"].as_str())
            .collect();
        if declared.contains(&asked) {
            return asked.to_string();
        }
        let mapped = asked.replace('.', "_");
        if declared.contains(&mapped.as_str()) {
            return mapped;
        }
        asked.to_string()
    }

    fn function_call(&mut self, response_id: &str, name: &str, arguments: &str) -> Value {
        let item_id = self.id("fc");
        let call_id = self.id("call");
        let mut item = json!({"id": item_id, "object": "realtime.item", "type": "function_call",
                              "status": "in_progress", "name": name, "call_id": call_id, "arguments": ""});
        let previous = self
            .items
            .last()
            .map(|i| i["id"].clone())
            .unwrap_or(Value::Null);
        self.queue.push_back(json!({"type": "response.output_item.added", "response_id": response_id, "output_index": 0, "item": item}));
        self.queue.push_back(
            json!({"type": "conversation.item.added", "previous_item_id": previous, "item": item}),
        );
        self.queue.push_back(json!({"type": "response.function_call_arguments.delta", "response_id": response_id,
                                    "item_id": item_id, "output_index": 0, "call_id": call_id, "delta": arguments}));
        self.queue.push_back(json!({"type": "response.function_call_arguments.done", "response_id": response_id,
                                    "item_id": item_id, "output_index": 0, "call_id": call_id, "name": name, "arguments": arguments}));
        item["status"] = json!("completed");
        item["arguments"] = json!(arguments);
        self.queue.push_back(
            json!({"type": "conversation.item.done", "previous_item_id": previous, "item": item}),
        );
        self.queue.push_back(json!({"type": "response.output_item.done", "response_id": response_id, "output_index": 0, "item": item}));
        self.items.push(item.clone());
        item
    }

    fn message(&mut self, response_id: &str, text: &str) -> Value {
        let audio = self.session["output_modalities"]
            .as_array()
            .is_none_or(|m| m.iter().any(|m| m == "audio"));
        let item_id = self.id("msg");
        let previous = self
            .items
            .last()
            .map(|i| i["id"].clone())
            .unwrap_or(Value::Null);
        let mut item = json!({"id": item_id, "object": "realtime.item", "type": "message", "role": "assistant",
                              "status": "in_progress", "content": []});
        let at = |extra: Value| {
            let mut v = json!({"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0});
            if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
                v.extend(extra.clone());
            }
            v
        };
        self.queue.push_back(json!({"type": "response.output_item.added", "response_id": response_id, "output_index": 0, "item": item}));
        self.queue.push_back(
            json!({"type": "conversation.item.added", "previous_item_id": previous, "item": item}),
        );
        let words: Vec<String> = text.split_inclusive(' ').map(str::to_string).collect();
        let (part, content) = if audio {
            self.queue.push_back(at(json!({"type": "response.content_part.added", "part": {"type": "audio", "transcript": ""}})));
            for w in &words {
                self.queue.push_back(at(
                    json!({"type": "response.output_audio_transcript.delta", "delta": w}),
                ));
                self.queue.push_back(at(
                    json!({"type": "response.output_audio.delta", "delta": self.tone}),
                ));
            }
            self.queue
                .push_back(at(json!({"type": "response.output_audio.done"})));
            self.queue.push_back(at(
                json!({"type": "response.output_audio_transcript.done", "transcript": text}),
            ));
            (
                json!({"type": "audio", "transcript": text}),
                json!({"type": "output_audio", "transcript": text}),
            )
        } else {
            self.queue.push_back(at(json!({"type": "response.content_part.added", "part": {"type": "text", "text": ""}})));
            for w in &words {
                self.queue.push_back(at(
                    json!({"type": "response.output_text.delta", "delta": w}),
                ));
            }
            self.queue.push_back(at(
                json!({"type": "response.output_text.done", "text": text}),
            ));
            (
                json!({"type": "text", "text": text}),
                json!({"type": "output_text", "text": text}),
            )
        };
        self.queue.push_back(at(
            json!({"type": "response.content_part.done", "part": part}),
        ));
        item["status"] = json!("completed");
        item["content"] = json!([content]);
        self.queue.push_back(json!({"type": "response.output_item.done", "response_id": response_id, "output_index": 0, "item": item}));
        self.queue.push_back(
            json!({"type": "conversation.item.done", "previous_item_id": previous, "item": item}),
        );
        self.items.push(item.clone());
        item
    }
}

/// Resolves once the call has ended; never without a call.
async fn call_ended(rx: &mut Option<tokio::sync::watch::Receiver<bool>>) -> Option<()> {
    match rx {
        Some(r) => {
            if r.wait_for(|ended| *ended).await.is_err() {
                // The call's record is gone: nothing will end it.
                *rx = None;
                return std::future::pending().await;
            }
            Some(())
        }
        None => std::future::pending().await,
    }
}

enum Plan {
    Call { name: String, arguments: String },
    Say(String),
}

async fn send<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>, ev: Value) -> Result<(), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(Message::text(ev.to_string()))
        .await
        .map_err(|e| e.to_string())
}

/// `ms` milliseconds of a 440 Hz tone, PCM16 little-endian, 24 kHz mono.
fn tone(ms: usize) -> Vec<u8> {
    let samples = 24 * ms;
    let mut out = Vec::with_capacity(samples * 2);
    for n in 0..samples {
        let t = n as f64 / 24_000.0;
        let s = ((t * 440.0 * std::f64::consts::TAU).sin() * 8_000.0) as i16;
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(conn: &mut SimConnection, text: &str) {
        let ev = json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
                        "content": [{"type": "input_text", "text": text}]}});
        conn.on_client_text(&ev.to_string());
        conn.on_client_text(r#"{"type":"response.create"}"#);
    }

    fn types(conn: &SimConnection) -> Vec<String> {
        conn.queue
            .iter()
            .map(|e| e["type"].as_str().unwrap_or("").to_string())
            .collect()
    }

    #[test]
    fn call_grammar_maps_dotted_names_to_declared_tools() {
        let mut conn = SimConnection::new();
        conn.on_client_text(&json!({"type": "session.update", "session": {"tools": [{"type": "function", "name": "calc_add", "description": "", "parameters": {}}]}}).to_string());
        user(&mut conn, "call calc.add {\"a\":2,\"b\":3}");
        let done = conn
            .queue
            .iter()
            .find(|e| e["type"] == "response.function_call_arguments.done")
            .unwrap();
        assert_eq!(done["name"], "calc_add");
        assert_eq!(done["arguments"], "{\"a\":2,\"b\":3}");
    }

    #[test]
    fn tool_outputs_are_reported_back() {
        let mut conn = SimConnection::new();
        user(&mut conn, "call add {}");
        let call_id = conn.items.last().unwrap()["call_id"].clone();
        conn.queue.clear();
        conn.active_response = None;
        let out = json!({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": call_id, "output": "5"}});
        conn.on_client_text(&out.to_string());
        conn.on_client_text(r#"{"type":"response.create"}"#);
        let done = conn
            .queue
            .iter()
            .find(|e| e["type"] == "response.output_audio_transcript.done")
            .unwrap();
        assert_eq!(done["transcript"], "The result of add is 5.");
    }

    #[test]
    fn second_response_create_while_active_is_an_error() {
        let mut conn = SimConnection::new();
        user(&mut conn, "hello");
        let out = conn.on_client_text(r#"{"type":"response.create","event_id":"e1"}"#);
        assert_eq!(
            out[0]["error"]["code"],
            "conversation_already_has_active_response"
        );
        assert_eq!(out[0]["error"]["event_id"], "e1");
    }

    #[test]
    fn text_modality_streams_text() {
        let mut conn = SimConnection::new();
        conn.on_client_text(
            r#"{"type":"session.update","session":{"output_modalities":["text"]}}"#,
        );
        user(&mut conn, "hi there");
        let t = types(&conn);
        assert!(t.contains(&"response.output_text.delta".to_string()));
        assert!(!t.contains(&"response.output_audio.delta".to_string()));
    }

    #[test]
    fn cancel_stops_the_stream() {
        let mut conn = SimConnection::new();
        user(&mut conn, "a long reply please");
        let out = conn.on_client_text(r#"{"type":"response.cancel"}"#);
        assert_eq!(out[0]["response"]["status"], "cancelled");
        assert!(conn.queue.is_empty());
    }
}
