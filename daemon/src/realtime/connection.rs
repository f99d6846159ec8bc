//! The model connection's task: it moves bytes and keeps timers, and leaves
//! every protocol decision to the [`Conversation`] it drives.
//!
//! One task per session owns the socket: it opens it (TCP, TLS via `tls`,
//! the WebSocket upgrade with the bearer key), reads frames, parses them,
//! feeds them to the conversation and carries out its effects (frames to
//! write, [`ModelEvent`]s for the session), and feeds it the session's
//! commands the same way.
//!
//! Writing never blocks the task: frames go to a queue the task flushes
//! while it keeps reading, pinging and taking commands. So a peer that stops
//! reading (a full TCP buffer) is still watched.
//!
//! Keepalive: a WebSocket ping goes out every `ping_interval`. At each ping
//! the peer is declared dead when it sent nothing at all (no event, no pong)
//! for `dead_after`, or when frames have been waiting to be written for
//! `dead_after` without the socket taking any of them.
//!
//! Reconnect: on an unexpected loss the task reconnects with exponential
//! backoff and jitter ([`Resilience::backoff`]), taking commands meanwhile
//! (the conversation keeps what matters of them). A connection is *usable*
//! once its server sent `session.created` — the first event of every
//! Realtime session. A connection lost before it was usable counts as a
//! failed attempt even though it opened: a server that accepts and drops
//! every connection at once ends the session after `max_attempts`, instead
//! of resetting the count forever. Losing a usable connection starts the
//! count again at 1. The session sees `ConnectionStatus` events and, after
//! the last failed attempt, an `Error` (`model_reconnect_failed`) and
//! `Closed` with the reason.
//!
//! [`Resilience::backoff`]: crate::config::Resilience::backoff

use crate::metrics::metrics;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{Sink, StreamExt};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest, http::HeaderValue};

use super::conversation::{Conversation, Effect};
use super::endpoint::Endpoint;
use super::model::{LinkStatus, ModelCommand, ModelEvent};
use super::protocol::{ClientEvent, ServerEvent, SessionConfig, parse_server_event};
use super::tls;

/// Why a connection could not be made or went away.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("bad model url `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
}

/// A live connection: send commands, receive events.
pub struct ModelConnection {
    pub commands: mpsc::UnboundedSender<ModelCommand>,
    pub events: mpsc::Receiver<ModelEvent>,
}

/// How long TCP, TLS and the WebSocket handshake may take together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a close asked for may take to flush what is queued.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Connect and send the initial session settings before anything else.
pub async fn connect(
    endpoint: &Endpoint,
    initial: SessionConfig,
) -> Result<ModelConnection, ConnectError> {
    let failed = |reason: String| ConnectError::Connect {
        url: endpoint.url.clone(),
        reason,
    };
    let mut link = Link::open(endpoint).await?;
    let mut conversation =
        Conversation::new(initial, endpoint.tracing.clone()).with_media(endpoint.media);
    conversation.on_connected();
    // A fresh conversation only has its settings to send; anything it has
    // for the session waits for the task.
    let mut early = Vec::new();
    while let Some(effect) = conversation.poll_effect() {
        match effect {
            Effect::Send(ev) => link.queue(&ev).map_err(|e| failed(e.to_string()))?,
            Effect::Emit(ev) => early.push(ev),
        }
    }
    tokio::time::timeout(CONNECT_TIMEOUT, link.writer.flush())
        .await
        .map_err(|_| failed(format!("timed out after {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| failed(e.to_string()))?;
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::channel(1024);
    let task = Task {
        endpoint: endpoint.clone(),
        conversation,
        events: ev_tx,
        commands: cmd_rx,
    };
    tokio::spawn(tracing::Instrument::in_current_span(task.run(link, early)));
    Ok(ModelConnection {
        commands: cmd_tx,
        events: ev_rx,
    })
}

type Ws = tokio_tungstenite::WebSocketStream<tls::Stream>;

/// A client event could not become a frame.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode `{kind}`: {source}")]
struct EncodeError {
    kind: String,
    source: serde_json::Error,
}

/// `ev` as a text frame; a failure names the event's type instead of
/// producing an empty frame.
fn encode(ev: &impl Serialize, kind: &str) -> Result<Message, EncodeError> {
    serde_json::to_string(ev)
        .map(Message::text)
        .map_err(|source| EncodeError {
            kind: kind.to_string(),
            source,
        })
}

/// One open WebSocket, read and written independently.
struct Link {
    reader: SplitStream<Ws>,
    writer: Writer,
}

impl Link {
    /// Open the WebSocket (handshake with the bearer key and extra headers).
    async fn open(endpoint: &Endpoint) -> Result<Link, ConnectError> {
        let mut request =
            endpoint
                .url
                .as_str()
                .into_client_request()
                .map_err(|e| ConnectError::BadUrl {
                    url: endpoint.url.clone(),
                    reason: e.to_string(),
                })?;
        let headers = request.headers_mut();
        let bad_header = |reason: String| ConnectError::BadUrl {
            url: endpoint.url.clone(),
            reason,
        };
        if let Some(key) = &endpoint.api_key {
            let value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                bad_header("the API key holds characters not allowed in a header".into())
            })?;
            headers.insert("authorization", value);
        }
        for (k, v) in &endpoint.headers {
            let name = tungstenite::http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| bad_header(format!("bad header name `{k}`")))?;
            let value = HeaderValue::from_str(v)
                .map_err(|_| bad_header(format!("bad value for header `{k}`")))?;
            headers.insert(name, value);
        }
        headers.insert(
            "user-agent",
            HeaderValue::from_static(concat!("agentd/", env!("CARGO_PKG_VERSION"))),
        );
        let ws = tokio::time::timeout(CONNECT_TIMEOUT, handshake(endpoint, request))
            .await
            .map_err(|_| ConnectError::Connect {
                url: endpoint.url.clone(),
                reason: format!("timed out after {CONNECT_TIMEOUT:?}"),
            })??;
        let (sink, reader) = ws.split();
        Ok(Link {
            reader,
            writer: Writer {
                sink,
                queue: VecDeque::new(),
                unflushed: false,
                waiting_since: None,
            },
        })
    }

    /// Queue `ev` for the socket.
    fn queue(&mut self, ev: &ClientEvent) -> Result<(), EncodeError> {
        let frame = encode(ev, ev.kind()).inspect_err(|e| {
            tracing::error!(event = ev.kind(), error = %e.source, "client event not sent: it cannot be serialized");
        })?;
        self.writer.push(frame);
        Ok(())
    }

    /// Send a close frame after what is queued, for a little while at most.
    async fn close(mut self) {
        self.writer.push(Message::Close(None));
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.writer.flush()).await;
    }
}

