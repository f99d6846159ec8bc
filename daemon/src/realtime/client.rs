//! The model connection: one WebSocket to a realtime endpoint, owned by one task.
//!
//! It turns wire events into [`ModelEvent`]s the session engine understands
//! and the engine's [`ModelCommand`]s into wire events. Two rules of the
//! protocol live here so the engine never has to think about them:
//! - a function call is dispatched once per `call_id`, whichever of
//!   `response.function_call_arguments.done` or a completed
//!   `response.output_item.done` arrives first;
//! - `response.create` is never sent while a response is in progress: it is
//!   held until `response.done`, and several held requests become one;
//! - an interrupt truncates the item being heard at the playback position the
//!   attached client reported (else at the audio delivered), and audio of the
//!   interrupted response still on the wire is dropped, never half delivered.
//!
//! It also keeps the session alive across connections. A WebSocket ping goes
//! out every `ping_interval`; a peer silent for `dead_after` is dead. On an
//! unexpected disconnect the task reconnects with exponential backoff and
//! jitter, re-sends the latest settings, replays the conversation (every item
//! the server confirmed, then the items it never confirmed, each once) and
//! asks again for a response that was lost. Commands that arrive meanwhile
//! are kept: a tool output produced while disconnected is sent after the
//! reconnect, once. The session sees `ConnectionStatus` events and, after
//! `max_attempts` failures, `Closed` with the reason.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest, http::HeaderValue};

pub use super::endpoint::Endpoint;
use super::protocol::{
    ClientEvent, ContentPart, FunctionCallItem, FunctionCallOutputItem, Item, MessageItem, Role,
    ServerEvent, SessionConfig, Usage, parse_server_event,
};
use super::tls;
pub use crate::config::Resilience;

/// Why a connection could not be made or went away.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("bad model url `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
}

/// What the session asks of the model.
#[derive(Debug)]
pub enum ModelCommand {
    /// A user text message; starts a response.
    UserText(String),
    /// A user message with any content (text, images); starts a response.
    UserInput(Vec<ContentPart>),
    /// Raw PCM/G.711 audio (base64) for the input buffer; `commit` ends the turn.
    Audio { audio: String, commit: bool },
    /// Replace the session settings (agent change, handoff, reload).
    UpdateSession(Box<SessionConfig>),
    /// A tool's output for `call_id`; `start_response` asks for the model's next turn.
    ToolOutput {
        call_id: String,
        output: String,
        start_response: bool,
    },
    /// Stop playback; `force_cancel` also cancels the response in progress.
    Interrupt { force_cancel: bool },
    /// The attached client has played `played_ms` of `item_id`'s audio: an
    /// interrupt truncates there rather than at the audio delivered.
    Playback { item_id: String, played_ms: u64 },
    /// Any client event, sent as is (`response.create` still goes through the gate).
    Raw(Box<ClientEvent>),
    /// Close the socket and end the task.
    Close,
}

/// What the model did, in the terms the session engine works with.
#[derive(Debug, Clone)]
pub enum ModelEvent {
    /// Every server message, verbatim, before anything else is derived from it.
    Raw(Value),
    /// A server `error` event or a message that could not be understood.
    Error {
        code: Option<String>,
        message: String,
    },
    /// The model wants a tool run.
    FunctionCall {
        item_id: String,
        call_id: String,
        name: String,
        arguments: String,
    },
    /// A chunk of output audio (base64).
    Audio {
        item_id: String,
        content_index: u32,
        response_id: String,
        audio: String,
    },
    AudioDone {
        item_id: String,
        content_index: u32,
    },
    AudioInterrupted {
        item_id: String,
        content_index: u32,
    },
    /// Audio of an interrupted response that arrived afterwards and was not delivered.
    AudioDropped {
        item_id: String,
        response_id: String,
        bytes: u64,
    },
    /// A piece of the assistant's transcript (audio) or text.
    TranscriptDelta {
        item_id: String,
        response_id: String,
        delta: String,
    },
    /// A conversation item was added or changed.
    ItemUpdated {
        item: Item,
        previous_item_id: Option<String>,
    },
    ItemDeleted {
        item_id: String,
    },
    InputAudioTranscriptionCompleted {
        item_id: String,
        transcript: String,
    },
    InputAudioTimeoutTriggered,
    TurnStarted {
        response_id: String,
    },
    TurnEnded {
        response_id: String,
        status: Option<String>,
        usage: Option<Usage>,
    },
    /// The connection is up again, or lost and being re-established.
    ConnectionStatus {
        status: LinkStatus,
        attempt: Option<u32>,
        reason: Option<String>,
    },
    /// The connection closed; `error` says why when it was not asked for.
    Closed {
        error: Option<String>,
    },
}

