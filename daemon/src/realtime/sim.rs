//! The built-in offline model: a loopback WebSocket server speaking the
//! Realtime protocol, so the quick start and the tests use the real client.
//!
//! It is deterministic. What it does with the last thing in the conversation:
//! - user text `call <tool> <json-arguments>` → one function call to `<tool>`
//!   (a tool named `plugin.tool` is matched to the declared `plugin_tool`);
//! - function call outputs → `The result of <tool> is <output>.`;
//! - any other user text → `You said: <text>`;
//! - committed input audio → transcribed as the model's next scripted line
//!   (`transcripts = […]` in `[models.NAME]`, one per committed buffer of a
//!   connection), after the last as `(<n> ms of audio)`, then answered like
//!   user text (so a scripted `call calc.multiply {"a":6,"b":7}` calls it).
//!
//! With `turn_detection = server_vad` it commits input audio itself, as the
//! real API does ([`Vad`]: deterministic, by RMS energy per 10 ms window):
//! `speech_started` when a window is loud enough, `speech_stopped` and a
//! commit after `silence_duration_ms` (default 500) of quiet. Speech starting
//! while a response streams cancels it (unless `interrupt_response = false`);
//! the session's own barge-in logic then truncates what the listener heard,
//! and `conversation.item.truncate` really cuts the item's transcript to the
//! words whose audio was played, so the history shows the cut.
//!
//! On the same port it serves the provider's call routes and sidebands
//! (`sim_calls`): a sideband (`?call_id=`) starts with the accepted call's
//! settings, plays the simulated caller's words as input transcripts
//! (`dtmf 12#` presses keys), and closes when the call is hung up or referred.
//!
//! Replies stream word by word: a transcript delta and 50 ms of a 440 Hz PCM16
//! tone per word when the session's output modality is audio, text deltas when
//! it is text. `response.cancel` stops a reply mid-stream.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;

use base64::Engine as _;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

use super::sim_calls::{Sideband, SimCalls};

/// A running offline model.
pub struct SimServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    scripts: Arc<Scripts>,
}

/// Scripted transcripts per model, kept up to date by the supervisor; a
/// connection's url names its model's entry by number (`&script=N`), so the
/// url never carries the lines themselves.
#[derive(Default)]
struct Scripts {
    /// model name → (its number, its lines).
    by_model: Mutex<BTreeMap<String, (u64, Vec<String>)>>,
}