/// TCP, then TLS for `wss://`, then the WebSocket upgrade.
async fn handshake(
    endpoint: &Endpoint,
    request: tungstenite::handshake::client::Request,
) -> Result<Ws, ConnectError> {
    let failed = |reason: String| ConnectError::Connect {
        url: endpoint.url.clone(),
        reason,
    };
    let uri = request.uri();
    let secure = match uri.scheme_str() {
        Some("wss") => true,
        Some("ws") => false,
        _ => {
            return Err(ConnectError::BadUrl {
                url: endpoint.url.clone(),
                reason: "the scheme must be ws:// or wss://".into(),
            });
        }
    };
    let host = uri.host().unwrap_or_default().to_string();
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let tcp =
        tokio::net::TcpStream::connect((host.trim_start_matches('[').trim_end_matches(']'), port))
            .await
            .map_err(|e| failed(e.to_string()))?;
    // Realtime traffic is many small events: send each at once.
    let _ = tcp.set_nodelay(true);
    let stream = if secure {
        // Reading a CA file and building the root store is blocking work.
        let ca_file = endpoint.ca_file.clone();
        let config = tokio::task::spawn_blocking(move || tls::client_config(ca_file.as_deref()))
            .await
            .map_err(|e| failed(format!("TLS setup task failed: {e}")))?
            .map_err(|e| failed(e.to_string()))?;
        tls::Stream::tls(tcp, &host, config)
            .await
            .map_err(|e| failed(format!("TLS handshake failed: {e}")))?
    } else {
        tls::Stream::Plain(tcp)
    };
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(ws_config()))
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(ws)
}

/// Buffers sized for realtime frames, not tungstenite's defaults (a 128 KiB
/// read buffer allocated up front per connection — most of an idle
/// session's memory). Events are small (text deltas, audio chunks of a few
/// KiB of base64); the read buffer grows for a bigger frame when one comes.
pub fn ws_config() -> tungstenite::protocol::WebSocketConfig {
    tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
}

/// Bytes read from the socket at a time, and allocated per connection.
const READ_BUFFER: usize = 8 << 10;
/// Frames are written once this much is queued (or at a flush, which the
/// writer does whenever its queue empties).
const WRITE_BUFFER: usize = 16 << 10;

/// The write half with its queue: frames wait here, never in an `await`
/// that would stop the task.
struct Writer {
    sink: SplitSink<Ws, Message>,
    queue: VecDeque<Message>,
    /// Frames were handed to the socket and not flushed yet.
    unflushed: bool,
    /// Since when work has been waiting without the socket taking any;
    /// `None` when everything is flushed.
    waiting_since: Option<Instant>,
}

impl Writer {
    fn push(&mut self, frame: Message) {
        self.waiting_since.get_or_insert_with(Instant::now);
        self.queue.push_back(frame);
    }