/// State of the link to the model, as `connection_status` events report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStatus {
    Connected,
    Reconnecting,
}

impl LinkStatus {
    /// `connected` / `reconnecting`.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkStatus::Connected => "connected",
            LinkStatus::Reconnecting => "reconnecting",
        }
    }
}

/// A live connection: send commands, receive events.
pub struct ModelConnection {
    pub commands: mpsc::UnboundedSender<ModelCommand>,
    pub events: mpsc::Receiver<ModelEvent>,
}

/// Connect and send the initial session settings before anything else.
pub async fn connect(
    endpoint: &Endpoint,
    initial: SessionConfig,
) -> Result<ModelConnection, ConnectError> {
    let ws = open(endpoint).await?;
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::channel(1024);
    let mut conn = Connection {
        ws: Some(ws),
        events: ev_tx,
        state: State::default(),
        settings: initial,
        endpoint: endpoint.clone(),
        history: Vec::new(),
        outbox: VecDeque::new(),
    };
    conn.send(&ClientEvent::SessionUpdate {
        event_id: None,
        session: conn.settings.clone(),
    })
    .await
    .map_err(|e| ConnectError::Connect {
        url: endpoint.url.clone(),
        reason: e.to_string(),
    })?;
    tokio::spawn(conn.run(cmd_rx));
    Ok(ModelConnection {
        commands: cmd_tx,
        events: ev_rx,
    })
}

/// Open the WebSocket (handshake with the bearer key and extra headers).
async fn open(endpoint: &Endpoint) -> Result<Ws, ConnectError> {
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

    let connecting = handshake(endpoint, request);
    tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| ConnectError::Connect {
            url: endpoint.url.clone(),
            reason: format!("timed out after {CONNECT_TIMEOUT:?}"),
        })?
}

/// How long TCP, TLS and the WebSocket handshake may take together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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
    // Realtime traffic is many small events: send each at once.
    let tcp =
        tokio::net::TcpStream::connect((host.trim_start_matches('[').trim_end_matches(']'), port))
            .await
            .map_err(|e| failed(e.to_string()))?;
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
    let (ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(ws)
}

type Ws = tokio_tungstenite::WebSocketStream<tls::Stream>;

/// Output audio of one item, as far as it was delivered.
#[derive(Debug, Clone)]
struct Playing {
    item_id: String,
    content_index: u32,
    response_id: String,
    bytes: u64,
}

/// What the connection tracks about the server's side of the conversation.
#[derive(Default)]
struct State {
    /// A response is in progress or has been asked for.
    response_active: bool,
    /// A `response.create` is waiting for the active response to finish.
    response_pending: bool,
    current_response: Option<String>,
    dispatched_calls: HashSet<String>,
    /// Output audio of the item being delivered.
    playing: Option<Playing>,
    /// The last item whose delivery finished with its response: a listener
    /// may still be playing it, which only a playback report can tell.
    delivered: Option<Playing>,
    /// What the attached client last said it has played: (item_id, ms).
    played: Option<(String, u64)>,
    /// Responses interrupted here: their late audio is dropped, not delivered.
    muted: HashSet<String>,
    /// Bytes per millisecond of output audio (PCM16 at 24 kHz by default).
    output_bytes_per_ms: u64,
    response_creates: u64,
    /// The current response produced a function call: its follow-up comes from the tool output.
    response_called: bool,
}

