//! Scenario mode of the offline model: play a script of server events and
//! wait for expected client events, so a test (or a user reproducing a bug)
//! can replay an exact exchange.
//!
//! The format is the one of the peer benchmark's `mock_realtime_server.py`
//! (`shared/bench/peer-python/scenarios/*.json`), so agentd runs the very
//! scenarios the reference client was captured on:
//!
//! ```text
//! {"name", "vars": {..}, "timeout_s", "expect_timeout_s", "steps": [STEP, ..]}
//! STEP := {"emit": EVENT, "mark"?}                 send EVENT ({{var}}, "{{#var}}" raw JSON,
//!                                                  {"$pcm16_b64": N}; event_id filled in)
//!       | {"expect": TYPE, "match": {"a.b": v}?, "timeout_s"?, "optional"?,
//!          "capture": {"var": "a.b"}?, "defaults": {..}?, "measure"?}
//!                                                  wait for and consume the first queued
//!                                                  client event that matches (order-tolerant)
//!       | {"repeat": N | "{{var}}", "var"?, "steps", "until"?}
//!       | {"foreach": [..], "var"?, "steps", "until"?}
//!       | {"sleep": seconds | "{{var}}"}
//!       | {"close": {"code", "reason"}?}
//! ```
//!
//! agentd adds two things: `{"drop": true}` ends the TCP connection with no
//! close handshake (a dead peer, for reconnect tests), and
//! `"connections": [[STEP, ..], ..]` in place of `"steps"` gives connection
//! *n* its own script (the last one plays for any later connection). A `.jsonl`
//! file is one step per line. `mark`/`measure` are accepted and ignored:
//! timing belongs to benchmarks, not to this server.
//!
//! A failed expect sends an `error` event with code `scenario_failed` and
//! closes with 1011; every connection's outcome and every client event
//! received are kept for the caller ([`ScenarioServer::finished`],
//! [`ScenarioServer::client_events`]).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Why a scenario could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("scenario {what}: {reason}")]
    Invalid { what: String, reason: String },
}

fn invalid(what: impl Into<String>, reason: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid {
        what: what.into(),
        reason: reason.into(),
    }
}

/// A loaded scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    vars: Map<String, Value>,
    timeout: Duration,
    expect_timeout: Duration,
    connections: Vec<Vec<Step>>,
}

#[derive(Debug, Clone)]
enum Step {
    Emit(String),
    Expect(Expect),
    Loop {
        values: LoopValues,
        var: String,
        steps: Vec<Step>,
        until: Option<Matcher>,
    },
    Sleep(Value),
    Close(u16, String),
    Drop,
}

#[derive(Debug, Clone)]
enum LoopValues {
    Count(Value),
    List(Vec<Value>),
}

#[derive(Debug, Clone)]
struct Matcher {
    kind: Option<String>,
    fields: Vec<(String, Value)>,
}

#[derive(Debug, Clone)]
struct Expect {
    matcher: Matcher,
    timeout: Option<Duration>,
    optional: bool,
    capture: Vec<(String, String)>,
    defaults: Map<String, Value>,
}

impl Scenario {
    /// Read a `.json` scenario, or a `.jsonl` file of steps.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        if path.extension().is_some_and(|e| e == "jsonl") {
            let mut steps = Vec::new();
            for (n, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let v: Value = serde_json::from_str(line)
                    .map_err(|e| invalid(format!("{}:{}", path.display(), n + 1), e.to_string()))?;
                steps.push(v);
            }
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            return Scenario::from_value(&json!({"name": name, "steps": steps}));
        }
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| invalid(path.display().to_string(), e.to_string()))?;
        Scenario::from_value(&v)
    }

    /// Build from the JSON document.
    pub fn from_value(v: &Value) -> Result<Scenario, ScenarioError> {
        let obj = v
            .as_object()
            .ok_or_else(|| invalid("file", "must be a JSON object"))?;
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("scenario")
            .to_string();
        let secs = |k: &str, default: f64| -> Result<Duration, ScenarioError> {
            match obj.get(k) {
                None => Ok(Duration::from_secs_f64(default)),
                Some(v) => v
                    .as_f64()
                    .filter(|s| *s > 0.0 && *s < 86_400.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| invalid(k, "must be a positive number of seconds")),
            }
        };
        let connections = match (obj.get("steps"), obj.get("connections")) {
            (Some(steps), None) => vec![parse_steps(steps, "steps")?],
            (None, Some(Value::Array(conns))) if !conns.is_empty() => conns
                .iter()
                .enumerate()
                .map(|(i, s)| parse_steps(s, &format!("connections[{i}]")))
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(invalid(
                    "file",
                    "needs `steps` or a non-empty `connections` (not both)",
                ));
            }
        };
        Ok(Scenario {
            name,
            vars: obj
                .get("vars")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            timeout: secs("timeout_s", 300.0)?,
            expect_timeout: secs("expect_timeout_s", 30.0)?,
            connections,
        })
    }

    /// Override a scenario variable (like the peer server's `--var k=v`).
    pub fn with_var(mut self, name: &str, value: Value) -> Scenario {
        self.vars.insert(name.to_string(), value);
        self
    }
}