    fn is_idle(&self) -> bool {
        self.waiting_since.is_none()
    }

    /// How long queued work has waited with no progress.
    fn stalled_for(&self) -> Duration {
        self.waiting_since.map_or(Duration::ZERO, |t| t.elapsed())
    }

    /// Hand queued frames to the socket and flush them; ready when all are
    /// written. Each frame leaves the queue only as the sink takes it, so
    /// dropping this future between polls loses nothing.
    fn poll_drive(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), tungstenite::Error>> {
        while !self.queue.is_empty() {
            ready!(Pin::new(&mut self.sink).poll_ready(cx))?;
            let Some(frame) = self.queue.pop_front() else {
                break;
            };
            Pin::new(&mut self.sink).start_send(frame)?;
            self.unflushed = true;
            self.waiting_since = Some(Instant::now());
        }
        if self.unflushed {
            ready!(Pin::new(&mut self.sink).poll_flush(cx))?;
            self.unflushed = false;
        }
        self.waiting_since = None;
        Poll::Ready(Ok(()))
    }

    async fn flush(&mut self) -> Result<(), tungstenite::Error> {
        poll_fn(|cx| self.poll_drive(cx)).await
    }
}

/// Why serving one socket ended.
enum Ended {
    /// The session asked to close, or is gone.
    Requested,
    /// The socket was lost; `usable` says whether it had become usable.
    Lost { reason: String, usable: bool },
}

/// How reconnecting ended.
enum Reconnected {
    /// A new socket, opened by attempt `attempt`.
    Up { link: Link, attempt: u32 },
    /// The session closed meanwhile.
    Closed,
    /// Every attempt failed; the reason to report.
    GaveUp(String),
}

struct Task {
    endpoint: Endpoint,
    conversation: Conversation,
    events: mpsc::Sender<ModelEvent>,
    commands: mpsc::UnboundedReceiver<ModelCommand>,
}

impl Task {
    async fn emit(&self, ev: ModelEvent) {
        // A closed receiver means the session is gone; the loop ends on its next command read.
        let _ = self.events.send(ev).await;
    }

    async fn status(&self, status: LinkStatus, attempt: Option<u32>, reason: Option<String>) {
        self.emit(ModelEvent::ConnectionStatus {
            status,
            attempt,
            reason,
        })
        .await;
    }

    /// Carry out the conversation's effects: frames onto `link` (there is
    /// none while reconnecting, and the conversation sends nothing then),
    /// events to the session. `Err` when a frame cannot be made.
    async fn apply(&mut self, mut link: Option<&mut Link>) -> Result<(), String> {
        while let Some(effect) = self.conversation.poll_effect() {
            match effect {
                Effect::Emit(ev) => self.emit(ev).await,
                Effect::Send(ev) => match link.as_deref_mut() {
                    Some(link) => {
                        link.queue(&ev)
                            .map_err(|e| format!("cannot send to the model: {e}"))?;
                        metrics().client_events.inc();
                    }
                    None => tracing::debug!(event = ev.kind(), "not sent: no connection"),
                },
            }
        }
        Ok(())
    }

    async fn run(mut self, mut link: Link, early: Vec<ModelEvent>) {
        metrics().model_connections.inc();
        metrics().model_connections_open.inc();
        self.status(LinkStatus::Connected, None, None).await;
        for ev in early {
            self.emit(ev).await;
        }
        // The attempt that opened the current socket; 0 for the first connect.
        let mut attempt = 0;
        let error = loop {
            let lost = match self.serve(&mut link).await {
                Ended::Requested => {
                    link.close().await;
                    metrics().model_connections_open.dec();
                    break None;
                }
                Ended::Lost { reason, usable } => {
                    tracing::warn!(url = %self.endpoint.url, %reason, usable, "model connection lost");
                    if usable {
                        attempt = 0;
                    }
                    reason
                }
            };
            drop(link);
            metrics().model_connections_open.dec();
            self.conversation.on_disconnected();
            let _ = self.apply(None).await;
            match self.reconnect(attempt, lost).await {
                Reconnected::Up {
                    link: next,
                    attempt: n,
                } => {
                    metrics().model_connections.inc();
                    metrics().model_connections_open.inc();
                    link = next;
                    attempt = n;
                }
                Reconnected::Closed => break None,
                Reconnected::GaveUp(reason) => {
                    self.emit(ModelEvent::Error {
                        code: Some("model_reconnect_failed".into()),
                        message: reason.clone(),
                    })
                    .await;
                    break Some(reason);
                }
            }
        };
        self.emit(ModelEvent::Closed { error }).await;
    }