impl Scripts {
    fn lines(&self, number: u64) -> Vec<String> {
        let map = self.by_model.lock().unwrap_or_else(|p| p.into_inner());
        map.values()
            .find(|(n, _)| *n == number)
            .map(|(_, l)| l.clone())
            .unwrap_or_default()
    }
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
        let scripts = Arc::new(Scripts::default());
        let shared = scripts.clone();
        let task = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        // Small events, answered at once.
                        let _ = stream.set_nodelay(true);
                        tokio::spawn(serve(stream, calls.clone(), shared.clone()));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "sim model: accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                }
            }
        });
        Ok(SimServer {
            addr,
            task,
            scripts,
        })
    }

    /// What committed audio on `model`'s connections is transcribed as, in
    /// turn (replaces what was set before; empty: none).
    pub fn set_transcripts(&self, model: &str, lines: Vec<String>) {
        let mut map = self
            .scripts
            .by_model
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let next = map.len() as u64 + 1;
        let number = map.get(model).map_or(next, |(n, _)| *n);
        map.insert(model.to_string(), (number, lines));
    }

    /// The url for `model` (sent as `model=`) on behalf of the config's model
    /// `config_name`: with its scripted transcripts when it has some.
    pub fn url_for(&self, model: &str, config_name: &str) -> String {
        let map = self
            .scripts
            .by_model
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match map.get(config_name) {
            Some((n, lines)) if !lines.is_empty() => format!("{}&script={n}", self.url(model)),
            _ => self.url(model),
        }
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
async fn serve(stream: TcpStream, calls: Arc<SimCalls>, scripts: Arc<Scripts>) {
    let service = hyper::service::service_fn(move |req| {
        let calls = calls.clone();
        let scripts = scripts.clone();
        async move { Ok::<_, std::convert::Infallible>(route(calls, scripts, req).await) }
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

async fn route(
    calls: Arc<SimCalls>,
    scripts: Arc<Scripts>,
    mut req: hyper::Request<hyper::body::Incoming>,
) -> Reply {
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
        .and_then(|k| k.to_str().ok())
        .map(str::to_string)
    else {
        return plain(hyper::StatusCode::BAD_REQUEST, "no Sec-WebSocket-Key");
    };
    let query = req.uri().query().unwrap_or("").to_string();
    let call_id = form_urlencoded_get(&query, "call_id");
    let transcripts = form_urlencoded_get(&query, "script")
        .and_then(|n| n.parse::<u64>().ok())
        .map(|n| scripts.lines(n))
        .unwrap_or_default();
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
        let ws = crate::http::upgrade::server_stream(upgraded).await;
        let mut conn = SimConnection::new();
        conn.transcripts = transcripts.into();
        if let Some(s) = sideband {
            conn.attach(s);
        }
        if let Err(e) = conn.run(ws).await {
            tracing::debug!(error = %e, "sim model: connection ended");
        }
    });
    let mut r = plain(hyper::StatusCode::SWITCHING_PROTOCOLS, "");
    crate::http::upgrade::accept_headers(r.headers_mut(), &key);
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
    /// What the next committed audio buffers are transcribed as.
    transcripts: VecDeque<String>,
    /// Server VAD over the input audio (used when turn detection is `server_vad`).
    vad: Vad,
    /// The item id announced by `speech_started`, used by its commit.
    speech_item: Option<String>,
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
            transcripts: VecDeque::new(),
            vad: Vad::default(),
            speech_item: None,
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
            "conversation.item.truncate" => self.truncate(&ev, event_id),
            "input_audio_buffer.append" => self.append_audio(ev["audio"].as_str().unwrap_or("")),
            "input_audio_buffer.clear" => {
                self.input_audio_bytes = 0;
                self.vad = Vad::default();
                self.speech_item = None;
                vec![json!({"type": "input_audio_buffer.cleared"})]
            }
            "input_audio_buffer.commit" => self.commit_audio(event_id),
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

    /// The session's server VAD settings, when its turn detection is `server_vad`.
    fn server_vad(&self) -> Option<&Value> {
        let td = self
            .session
            .pointer("/audio/input/turn_detection")
            .or_else(|| self.session.get("turn_detection"))?;
        (td["type"] == "server_vad").then_some(td)
    }

    /// Input audio appended: counted, and with server VAD listened to.
    fn append_audio(&mut self, audio: &str) -> Vec<Value> {
        let Some(td) = self.server_vad() else {
            self.input_audio_bytes += audio.len() / 4 * 3;
            return vec![];
        };
        let threshold = td["threshold"].as_f64().unwrap_or(0.5);
        let silence_ms = td["silence_duration_ms"].as_u64().unwrap_or(500);
        let interrupt = td["interrupt_response"].as_bool().unwrap_or(true);
        let create = td["create_response"].as_bool().unwrap_or(true);
        let pcm = match base64::engine::general_purpose::STANDARD.decode(audio) {
            Ok(b) => b,
            Err(e) => {
                return vec![Self::error(
                    "invalid_audio",
                    &format!("audio is not base64: {e}"),
                    None,
                )];
            }
        };
        self.input_audio_bytes += pcm.len();
        let mut out = Vec::new();
        for ev in self.vad.feed(&pcm, threshold * VAD_RMS_SCALE, silence_ms) {
            match ev {
                VadEvent::Started { at_ms } => {
                    let id = self.id("item");
                    out.push(json!({"type": "input_audio_buffer.speech_started",
                                    "audio_start_ms": at_ms, "item_id": id}));
                    self.speech_item = Some(id);
                    if interrupt {
                        out.extend(self.cancel());
                    }
                }
                VadEvent::Stopped { at_ms } => {
                    let id = self.speech_item.take().unwrap_or_else(|| self.id("item"));
                    out.push(json!({"type": "input_audio_buffer.speech_stopped",
                                    "audio_end_ms": at_ms, "item_id": id}));
                    out.extend(self.commit_as(id, create));
                }
            }
        }
        out
    }

    /// `conversation.item.truncate`: an assistant audio item keeps the words
    /// whose audio was played (each word is [`MS_PER_WORD`] of audio).
    fn truncate(&mut self, ev: &Value, event_id: Option<&Value>) -> Vec<Value> {
        let id = ev["item_id"].as_str().unwrap_or("");
        let end_ms = ev["audio_end_ms"].as_u64().unwrap_or(0);
        let Some(item) = self.items.iter_mut().find(|i| i["id"] == id) else {
            return vec![Self::error(
                "item_not_found",
                &format!("no item `{id}`"),
                event_id,
            )];
        };
        if let Some(t) = item["content"][0]["transcript"].as_str() {
            let heard = (end_ms as usize) / MS_PER_WORD;
            let kept: String = t.split_inclusive(' ').take(heard).collect();
            item["content"][0]["transcript"] = json!(kept.trim_end());
            item["status"] = json!("incomplete");
        }
        vec![json!({
            "type": "conversation.item.truncated", "item_id": id,
            "content_index": ev["content_index"], "audio_end_ms": end_ms
        })]
    }

    fn commit_audio(&mut self, event_id: Option<&Value>) -> Vec<Value> {
        if self.input_audio_bytes == 0 {
            // As the real API: nothing to commit (server VAD may have committed it already).
            return vec![Self::error(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: the buffer is empty",
                event_id,
            )];
        }
        let id = self.speech_item.take().unwrap_or_else(|| self.id("item"));
        self.vad.speaking = false;
        self.vad.quiet_ms = 0;
        self.commit_as(id, true)
    }

    /// Commit the input buffer as the user item `id`; `respond`: answer it.
    fn commit_as(&mut self, id: String, respond: bool) -> Vec<Value> {
        let ms = self.input_audio_bytes / 48;
        self.input_audio_bytes = 0;
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
        let transcript = self
            .transcripts
            .pop_front()
            .unwrap_or_else(|| format!("({ms} ms of audio)"));
        if let Some(last) = self.items.last_mut() {
            last["content"][0]["transcript"] = json!(transcript);
        }
        out.push(
            json!({"type": "conversation.item.input_audio_transcription.completed",
                        "item_id": id, "content_index": 0, "transcript": transcript}),
        );
        if respond && self.active_response.is_none() {
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

/// A VAD `threshold` of 1.0 is this RMS (of PCM16 samples): the default 0.5
/// hears a window as speech above an RMS of 500 (about -36 dBFS).
const VAD_RMS_SCALE: f64 = 1000.0;

/// Bytes of one VAD window: 10 ms of PCM16 at 24 kHz.
const VAD_WINDOW: usize = 480;

/// What the VAD noticed, at a position in the input audio.
#[derive(Debug, PartialEq)]
enum VadEvent {
    Started { at_ms: u64 },
    Stopped { at_ms: u64 },
}

/// Deterministic voice activity detection: RMS energy per 10 ms window.
/// Positions count from the start of the buffer since its last commit.
#[derive(Debug, Default)]
struct Vad {
    /// Bytes of a window not complete yet.
    carry: Vec<u8>,
    /// Audio heard so far, ms.
    at_ms: u64,
    speaking: bool,
    /// Quiet since the last loud window, ms (while speaking).
    quiet_ms: u64,
}

impl Vad {
    fn feed(&mut self, pcm: &[u8], rms_threshold: f64, silence_ms: u64) -> Vec<VadEvent> {
        self.carry.extend_from_slice(pcm);
        let whole = self.carry.len() / VAD_WINDOW * VAD_WINDOW;
        let mut out = Vec::new();
        for window in self.carry[..whole].chunks_exact(VAD_WINDOW) {
            let sum: f64 = window
                .chunks_exact(2)
                .map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])).powi(2))
                .sum();
            let rms = (sum / (VAD_WINDOW / 2) as f64).sqrt();
            let loud = rms > rms_threshold;
            match (self.speaking, loud) {
                (false, true) => {
                    self.speaking = true;
                    self.quiet_ms = 0;
                    out.push(VadEvent::Started { at_ms: self.at_ms });
                }
                (true, true) => self.quiet_ms = 0,
                (true, false) => {
                    self.quiet_ms += 10;
                    if self.quiet_ms >= silence_ms {
                        self.speaking = false;
                        out.push(VadEvent::Stopped {
                            at_ms: self.at_ms + 10 - self.quiet_ms,
                        });
                    }
                }
                (false, false) => {}
            }
            self.at_ms += 10;
        }
        self.carry.drain(..whole);
        out
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

    fn b64(pcm: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(pcm)
    }

    fn append(conn: &mut SimConnection, pcm: &[u8]) -> Vec<Value> {
        conn.on_client_text(
            &json!({"type": "input_audio_buffer.append", "audio": b64(pcm)}).to_string(),
        )
    }

    fn kinds(events: &[Value]) -> Vec<&str> {
        events.iter().filter_map(|e| e["type"].as_str()).collect()
    }

    fn server_vad(conn: &mut SimConnection, extra: Value) {
        let mut td = json!({"type": "server_vad"});
        if let (Some(td), Some(extra)) = (td.as_object_mut(), extra.as_object()) {
            td.extend(extra.clone());
        }
        conn.on_client_text(
            &json!({"type": "session.update", "session": {"audio": {"input": {"turn_detection": td}}}})
                .to_string(),
        );
    }

    #[test]
    fn committed_audio_takes_the_scripted_lines_in_turn_then_the_length() {
        let mut conn = SimConnection::new();
        conn.transcripts = vec![
            "hello there".to_string(),
            "call calc.multiply {\"a\":6,\"b\":7}".to_string(),
        ]
        .into();
        conn.on_client_text(&json!({"type": "session.update", "session": {"tools": [{"type": "function", "name": "calc_multiply", "description": "", "parameters": {}}]}}).to_string());
        let transcript = |out: &[Value]| {
            out.iter()
                .find(|e| e["type"] == "conversation.item.input_audio_transcription.completed")
                .map(|e| e["transcript"].clone())
                .unwrap()
        };
        append(&mut conn, &[0u8; 4800]);
        let out = conn.on_client_text(r#"{"type":"input_audio_buffer.commit"}"#);
        assert_eq!(transcript(&out), "hello there");
        assert_eq!(
            conn.items.last().unwrap()["content"][0]["transcript"],
            "You said: hello there"
        );
        conn.queue.clear();
        conn.active_response = None;
        append(&mut conn, &[0u8; 4800]);
        let out = conn.on_client_text(r#"{"type":"input_audio_buffer.commit"}"#);
        assert_eq!(transcript(&out), r#"call calc.multiply {"a":6,"b":7}"#);
        // Treated exactly as user text: a call of the declared tool.
        let done = conn
            .queue
            .iter()
            .find(|e| e["type"] == "response.function_call_arguments.done")
            .unwrap();
        assert_eq!(done["name"], "calc_multiply");
        assert_eq!(done["arguments"], r#"{"a":6,"b":7}"#);
        conn.queue.clear();
        conn.active_response = None;
        append(&mut conn, &[0u8; 4800]);
        let out = conn.on_client_text(r#"{"type":"input_audio_buffer.commit"}"#);
        assert_eq!(transcript(&out), "(100 ms of audio)");
        // Nothing appended since: nothing to commit, as the real API says.
        let out = conn.on_client_text(r#"{"type":"input_audio_buffer.commit","event_id":"c1"}"#);
        assert_eq!(out[0]["error"]["code"], "input_audio_buffer_commit_empty");
    }

    #[test]
    fn vad_hears_speech_by_energy_and_ends_it_after_the_silence() {
        let silence = |ms: usize| vec![0u8; ms * 48];
        // (input, threshold, silence_ms, expected)
        let cases: Vec<(Vec<u8>, f64, u64, Vec<VadEvent>)> = vec![
            (silence(2000), 500.0, 500, vec![]),
            (
                [silence(100), tone(300), silence(600)].concat(),
                500.0,
                500,
                vec![
                    VadEvent::Started { at_ms: 100 },
                    VadEvent::Stopped { at_ms: 400 },
                ],
            ),
            // A pause shorter than the silence is part of the speech.
            (
                [tone(200), silence(300), tone(200), silence(499)].concat(),
                500.0,
                500,
                vec![VadEvent::Started { at_ms: 0 }],
            ),
            (
                [tone(200), silence(200)].concat(),
                500.0,
                200,
                vec![
                    VadEvent::Started { at_ms: 0 },
                    VadEvent::Stopped { at_ms: 200 },
                ],
            ),
            // The tone's RMS (about 5 600) is under a high threshold.
            ([tone(500), silence(600)].concat(), 6_000.0, 500, vec![]),
        ];
        for (i, (pcm, threshold, silence_ms, want)) in cases.into_iter().enumerate() {
            let mut vad = Vad::default();
            assert_eq!(vad.feed(&pcm, threshold, silence_ms), want, "case {i}");
            // The same audio in odd-sized pieces is heard the same.
            let mut vad = Vad::default();
            let mut pieces = Vec::new();
            for chunk in pcm.chunks(333) {
                pieces.extend(vad.feed(chunk, threshold, silence_ms));
            }
            assert_eq!(
                pieces,
                vad_again(&pcm, threshold, silence_ms),
                "case {i} in pieces"
            );
        }
    }

    fn vad_again(pcm: &[u8], threshold: f64, silence_ms: u64) -> Vec<VadEvent> {
        Vad::default().feed(pcm, threshold, silence_ms)
    }

    #[test]
    fn server_vad_commits_on_silence_and_answers() {
        let mut conn = SimConnection::new();
        conn.transcripts = vec!["what time is it".to_string()].into();
        server_vad(&mut conn, json!({"silence_duration_ms": 300}));
        let out = append(&mut conn, &tone(400));
        assert_eq!(kinds(&out), ["input_audio_buffer.speech_started"]);
        let item = out[0]["item_id"].clone();
        let out = append(&mut conn, &vec![0u8; 300 * 48]);
        assert_eq!(
            kinds(&out),
            [
                "input_audio_buffer.speech_stopped",
                "input_audio_buffer.committed",
                "conversation.item.added",
                "conversation.item.done",
                "conversation.item.input_audio_transcription.completed"
            ]
        );
        assert_eq!(out[0]["audio_end_ms"], 400);
        // One item from speech_started to its commit.
        assert!(
            out.iter()
                .all(|e| e["item_id"] == item || e["item"]["id"] == item)
        );
        assert_eq!(out[4]["transcript"], "what time is it");
        assert!(types(&conn).contains(&"response.output_audio_transcript.delta".to_string()));
        // Without server VAD, audio is only counted.
        let mut plain = SimConnection::new();
        assert!(append(&mut plain, &[tone(400), vec![0u8; 600 * 48]].concat()).is_empty());
    }

    #[test]
    fn speech_during_a_reply_cancels_it_unless_told_not_to() {
        for (interrupt, cancelled) in [(json!(true), true), (json!(false), false)] {
            let mut conn = SimConnection::new();
            server_vad(&mut conn, json!({"interrupt_response": interrupt}));
            user(&mut conn, "tell me a long story");
            assert!(conn.active_response.is_some());
            let out = append(&mut conn, &tone(100));
            assert_eq!(out[0]["type"], "input_audio_buffer.speech_started");
            let done = out.iter().find(|e| e["type"] == "response.done");
            assert_eq!(
                done.map(|d| d["response"]["status"].clone()),
                cancelled.then(|| json!("cancelled")),
                "interrupt_response = {interrupt}"
            );
        }
    }

    #[test]
    fn truncate_keeps_the_words_that_were_heard() {
        let mut conn = SimConnection::new();
        user(&mut conn, "one two three four");
        let msg = conn.items.last().unwrap()["id"].clone();
        // "You said: one two three four" is 6 words of 50 ms each; 120 ms heard two.
        let out = conn.on_client_text(
            &json!({"type": "conversation.item.truncate", "item_id": msg, "content_index": 0, "audio_end_ms": 120}).to_string(),
        );
        assert_eq!(out[0]["type"], "conversation.item.truncated");
        assert_eq!(out[0]["audio_end_ms"], 120);
        let item = conn.items.iter().find(|i| i["id"] == msg).unwrap();
        assert_eq!(item["content"][0]["transcript"], "You said:");
        let out = conn.on_client_text(
            r#"{"type":"conversation.item.truncate","item_id":"nope","content_index":0,"audio_end_ms":1}"#,
        );
        assert_eq!(out[0]["error"]["code"], "item_not_found");
    }
}