fn parse_steps(v: &Value, at: &str) -> Result<Vec<Step>, ScenarioError> {
    let list = v
        .as_array()
        .ok_or_else(|| invalid(at, "must be a list of steps"))?;
    list.iter()
        .enumerate()
        .map(|(i, s)| parse_step(s, &format!("{at}[{i}]")))
        .collect()
}

fn parse_matcher(
    kind: Option<&Value>,
    fields: Option<&Value>,
    at: &str,
) -> Result<Matcher, ScenarioError> {
    let kind = match kind {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid(at, "an event type must be a string")),
    };
    let fields = match fields {
        None => Vec::new(),
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Some(_) => return Err(invalid(at, "`match` must be an object of dotted paths")),
    };
    Ok(Matcher { kind, fields })
}

fn parse_step(v: &Value, at: &str) -> Result<Step, ScenarioError> {
    let obj = v
        .as_object()
        .ok_or_else(|| invalid(at, "a step must be an object"))?;
    if let Some(ev) = obj.get("emit") {
        let mut ev = resolve_macros(ev);
        let map = ev
            .as_object_mut()
            .ok_or_else(|| invalid(at, "`emit` must be an event object"))?;
        if !map.get("type").is_some_and(Value::is_string) {
            return Err(invalid(at, "an emitted event needs a string `type`"));
        }
        map.entry("event_id").or_insert_with(|| json!("{{_eid}}"));
        return Ok(Step::Emit(ev.to_string()));
    }
    if let Some(kind) = obj.get("expect") {
        let capture = match obj.get("capture") {
            None => Vec::new(),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| {
                    Ok((
                        k.clone(),
                        v.as_str()
                            .ok_or_else(|| invalid(at, "capture paths are strings"))?
                            .to_string(),
                    ))
                })
                .collect::<Result<_, ScenarioError>>()?,
            Some(_) => return Err(invalid(at, "`capture` must be an object")),
        };
        let timeout = match obj.get("timeout_s") {
            None => None,
            Some(t) => Some(
                t.as_f64()
                    .filter(|s| *s >= 0.0 && *s < 86_400.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| invalid(at, "`timeout_s` must be a number of seconds"))?,
            ),
        };
        return Ok(Step::Expect(Expect {
            matcher: parse_matcher(Some(kind), obj.get("match"), at)?,
            timeout,
            optional: obj
                .get("optional")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            capture,
            defaults: obj
                .get("defaults")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        }));
    }
    if obj.contains_key("repeat") || obj.contains_key("foreach") {
        let values = match (obj.get("repeat"), obj.get("foreach")) {
            (Some(n), None) => LoopValues::Count(n.clone()),
            (None, Some(Value::Array(list))) => LoopValues::List(list.clone()),
            _ => return Err(invalid(at, "use one of `repeat: N` or `foreach: [..]`")),
        };
        let until = match obj.get("until") {
            None => None,
            Some(u) => Some(parse_matcher(u.get("type"), u.get("match"), at)?),
        };
        return Ok(Step::Loop {
            values,
            var: obj
                .get("var")
                .and_then(Value::as_str)
                .unwrap_or("i")
                .to_string(),
            steps: parse_steps(
                obj.get("steps").unwrap_or(&Value::Null),
                &format!("{at}.steps"),
            )?,
            until,
        });
    }
    if let Some(d) = obj.get("sleep") {
        return Ok(Step::Sleep(d.clone()));
    }
    if let Some(c) = obj.get("close") {
        let code = c.get("code").and_then(Value::as_u64).unwrap_or(1000);
        let reason = c
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("scenario end");
        return Ok(Step::Close(code as u16, reason.to_string()));
    }
    if obj.get("drop").is_some_and(|d| d == &Value::Bool(true)) {
        return Ok(Step::Drop);
    }
    Err(invalid(at, format!("unknown step {v}")))
}