    /// Serve one socket until it is lost or the session closes.
    async fn serve(&mut self, link: &mut Link) -> Ended {
        let policy = self.endpoint.resilience.clone();
        let mut ping =
            tokio::time::interval_at(Instant::now() + policy.ping_interval, policy.ping_interval);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        let mut usable = false;
        let lost = |reason: String, usable: bool| Ended::Lost { reason, usable };
        loop {
            tokio::select! {
                msg = link.reader.next() => {
                    last_heard = Instant::now();
                    match msg {
                        Some(Ok(Message::Text(text))) => {
                            metrics().server_events.inc();
                            let (raw, ev) = parse_server_event(text.as_str());
                            usable |= matches!(ev, ServerEvent::SessionCreated { .. });
                            self.conversation.on_server_event(raw, ev);
                            if let Err(reason) = self.apply(Some(link)).await {
                                return lost(reason, usable);
                            }
                        }
                        Some(Ok(Message::Close(frame))) => {
                            return lost(match frame {
                                Some(f) => format!("model closed the connection: {} {}", f.code, f.reason),
                                None => "model closed the connection".to_string(),
                            }, usable);
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => return lost(format!("model connection failed: {e}"), usable),
                        None => return lost("model connection ended".to_string(), usable),
                    }
                }
                written = link.writer.flush(), if !link.writer.is_idle() => {
                    if let Err(e) = written {
                        return lost(format!("cannot send to the model: {e}"), usable);
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() >= policy.dead_after {
                        return lost(format!(
                            "model sent nothing for {:?} (dead peer)",
                            policy.dead_after
                        ), usable);
                    }
                    if link.writer.stalled_for() >= policy.dead_after {
                        return lost(format!(
                            "model read nothing for {:?} (dead peer)",
                            policy.dead_after
                        ), usable);
                    }
                    link.writer.push(Message::Ping(Default::default()));
                }
                cmd = self.commands.recv() => match cmd {
                    None | Some(ModelCommand::Close) => return Ended::Requested,
                    Some(cmd) => {
                        self.conversation.on_command(cmd);
                        if let Err(reason) = self.apply(Some(link)).await {
                            return lost(reason, usable);
                        }
                    }
                },
            }
        }
    }

    /// Reconnect with backoff, starting after attempt `after`; `lost` is why
    /// the last socket went away.
    async fn reconnect(&mut self, after: u32, lost: String) -> Reconnected {
        let policy = self.endpoint.resilience.clone();
        let mut last_error = lost;
        for attempt in after.saturating_add(1)..=policy.max_attempts {
            self.status(
                LinkStatus::Reconnecting,
                Some(attempt),
                Some(last_error.clone()),
            )
            .await;
            let wait = tokio::time::sleep(policy.backoff(attempt));
            tokio::pin!(wait);
            // Keep taking commands while waiting: the conversation keeps what matters.
            loop {
                tokio::select! {
                    _ = &mut wait => break,
                    cmd = self.commands.recv() => match cmd {
                        None | Some(ModelCommand::Close) => return Reconnected::Closed,
                        Some(cmd) => {
                            self.conversation.on_command(cmd);
                            let _ = self.apply(None).await;
                        }
                    },
                }
            }
            metrics().model_reconnects.inc();
            match Link::open(&self.endpoint).await {
                Ok(mut link) => {
                    self.conversation.on_connected();
                    match self.apply(Some(&mut link)).await {
                        Ok(()) => {
                            tracing::info!(url = %self.endpoint.url, attempt, "model connection restored");
                            self.status(LinkStatus::Connected, Some(attempt), None)
                                .await;
                            return Reconnected::Up { link, attempt };
                        }
                        Err(reason) => {
                            self.conversation.on_disconnected();
                            let _ = self.apply(None).await;
                            last_error = format!("cannot resume: {reason}");
                        }
                    }
                }
                Err(e) => last_error = e.to_string(),
            }
            tracing::warn!(url = %self.endpoint.url, attempt, error = %last_error, "reconnect failed");
        }
        Reconnected::GaveUp(format!(
            "gave up reconnecting to the model after {} attempts: {last_error}",
            policy.max_attempts
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value whose serialization always fails, as a bug in a hand-written
    /// `Serialize` would.
    struct Unserializable;

    impl Serialize for Unserializable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("this value cannot be written"))
        }
    }

    #[test]
    fn a_serialization_failure_is_an_error_naming_the_event_not_an_empty_frame() {
        let e = encode(&Unserializable, "session.update").unwrap_err();
        let shown = e.to_string();
        assert!(shown.contains("`session.update`"), "{shown}");
        assert!(shown.contains("this value cannot be written"), "{shown}");

        let ok = encode(
            &ClientEvent::InputAudioBufferCommit { event_id: None },
            "input_audio_buffer.commit",
        )
        .unwrap();
        assert_eq!(
            ok.to_text().unwrap(),
            r#"{"type":"input_audio_buffer.commit"}"#
        );
    }
}
