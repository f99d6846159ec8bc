//! The scenario server: a loopback WebSocket server that plays a
//! [`Scenario`] to every connection it accepts and records what the client
//! sends.
//!
//! Each connection has a reader task that queues (and records) the client's
//! events, so an `expect` step consumes the first queued event that matches
//! wherever it is in the queue (order-tolerant, like the peer server). A
//! connection's outcome (every step ran, or what failed) is kept for the
//! caller with the types of the events no step consumed.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::script::{Expect, LoopValues, Matcher, Scenario, Step, get_path, render, substitute};

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