/// `{"$pcm16_b64": N}` → base64 of N bytes of a deterministic 440 Hz PCM16 tone.
fn resolve_macros(v: &Value) -> Value {
    match v {
        Value::Object(m) if m.len() == 1 && m.contains_key("$pcm16_b64") => {
            let n = m["$pcm16_b64"].as_u64().unwrap_or(0) as usize;
            Value::String(base64::engine::general_purpose::STANDARD.encode(pcm16(n)))
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), resolve_macros(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(resolve_macros).collect()),
        other => other.clone(),
    }
}

fn pcm16(nbytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(nbytes);
    for n in 0..nbytes / 2 {
        let s = (8000.0 * (std::f64::consts::TAU * 440.0 * n as f64 / 24_000.0).sin()) as i16;
        out.extend_from_slice(&s.to_le_bytes());
    }
    out.resize(nbytes, 0);
    out
}

/// Substitute `"{{#var}}"` (the raw JSON value) and `{{var}}` (a string's
/// JSON-escaped text, or a number) in serialized JSON.
fn render(text: &str, env: &Map<String, Value>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        let raw = i > 0 && rest[..i].ends_with('"') && rest[i + 2..].starts_with('#');
        let start = if raw { i + 3 } else { i + 2 };
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        let name = &rest[start..start + len];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.push_str(&rest[..i + 2]);
            rest = &rest[i + 2..];
            continue;
        }
        let value = env
            .get(name)
            .ok_or_else(|| format!("unbound placeholder {{{{{name}}}}}"))?;
        let end = start + len + 2;
        if raw && rest[end..].starts_with('"') {
            out.push_str(&rest[..i - 1]);
            out.push_str(&value.to_string());
            rest = &rest[end + 1..];
        } else {
            out.push_str(&rest[..i]);
            match value {
                Value::String(s) => {
                    let quoted = Value::String(s.clone()).to_string();
                    out.push_str(&quoted[1..quoted.len() - 1]);
                }
                other => out.push_str(&other.to_string()),
            }
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn substitute(v: &Value, env: &Map<String, Value>) -> Result<Value, String> {
    match v {
        Value::String(s) if s.contains("{{") => {
            let quoted = render(&Value::String(s.clone()).to_string(), env)?;
            serde_json::from_str(&quoted).map_err(|e| e.to_string())
        }
        other => Ok(other.clone()),
    }
}

fn get_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, part| match cur {
        Value::Object(m) => m.get(part),
        Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

impl Matcher {
    fn matches(&self, ev: &Value, env: &Map<String, Value>) -> bool {
        if let Some(kind) = &self.kind
            && ev.get("type").and_then(Value::as_str) != Some(kind)
        {
            return false;
        }
        self.fields.iter().all(|(path, want)| {
            let want = substitute(want, env).unwrap_or_else(|_| want.clone());
            // A placeholder renders to text; compare text to text when the event holds a number.
            match (get_path(ev, path), &want) {
                (Some(Value::Number(n)), Value::String(s)) => n.to_string() == *s,
                (got, want) => got.unwrap_or(&Value::Null) == want,
            }
        })
    }
}

/// How one connection's script ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionResult {
    pub conn: usize,
    /// `None` when every step ran; else what failed.
    pub error: Option<String>,
    /// Types of client events no expect consumed.
    pub unconsumed: Vec<String>,
}

/// One client event as received, with the connection it came on.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRecord {
    pub conn: usize,
    pub event: Value,
}

#[derive(Default)]
struct Shared {
    log: Mutex<Vec<ClientRecord>>,
    results: Mutex<Vec<ConnectionResult>>,
}

impl Shared {
    fn record(&self, conn: usize, event: Value) {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(ClientRecord { conn, event });
    }
}