struct Connection {
    /// `None` while disconnected.
    ws: Option<Ws>,
    events: mpsc::Sender<ModelEvent>,
    state: State,
    /// The latest settings sent, re-sent after a reconnect.
    settings: SessionConfig,
    endpoint: Endpoint,
    /// Items the server confirmed (`conversation.item.done`, or a dispatched
    /// call), in order: what a new connection is given back.
    history: Vec<Item>,
    /// Items agentd created that the server has not confirmed yet.
    outbox: VecDeque<Item>,
}

/// Why the loop over one socket ended.
enum Ended {
    /// The session asked to close, or is gone.
    Requested,
    Lost(String),
}

impl Connection {
    async fn send(&mut self, ev: &ClientEvent) -> Result<(), tungstenite::Error> {
        // While disconnected there is nothing to send to: what matters is kept in
        // `settings`, `outbox` and the response flags and re-sent on reconnect.
        let Some(ws) = &mut self.ws else {
            return Ok(());
        };
        let text = serde_json::to_string(ev).unwrap_or_default();
        ws.send(Message::text(text)).await
    }

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

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<ModelCommand>) {
        self.state.output_bytes_per_ms = 48;
        self.status(LinkStatus::Connected, None, None).await;
        let reason = loop {
            let lost = match self.serve(&mut commands).await {
                Ended::Requested => break None,
                Ended::Lost(reason) => reason,
            };
            tracing::warn!(url = %self.endpoint.url, %lost, "model connection lost");
            self.on_disconnect().await;
            match self.reconnect(&mut commands, &lost).await {
                Ok(true) => continue,
                Ok(false) => break None,
                Err(gave_up) => {
                    self.emit(ModelEvent::Error {
                        code: Some("model_reconnect_failed".into()),
                        message: gave_up.clone(),
                    })
                    .await;
                    break Some(gave_up);
                }
            }
        };
        self.emit(ModelEvent::Closed { error: reason }).await;
    }

    /// Serve one socket until it is lost or the session closes.
    async fn serve(&mut self, commands: &mut mpsc::UnboundedReceiver<ModelCommand>) -> Ended {
        let policy = self.endpoint.resilience.clone();
        let mut ping = tokio::time::interval_at(
            tokio::time::Instant::now() + policy.ping_interval,
            policy.ping_interval,
        );
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_heard = tokio::time::Instant::now();
        loop {
            let Some(ws) = &mut self.ws else {
                return Ended::Lost("not connected".into());
            };
            tokio::select! {
                msg = ws.next() => {
                    last_heard = tokio::time::Instant::now();
                    match msg {
                        Some(Ok(Message::Text(text))) => {
                            if let Err(e) = self.on_server_text(text.as_str()).await {
                                return Ended::Lost(format!("cannot send to the model: {e}"));
                            }
                        }
                        Some(Ok(Message::Close(frame))) => {
                            return Ended::Lost(match frame {
                                Some(f) => format!("model closed the connection: {} {}", f.code, f.reason),
                                None => "model closed the connection".to_string(),
                            });
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => return Ended::Lost(format!("model connection failed: {e}")),
                        None => return Ended::Lost("model connection ended".to_string()),
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() >= policy.dead_after {
                        return Ended::Lost(format!(
                            "model sent nothing for {:?} (dead peer)",
                            policy.dead_after
                        ));
                    }
                    if let Err(e) = ws.send(Message::Ping(Default::default())).await {
                        return Ended::Lost(format!("cannot ping the model: {e}"));
                    }
                }
                cmd = commands.recv() => match cmd {
                    None | Some(ModelCommand::Close) => {
                        let _ = ws.close(None).await;
                        return Ended::Requested;
                    }
                    Some(cmd) => {
                        if let Err(e) = self.on_command(cmd).await {
                            return Ended::Lost(format!("cannot send to the model: {e}"));
                        }
                    }
                },
            }
        }
    }

    /// Forget what died with the socket; keep what the next one needs.
    async fn on_disconnect(&mut self) {
        self.ws = None;
        // A response in flight or asked for is lost with the server's session: ask
        // again, unless it had called a tool (the tool's output asks for the next one).
        if (self.state.response_active && !self.state.response_called)
            || self.state.response_pending
        {
            self.state.response_pending = true;
        }
        self.state.response_active = false;
        self.state.delivered = None;
        if let Some(p) = self.state.playing.take() {
            self.emit(ModelEvent::AudioInterrupted {
                item_id: p.item_id,
                content_index: p.content_index,
            })
            .await;
        }
        if let Some(response_id) = self.state.current_response.take() {
            self.emit(ModelEvent::TurnEnded {
                response_id,
                status: Some("incomplete".into()),
                usage: None,
            })
            .await;
        }
    }

    /// Reconnect with backoff; `Ok(false)` when the session closed meanwhile,
    /// `Err` with the reason after the last failed attempt.
    async fn reconnect(
        &mut self,
        commands: &mut mpsc::UnboundedReceiver<ModelCommand>,
        lost: &str,
    ) -> Result<bool, String> {
        let policy = self.endpoint.resilience.clone();
        let mut last_error = lost.to_string();
        for attempt in 1..=policy.max_attempts {
            self.status(
                LinkStatus::Reconnecting,
                Some(attempt),
                Some(last_error.clone()),
            )
            .await;
            let wait = tokio::time::sleep(policy.backoff(attempt));
            tokio::pin!(wait);
            // Keep taking commands while waiting: they are queued, not lost.
            loop {
                tokio::select! {
                    _ = &mut wait => break,
                    cmd = commands.recv() => match cmd {
                        None | Some(ModelCommand::Close) => return Ok(false),
                        Some(cmd) => {
                            let _ = self.on_command(cmd).await;
                        }
                    },
                }
            }
            match open(&self.endpoint).await {
                Ok(ws) => {
                    self.ws = Some(ws);
                    match self.resume().await {
                        Ok(()) => {
                            tracing::info!(url = %self.endpoint.url, attempt, "model connection restored");
                            self.status(LinkStatus::Connected, Some(attempt), None)
                                .await;
                            return Ok(true);
                        }
                        Err(e) => {
                            self.ws = None;
                            last_error = format!("cannot resume: {e}");
                        }
                    }
                }
                Err(e) => last_error = e.to_string(),
            }
            tracing::warn!(url = %self.endpoint.url, attempt, error = %last_error, "reconnect failed");
        }
        Err(format!(
            "gave up reconnecting to the model after {} attempts: {last_error}",
            policy.max_attempts
        ))
    }

    /// On a fresh socket: settings, then the conversation, then what was waiting.
    async fn resume(&mut self) -> Result<(), tungstenite::Error> {
        self.send(&ClientEvent::SessionUpdate {
            event_id: None,
            session: self.settings.clone(),
        })
        .await?;
        let mut previous: Option<String> = None;
        for item in self.history.clone() {
            let id = item.id().map(str::to_string);
            self.send(&ClientEvent::ConversationItemCreate {
                event_id: None,
                previous_item_id: previous.clone(),
                item: replayable(item),
            })
            .await?;
            previous = id.or(previous);
        }
        for item in self.outbox.clone() {
            self.send(&ClientEvent::ConversationItemCreate {
                event_id: None,
                previous_item_id: None,
                item,
            })
            .await?;
        }
        if std::mem::take(&mut self.state.response_pending) {
            self.request_response().await?;
        }
        Ok(())
    }

    /// Send an item agentd creates, keeping it until the server confirms it.
    async fn create_item(&mut self, item: Item) -> Result<(), tungstenite::Error> {
        self.outbox.push_back(item.clone());
        self.send(&ClientEvent::ConversationItemCreate {
            event_id: None,
            previous_item_id: None,
            item,
        })
        .await
    }

    /// The server holds `item`: it leaves the outbox and enters the replayable history.
    fn confirm(&mut self, item: &Item) {
        let pos = self.outbox.iter().position(|o| match (o, item) {
            (Item::FunctionCallOutput(a), Item::FunctionCallOutput(b)) => a.call_id == b.call_id,
            (Item::FunctionCall(a), Item::FunctionCall(b)) => a.call_id == b.call_id,
            (Item::Message(a), Item::Message(b)) => a.role == b.role,
            _ => false,
        });
        if let Some(pos) = pos {
            self.outbox.remove(pos);
        }
        let same = |h: &Item| match (h, item) {
            (Item::FunctionCall(a), Item::FunctionCall(b)) => a.call_id == b.call_id,
            (Item::FunctionCallOutput(a), Item::FunctionCallOutput(b)) => a.call_id == b.call_id,
            (a, b) => a.id().is_some() && a.id() == b.id(),
        };
        match self.history.iter_mut().find(|h| same(h)) {
            Some(h) => *h = item.clone(),
            None => self.history.push(item.clone()),
        }
    }

    async fn request_response(&mut self) -> Result<(), tungstenite::Error> {
        if self.state.response_active || self.ws.is_none() {
            self.state.response_pending = true;
            return Ok(());
        }
        self.state.response_active = true;
        self.state.response_creates += 1;
        let ev = ClientEvent::ResponseCreate {
            event_id: Some(format!(
                "agentd_response_create_{}",
                self.state.response_creates
            )),
            response: None,
        };
        self.send(&ev).await
    }

    async fn on_command(&mut self, cmd: ModelCommand) -> Result<(), tungstenite::Error> {
        match cmd {
            ModelCommand::UserText(text) => {
                let content = vec![ContentPart::InputText { text: Some(text) }];
                Box::pin(self.on_command(ModelCommand::UserInput(content))).await
            }
            ModelCommand::UserInput(content) => {
                let item = Item::Message(MessageItem {
                    id: None,
                    role: Role::User,
                    content,
                    status: None,
                });
                self.create_item(item).await?;
                self.request_response().await
            }
            ModelCommand::Audio { audio, commit } => {
                self.send(&ClientEvent::InputAudioBufferAppend {
                    event_id: None,
                    audio,
                })
                .await?;
                if commit {
                    self.send(&ClientEvent::InputAudioBufferCommit { event_id: None })
                        .await?;
                }
                Ok(())
            }
            ModelCommand::UpdateSession(session) => {
                self.settings = *session;
                self.send(&ClientEvent::SessionUpdate {
                    event_id: None,
                    session: self.settings.clone(),
                })
                .await
            }
            ModelCommand::ToolOutput {
                call_id,
                output,
                start_response,
            } => {
                let item = Item::FunctionCallOutput(FunctionCallOutputItem {
                    id: None,
                    call_id,
                    output,
                });
                self.create_item(item).await?;
                if start_response {
                    self.request_response().await?;
                }
                Ok(())
            }
            ModelCommand::Interrupt { force_cancel } => self.interrupt(force_cancel).await,
            ModelCommand::Playback { item_id, played_ms } => {
                self.state.played = Some((item_id, played_ms));
                Ok(())
            }
            ModelCommand::Raw(ev) => match *ev {
                ClientEvent::ResponseCreate { .. } => self.request_response().await,
                ClientEvent::ConversationItemCreate {
                    previous_item_id: None,
                    item,
                    ..
                } => self.create_item(item).await,
                ev => self.send(&ev).await,
            },
            ModelCommand::Close => Ok(()),
        }
    }

    /// The audio a listener may still be hearing: the item being delivered,
    /// or a finished one the attached client reports it has not played to the end.
    fn audible(&self) -> Option<&Playing> {
        if self.state.playing.is_some() {
            return self.state.playing.as_ref();
        }
        let done = self.state.delivered.as_ref()?;
        let (item, ms) = self.state.played.as_ref()?;
        (*item == done.item_id && *ms < self.delivered_ms(done)).then_some(done)
    }

    fn delivered_ms(&self, p: &Playing) -> u64 {
        p.bytes / self.state.output_bytes_per_ms.max(1)
    }

    /// Stop playback: tell subscribers, truncate the item where the listener
    /// stopped hearing it, cancel the response and drop its audio still to come.
    async fn interrupt(&mut self, force_cancel: bool) -> Result<(), tungstenite::Error> {
        if let Some(p) = self.audible().cloned() {
            self.state.playing = None;
            self.state.delivered = None;
            self.state.muted.insert(p.response_id.clone());
            self.emit(ModelEvent::AudioInterrupted {
                item_id: p.item_id.clone(),
                content_index: p.content_index,
            })
            .await;
            // What the listener heard, when the attached client reports it;
            // else what was delivered (never wall-clock time, unlike the reference).
            let delivered = self.delivered_ms(&p);
            let audio_end_ms = match self.state.played.take() {
                Some((item, ms)) if item == p.item_id => ms.min(delivered),
                _ => delivered,
            };
            self.send(&ClientEvent::ConversationItemTruncate {
                event_id: None,
                item_id: p.item_id,
                content_index: p.content_index,
                audio_end_ms,
            })
            .await?;
        }
        // Only a response in progress can be cancelled; asking otherwise earns a server error.
        if force_cancel && let Some(response_id) = self.state.current_response.clone() {
            self.state.muted.insert(response_id.clone());
            self.send(&ClientEvent::ResponseCancel {
                event_id: None,
                response_id: Some(response_id),
            })
            .await?;
        }
        Ok(())
    }

    async fn on_server_text(&mut self, text: &str) -> Result<(), tungstenite::Error> {
        let (raw, ev) = parse_server_event(text);
        self.emit(ModelEvent::Raw(raw)).await;
        let session_created = matches!(ev, ServerEvent::SessionCreated { .. });
        match ev {
            ServerEvent::Unknown { problem, .. } => {
                if problem.contains("unknown variant") {
                    tracing::debug!(%problem, "model event not handled");
                } else {
                    tracing::warn!(%problem, "model event could not be parsed");
                    self.emit(ModelEvent::Error {
                        code: Some("invalid_server_event".into()),
                        message: problem,
                    })
                    .await;
                }
            }
            ServerEvent::Error { error } => {
                // An error about our own response.create means no response is coming.
                if error
                    .event_id
                    .as_deref()
                    .is_some_and(|id| id.starts_with("agentd_response_create_"))
                    && self.state.current_response.is_none()
                {
                    self.state.response_active = false;
                }
                self.emit(ModelEvent::Error {
                    code: error.code,
                    message: error.message,
                })
                .await;
            }
            ServerEvent::SessionCreated { session } | ServerEvent::SessionUpdated { session } => {
                // Tracing goes in its own update, like the reference: an endpoint that
                // refuses it then rejects only this event, not the agent's settings.
                if session_created && let Some(tracing) = self.endpoint.tracing.clone() {
                    let update = SessionConfig {
                        kind: "realtime".into(),
                        model: self.settings.model.clone(),
                        tracing: Some(tracing),
                        ..SessionConfig::default()
                    };
                    self.send(&ClientEvent::SessionUpdate {
                        event_id: None,
                        session: update,
                    })
                    .await?;
                }
                let rate = session
                    .pointer("/audio/output/format/rate")
                    .and_then(Value::as_u64)
                    .unwrap_or(24_000);
                let kind = session
                    .pointer("/audio/output/format/type")
                    .and_then(Value::as_str)
                    .unwrap_or("audio/pcm");
                // G.711 is one byte a sample at 8 kHz; PCM16 is two.
                self.state.output_bytes_per_ms = if kind == "audio/pcm" {
                    rate * 2 / 1000
                } else {
                    8
                };
            }
            ServerEvent::ConversationItemAdded {
                item,
                previous_item_id,
            }
            | ServerEvent::ConversationItemDone {
                item,
                previous_item_id,
            } => {
                if is_settled(&item) {
                    self.confirm(&item);
                }
                if matches!(item, Item::Message(_)) {
                    self.emit(ModelEvent::ItemUpdated {
                        item,
                        previous_item_id,
                    })
                    .await;
                }
            }
            ServerEvent::ConversationItemRetrieved { item } => {
                if matches!(item, Item::Message(_)) {
                    self.emit(ModelEvent::ItemUpdated {
                        item,
                        previous_item_id: None,
                    })
                    .await;
                }
            }
            ServerEvent::ConversationItemTruncated { item_id, .. } => {
                self.send(&ClientEvent::ConversationItemRetrieve {
                    event_id: None,
                    item_id,
                })
                .await?;
            }
            ServerEvent::ConversationItemDeleted { item_id } => {
                self.history.retain(|h| h.id() != Some(item_id.as_str()));
                self.emit(ModelEvent::ItemDeleted { item_id }).await;
            }
            ServerEvent::InputAudioTranscriptionCompleted {
                item_id,
                transcript,
                ..
            } => {
                self.emit(ModelEvent::InputAudioTranscriptionCompleted {
                    item_id: item_id.clone(),
                    transcript,
                })
                .await;
                self.send(&ClientEvent::ConversationItemRetrieve {
                    event_id: None,
                    item_id,
                })
                .await?;
            }
            ServerEvent::InputAudioBufferTimeoutTriggered { .. } => {
                self.emit(ModelEvent::InputAudioTimeoutTriggered).await;
            }
            // Barge-in: the server cancels its own response when turn detection says so.
            ServerEvent::InputAudioBufferSpeechStarted { .. } if self.audible().is_some() => {
                self.interrupt(false).await?;
            }
            ServerEvent::ResponseCreated { response } => {
                self.state.response_active = true;
                self.state.response_called = false;
                self.state.current_response = Some(response.id.clone());
                self.emit(ModelEvent::TurnStarted {
                    response_id: response.id,
                })
                .await;
            }
            ServerEvent::ResponseDone { response } => {
                self.state.response_active = false;
                self.state.current_response = None;
                self.state.muted.remove(&response.id);
                if let Some(p) = self.state.playing.take() {
                    self.state.delivered = Some(p);
                }
                self.emit(ModelEvent::TurnEnded {
                    response_id: response.id,
                    status: response.status,
                    usage: response.usage,
                })
                .await;
                if std::mem::take(&mut self.state.response_pending) {
                    self.request_response().await?;
                }
            }
            ServerEvent::ResponseOutputItemAdded { item, .. } => {
                if matches!(item, Item::Message(_)) {
                    self.emit(ModelEvent::ItemUpdated {
                        item,
                        previous_item_id: None,
                    })
                    .await;
                }
            }
            ServerEvent::ResponseOutputItemDone { item, .. } => match item {
                Item::FunctionCall(call) => {
                    if call.status.as_deref() == Some("completed") {
                        self.dispatch_call(
                            call.id.unwrap_or_default(),
                            call.call_id,
                            call.name,
                            call.arguments,
                        )
                        .await;
                    }
                }
                item @ Item::Message(_) => {
                    self.emit(ModelEvent::ItemUpdated {
                        item,
                        previous_item_id: None,
                    })
                    .await;
                }
                Item::FunctionCallOutput(_) => {}
            },
            ServerEvent::ResponseFunctionCallArgumentsDone {
                item_id,
                call_id,
                name: Some(name),
                arguments,
                ..
            } => {
                self.dispatch_call(item_id, call_id, name, arguments).await;
            }
            ServerEvent::ResponseOutputAudioDelta { at, delta } => {
                let bytes = base64_len(&delta);
                if self.state.muted.contains(&at.response_id) {
                    // Already cut for the listener: delivering it would play half a sentence.
                    self.emit(ModelEvent::AudioDropped {
                        item_id: at.item_id,
                        response_id: at.response_id,
                        bytes,
                    })
                    .await;
                    return Ok(());
                }
                match &mut self.state.playing {
                    Some(p) if p.item_id == at.item_id && p.content_index == at.content_index => {
                        p.bytes += bytes
                    }
                    _ => {
                        self.state.delivered = None;
                        self.state.playing = Some(Playing {
                            item_id: at.item_id.clone(),
                            content_index: at.content_index,
                            response_id: at.response_id.clone(),
                            bytes,
                        })
                    }
                }
                self.emit(ModelEvent::Audio {
                    item_id: at.item_id,
                    content_index: at.content_index,
                    response_id: at.response_id,
                    audio: delta,
                })
                .await;
            }
            ServerEvent::ResponseOutputAudioDone { at } => {
                // An interrupted item already ended with `AudioInterrupted`.
                if self.state.muted.contains(&at.response_id) {
                    return Ok(());
                }
                self.emit(ModelEvent::AudioDone {
                    item_id: at.item_id,
                    content_index: at.content_index,
                })
                .await;
            }
            ServerEvent::ResponseOutputAudioTranscriptDelta { at, delta }
            | ServerEvent::ResponseOutputTextDelta { at, delta } => {
                self.emit(ModelEvent::TranscriptDelta {
                    item_id: at.item_id,
                    response_id: at.response_id,
                    delta,
                })
                .await;
            }
            _ => {}
        }
        Ok(())
    }

    async fn dispatch_call(
        &mut self,
        item_id: String,
        call_id: String,
        name: String,
        arguments: String,
    ) {
        if self.state.dispatched_calls.insert(call_id.clone()) {
            self.state.response_called = true;
            // The call belongs to the conversation from now on: a reconnect must
            // replay it before its output, even if the socket dies before the
            // server's own `conversation.item.done`.
            self.confirm(&Item::FunctionCall(FunctionCallItem {
                id: (!item_id.is_empty()).then(|| item_id.clone()),
                call_id: call_id.clone(),
                name: name.clone(),
                arguments: arguments.clone(),
                status: Some("completed".into()),
            }));
            self.emit(ModelEvent::FunctionCall {
                item_id,
                call_id,
                name,
                arguments,
            })
            .await;
        }
    }
}

/// Whether the server's copy of `item` is final enough to replay: a finished
/// item, or one agentd itself created (user text, tool output).
fn is_settled(item: &Item) -> bool {
    match item {
        Item::FunctionCallOutput(_) => true,
        Item::FunctionCall(f) => f.status.as_deref() == Some("completed"),
        Item::Message(m) => m.role != Role::Assistant || m.status.as_deref() == Some("completed"),
    }
}

/// An item as a new connection can be given it: audio cannot be re-sent, so
/// audio content becomes its transcript as text.
fn replayable(item: Item) -> Item {
    match item {
        Item::Message(mut m) => {
            m.status = None;
            m.content = m
                .content
                .into_iter()
                .map(|c| match c {
                    ContentPart::InputAudio { transcript, .. } => {
                        ContentPart::InputText { text: transcript }
                    }
                    ContentPart::OutputAudio { transcript, .. } => {
                        ContentPart::OutputText { text: transcript }
                    }
                    other => other,
                })
                .collect();
            Item::Message(m)
        }
        Item::FunctionCall(mut f) => {
            f.status = None;
            Item::FunctionCall(f)
        }
        other => other,
    }
}

/// Decoded length of base64 text, without decoding it.
fn base64_len(b64: &str) -> u64 {
    let padding = b64.bytes().rev().take_while(|&b| b == b'=').count();
    ((b64.len() / 4) * 3).saturating_sub(padding) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replayed_audio_becomes_its_transcript() {
        let item = Item::Message(MessageItem {
            id: Some("m1".into()),
            role: Role::Assistant,
            content: vec![ContentPart::OutputAudio {
                audio: None,
                transcript: Some("hello".into()),
            }],
            status: Some("completed".into()),
        });
        assert!(is_settled(&item));
        let Item::Message(m) = replayable(item) else {
            panic!("not a message");
        };
        assert_eq!(
            m.content,
            vec![ContentPart::OutputText {
                text: Some("hello".into())
            }]
        );
        assert_eq!(m.status, None);
        assert_eq!(m.id.as_deref(), Some("m1"));
    }

    #[test]
    fn base64_length_without_decoding() {
        assert_eq!(super::base64_len("AAAA"), 3);
        assert_eq!(super::base64_len("AAA="), 2);
        assert_eq!(super::base64_len("AA=="), 1);
    }
}