/// A loopback WebSocket server playing a [`Scenario`] to every connection.
pub struct ScenarioServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    done: watch::Receiver<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl ScenarioServer {
    /// Bind a free loopback port and play `scenario` to each connection.
    pub async fn start(scenario: Scenario) -> std::io::Result<ScenarioServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let (done_tx, done) = watch::channel(0usize);
        let done_tx = Arc::new(done_tx);
        let scenario = Arc::new(scenario);
        let task = {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut conn = 0;
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    let (scenario, shared, done_tx) =
                        (scenario.clone(), shared.clone(), done_tx.clone());
                    tokio::spawn(async move {
                        let result = play(stream, conn, &scenario, &shared).await;
                        // A replay that diverged is what its user is looking for: say so at warn.
                        match &result.error {
                            Some(error) => {
                                tracing::warn!(scenario = %scenario.name, conn, %error, "scenario connection failed")
                            }
                            None => {
                                tracing::debug!(scenario = %scenario.name, conn, "scenario connection ended")
                            }
                        }
                        shared
                            .results
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(result);
                        done_tx.send_modify(|n| *n += 1);
                    });
                    conn += 1;
                }
            })
        };
        Ok(ScenarioServer {
            addr,
            shared,
            done,
            task,
        })
    }

    /// `ws://127.0.0.1:PORT/v1/realtime?model=…`
    pub fn url(&self, model: &str) -> String {
        format!("ws://{}/v1/realtime?model={model}", self.addr)
    }

    /// Every client event received so far (handshakes as `{"type": "_handshake", ..}`).
    pub fn client_events(&self) -> Vec<ClientRecord> {
        self.shared
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Wait until `n` connections have finished their scripts; their results by connection.
    pub async fn finished(&self, n: usize, limit: Duration) -> Option<Vec<ConnectionResult>> {
        let mut done = self.done.clone();
        tokio::time::timeout(limit, done.wait_for(|d| *d >= n))
            .await
            .ok()?
            .ok()?;
        let mut results = self
            .shared
            .results
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        results.sort_by_key(|r| r.conn);
        Some(results)
    }
}

impl Drop for ScenarioServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Sink = futures_util::stream::SplitSink<tokio_tungstenite::WebSocketStream<TcpStream>, Message>;

struct Conn<'a> {
    conn: usize,
    sink: Sink,
    incoming: mpsc::UnboundedReceiver<Value>,
    queue: VecDeque<Value>,
    closed: bool,
    env: Map<String, Value>,
    eid: u64,
    expect_timeout: Duration,
    _shared: &'a Shared,
}

enum Outcome {
    Done,
    Closed,
    Dropped,
}

async fn play(
    stream: TcpStream,
    conn: usize,
    scenario: &Scenario,
    shared: &Arc<Shared>,
) -> ConnectionResult {
    let mut result = ConnectionResult {
        conn,
        error: None,
        unconsumed: Vec::new(),
    };
    let mut handshake = json!({"type": "_handshake"});
    // The callback's error type is tungstenite's, not ours.
    #[allow(clippy::result_large_err)]
    let record = |req: &Request, resp: Response| {
        let headers: Map<String, Value> = req
            .headers()
            .iter()
            .map(|(k, v)| {
                let v = v.to_str().unwrap_or("<binary>");
                // Like the peer's capture: never keep a credential, only its shape.
                let v = if k.as_str() == "authorization" {
                    let scheme = v.split(' ').next().unwrap_or("");
                    format!("<redacted {} chars, scheme={scheme}>", v.len())
                } else {
                    v.to_string()
                };
                (k.as_str().to_string(), Value::String(v))
            })
            .collect();
        handshake["path"] = json!(req.uri().to_string());
        handshake["headers"] = Value::Object(headers);
        Ok(resp)
    };
    let ws = match tokio_tungstenite::accept_hdr_async(stream, record).await {
        Ok(ws) => ws,
        Err(e) => {
            result.error = Some(format!("handshake failed: {e}"));
            return result;
        }
    };
    shared.record(conn, handshake);
    let (sink, mut stream) = ws.split();
    let (tx, incoming) = mpsc::unbounded_channel();
    let reader = {
        let shared = shared.clone();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let Message::Text(text) = msg else {
                    continue;
                };
                let event = serde_json::from_str(text.as_str())
                    .unwrap_or_else(|_| json!({"type": "_unparseable", "raw": text.as_str()}));
                shared.record(conn, event.clone());
                if tx.send(event).is_err() {
                    break;
                }
            }
        })
    };
    let mut env = scenario.vars.clone();
    env.insert("conn".into(), json!(conn));
    let mut c = Conn {
        conn,
        sink,
        incoming,
        queue: VecDeque::new(),
        closed: false,
        env,
        eid: 0,
        expect_timeout: scenario.expect_timeout,
        _shared: shared,
    };
    let steps = scenario
        .connections
        .get(conn)
        .or_else(|| scenario.connections.last())
        .cloned()
        .unwrap_or_default();
    let run = tokio::time::timeout(scenario.timeout, c.run(&steps)).await;
    let outcome = match run {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => {
            result.error = Some(e);
            Outcome::Done
        }
        Err(_) => {
            result.error = Some(format!("scenario timeout {:?}", scenario.timeout));
            Outcome::Done
        }
    };
    match outcome {
        Outcome::Dropped => {
            // No close frame: the client must notice a dead peer by itself.
            reader.abort();
            c.drain();
        }
        Outcome::Done | Outcome::Closed => {
            if let Some(e) = &result.error {
                let ev = json!({"type": "error", "event_id": format!("event_srv_{conn}_fail"),
                                "error": {"type": "scenario_error", "code": "scenario_failed", "message": e}});
                let _ = c.sink.send(Message::text(ev.to_string())).await;
            }
            if !matches!(outcome, Outcome::Closed) {
                let (code, reason) = match result.error {
                    None => (CloseCode::Normal, "scenario end"),
                    Some(_) => (CloseCode::Error, "scenario failed"),
                };
                let _ = c
                    .sink
                    .send(Message::Close(Some(CloseFrame {
                        code,
                        reason: reason.into(),
                    })))
                    .await;
            }
            // Let the reader see the client's close reply, then stop it.
            let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
            c.drain();
        }
    }
    result.unconsumed = c
        .queue
        .iter()
        .map(|e| e["type"].as_str().unwrap_or("?").to_string())
        .collect();
    result
}

impl Conn<'_> {
    fn drain(&mut self) {
        loop {
            match self.incoming.try_recv() {
                Ok(ev) => self.queue.push_back(ev),
                Err(mpsc::error::TryRecvError::Empty) => return,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.closed = true;
                    return;
                }
            }
        }
    }

    fn find(&self, m: &Matcher) -> Option<usize> {
        self.queue.iter().position(|ev| m.matches(ev, &self.env))
    }

    fn run<'s>(
        &'s mut self,
        steps: &'s [Step],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Outcome, String>> + Send + 's>>
    {
        Box::pin(async move {
            for step in steps {
                match step {
                    Step::Emit(template) => {
                        self.eid += 1;
                        self.env.insert(
                            "_eid".into(),
                            json!(format!("event_srv_{}_{}", self.conn, self.eid)),
                        );
                        let text = render(template, &self.env)?;
                        if self.sink.send(Message::text(text)).await.is_err() {
                            return Err("connection closed by the client".into());
                        }
                    }
                    Step::Expect(e) => self.await_expected(e).await?,
                    Step::Loop {
                        values,
                        var,
                        steps,
                        until,
                    } => {
                        let values: Vec<Value> = match values {
                            LoopValues::List(l) => l.clone(),
                            LoopValues::Count(n) => {
                                let n = substitute(n, &self.env)?;
                                let n = n
                                    .as_u64()
                                    .or_else(|| n.as_str().and_then(|s| s.parse().ok()))
                                    .ok_or_else(|| format!("repeat count {n} is not a number"))?;
                                (0..n).map(|i| json!(i)).collect()
                            }
                        };
                        let saved = self.env.get(var).cloned();
                        for (idx, v) in values.into_iter().enumerate() {
                            if let Some(u) = until {
                                self.drain();
                                if self.find(u).is_some() {
                                    break;
                                }
                            }
                            self.env.insert(var.clone(), v);
                            self.env.insert(format!("{var}_idx"), json!(idx));
                            match self.run(steps).await? {
                                Outcome::Done => {}
                                other => return Ok(other),
                            }
                        }
                        if let Some(saved) = saved {
                            self.env.insert(var.clone(), saved);
                        }
                    }
                    Step::Sleep(d) => {
                        let d = substitute(d, &self.env)?;
                        let secs = d
                            .as_f64()
                            .or_else(|| d.as_str().and_then(|s| s.parse().ok()))
                            .ok_or_else(|| format!("sleep {d} is not a number"))?;
                        if secs > 0.0 && secs < 86_400.0 {
                            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                        }
                    }
                    Step::Close(code, reason) => {
                        let frame = CloseFrame {
                            code: CloseCode::from(*code),
                            reason: reason.clone().into(),
                        };
                        let _ = self.sink.send(Message::Close(Some(frame))).await;
                        return Ok(Outcome::Closed);
                    }
                    Step::Drop => return Ok(Outcome::Dropped),
                }
            }
            Ok(Outcome::Done)
        })
    }

    async fn await_expected(&mut self, e: &Expect) -> Result<(), String> {
        for (k, v) in &e.defaults {
            self.env.insert(k.clone(), v.clone());
        }
        let deadline = Instant::now() + e.timeout.unwrap_or(self.expect_timeout);
        loop {
            self.drain();
            if let Some(i) = self.find(&e.matcher) {
                if let Some(ev) = self.queue.remove(i) {
                    for (var, path) in &e.capture {
                        if let Some(v) = get_path(&ev, path).filter(|v| !v.is_null()) {
                            self.env.insert(var.clone(), v.clone());
                        }
                    }
                }
                return Ok(());
            }
            let what = || {
                let fields: Vec<String> = e
                    .matcher
                    .fields
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                format!(
                    "{} {}",
                    e.matcher.kind.as_deref().unwrap_or("any event"),
                    fields.join(" ")
                )
            };
            if self.closed {
                return if e.optional {
                    Ok(())
                } else {
                    Err(format!("connection closed while expecting {}", what()))
                };
            }
            match tokio::time::timeout_at(deadline, self.incoming.recv()).await {
                Ok(Some(ev)) => self.queue.push_back(ev),
                Ok(None) => self.closed = true,
                Err(_) if e.optional => return Ok(()),
                Err(_) => return Err(format!("timeout expecting {}", what())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_render_as_the_peer_server_does() {
        let mut env = Map::new();
        env.insert("i".into(), json!(3));
        env.insert("s".into(), json!("a \"q\""));
        env.insert("n".into(), json!({"x": 1}));
        let t = json!({"id": "call_{{i}}", "text": "{{s}}", "raw": "{{#n}}", "keep": "{{ not a var }}"}).to_string();
        let out: Value = serde_json::from_str(&render(&t, &env).unwrap()).unwrap();
        assert_eq!(
            out,
            json!({"id": "call_3", "text": "a \"q\"", "raw": {"x": 1}, "keep": "{{ not a var }}"})
        );
        assert!(render("{{missing}}", &env).is_err());
    }

    #[test]
    fn steps_parse_and_bad_steps_name_their_place() {
        let s = Scenario::from_value(&json!({"steps": [
            {"emit": {"type": "session.created", "session": {}}},
            {"expect": "session.update", "match": {"session.type": "realtime"}},
            {"repeat": "{{n}}", "var": "i", "steps": [{"sleep": 0}]},
            {"emit": {"type": "response.output_audio.delta", "delta": {"$pcm16_b64": 6}}},
            {"drop": true}
        ], "vars": {"n": 2}}))
        .unwrap();
        assert_eq!(s.connections[0].len(), 5);
        match &s.connections[0][3] {
            Step::Emit(t) => {
                let v: Value = serde_json::from_str(t).unwrap();
                let audio = base64::engine::general_purpose::STANDARD
                    .decode(v["delta"].as_str().unwrap())
                    .unwrap();
                assert_eq!(audio.len(), 6);
                assert_eq!(v["event_id"], "{{_eid}}");
            }
            other => panic!("{other:?}"),
        }
        let e = Scenario::from_value(&json!({"steps": [{"emit": {"type": "x"}}, {"wait": 1}]}))
            .unwrap_err();
        assert!(e.to_string().contains("steps[1]"), "{e}");
    }

    #[test]
    fn matches_compare_dotted_paths_after_substitution() {
        let m = Matcher {
            kind: Some("conversation.item.create".into()),
            fields: vec![
                ("item.call_id".into(), json!("call_{{i}}")),
                ("item.content.0.text".into(), json!("hi")),
            ],
        };
        let mut env = Map::new();
        env.insert("i".into(), json!(7));
        let ev = json!({"type": "conversation.item.create", "item": {"call_id": "call_7", "content": [{"text": "hi"}]}});
        assert!(m.matches(&ev, &env));
        env.insert("i".into(), json!(8));
        assert!(!m.matches(&ev, &env));
    }
}
