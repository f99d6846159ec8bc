//! The session engine: one tokio task per live conversation.
//!
//! The task owns all of the session's state (current agent, history, pending
//! approvals, guardrail counters) and is the only thing that touches it.
//! Everything else talks to it through a [`SessionHandle`] — commands with a
//! reply channel — and watches it through its [`EventBus`]. It `select!`s over
//! its commands, the model's events, finished tool calls, finished guardrail
//! checks and approval deadlines.
//!
//! Behaviour follows the reference `RealtimeSession`: tool calls run
//! concurrently by default (a slow tool never stalls the model stream),
//! approvals hold a call by `call_id`, output guardrails run every
//! `debounce_text_length` characters of an item's transcript and trip at most
//! once per response, and a handoff sends the new agent's settings before the
//! tool output that completes it.

pub mod events;
pub mod history;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::catalog::{Agent, AgentGuardrail, AgentTool, Catalog};
use crate::config::{ModelConfig, SettingsOverlay};
use crate::plugin::{CallInfo, GuardrailSubject};
use crate::policy::Action;
use crate::realtime::client::{self, ConnectError, Endpoint, ModelCommand, ModelEvent};
use crate::realtime::protocol::{ClientEvent, ContentPart, Item, Usage};
use crate::realtime::settings::session_config;
use crate::store::{Journal, Record};
pub use events::{Direction, Envelope, EventBus, SessionEvent, ToolOutcome};
use history::{Change, History};

/// What the model is told when a call is not approved (the reference's text).
pub const REJECTION_MESSAGE: &str = "Tool execution was not approved.";

/// Why a request to a session failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session `{0}` has ended")]
    Ended(String),
    #[error("session `{session}` has no pending tool call `{call_id}`")]
    UnknownCall { session: String, call_id: String },
    #[error("no agent named `{0}`")]
    UnknownAgent(String),
    #[error("no model named `{0}` is configured")]
    UnknownModel(String),
    #[error("model `{model}` needs its API key in ${var}, which is not set")]
    MissingApiKey { model: String, var: String },
    #[error(transparent)]
    Connect(#[from] ConnectError),
}

// Defined once, in the control API crate, because the API carries it.
pub use agentd_api::session::{PendingApproval, SessionStatus};

enum Command {
    Input(Vec<ContentPart>),
    Audio {
        audio: String,
        commit: bool,
    },
    Interrupt,
    Playback {
        item_id: String,
        played_ms: u64,
    },
    Decide {
        call_id: String,
        approve: bool,
        always: bool,
        reply: oneshot::Sender<Result<(), SessionError>>,
    },
    HasPending(String, oneshot::Sender<bool>),
    Status(oneshot::Sender<SessionStatus>),
    History(oneshot::Sender<Vec<Item>>),
    SetAgent {
        agent: String,
        reply: oneshot::Sender<Result<(), SessionError>>,
    },
    /// Hot reload: a new catalog generation was swapped in.
    NewCatalog(Arc<Catalog>),
    Close(oneshot::Sender<()>),
}

/// How the rest of the daemon reaches a session.
#[derive(Clone)]
pub struct SessionHandle {
    pub id: Arc<str>,
    pub bus: Arc<EventBus>,
    commands: mpsc::Sender<Command>,
}

impl SessionHandle {
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, SessionError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| SessionError::Ended(self.id.to_string()))?;
        rx.await
            .map_err(|_| SessionError::Ended(self.id.to_string()))
    }

    async fn tell(&self, cmd: Command) -> Result<(), SessionError> {
        self.commands
            .send(cmd)
            .await
            .map_err(|_| SessionError::Ended(self.id.to_string()))
    }

    /// Send a user text message; the model answers it.
    pub async fn send_text(&self, text: String) -> Result<(), SessionError> {
        self.send_input(vec![ContentPart::InputText { text: Some(text) }])
            .await
    }

    /// Send a structured user message (text and image parts); the model answers it.
    pub async fn send_input(&self, content: Vec<ContentPart>) -> Result<(), SessionError> {
        self.tell(Command::Input(content)).await
    }

    /// Send input audio (base64); `commit` ends the user's turn.
    pub async fn send_audio(&self, audio: String, commit: bool) -> Result<(), SessionError> {
        self.tell(Command::Audio { audio, commit }).await
    }

    /// Stop the model's current response.
    pub async fn interrupt(&self) -> Result<(), SessionError> {
        self.tell(Command::Interrupt).await
    }

    /// Report how much of `item_id`'s audio the attached client has played;
    /// an interrupt then truncates the item there.
    pub async fn playback(&self, item_id: String, played_ms: u64) -> Result<(), SessionError> {
        self.tell(Command::Playback { item_id, played_ms }).await
    }

    /// Approve or reject a pending call; `always` applies to later calls of the same tool.
    pub async fn decide(
        &self,
        call_id: &str,
        approve: bool,
        always: bool,
    ) -> Result<(), SessionError> {
        self.ask(|reply| Command::Decide {
            call_id: call_id.to_string(),
            approve,
            always,
            reply,
        })
        .await?
    }

    /// Whether `call_id` is waiting for approval here.
    pub async fn has_pending(&self, call_id: &str) -> bool {
        self.ask(|reply| Command::HasPending(call_id.to_string(), reply))
            .await
            .unwrap_or(false)
    }

    /// A snapshot of the session.
    pub async fn status(&self) -> Result<SessionStatus, SessionError> {
        self.ask(Command::Status).await
    }

    /// The conversation so far.
    pub async fn history(&self) -> Result<Vec<Item>, SessionError> {
        self.ask(Command::History).await
    }

    /// Switch the session to another agent (sends a session update).
    pub async fn set_agent(&self, agent: &str) -> Result<(), SessionError> {
        self.ask(|reply| Command::SetAgent {
            agent: agent.to_string(),
            reply,
        })
        .await?
    }

    /// Move the session to a reloaded catalog. Its agent is re-read from it;
    /// if what the model is told changed (instructions, tools…), a session
    /// update is sent. Calls in flight finish on the plugin versions they
    /// started with.
    pub async fn update_catalog(&self, catalog: Arc<Catalog>) -> Result<(), SessionError> {
        self.tell(Command::NewCatalog(catalog)).await
    }

    /// End the session: cancel running work, drop pending approvals, close the model.
    pub async fn close(&self) -> Result<(), SessionError> {
        self.ask(Command::Close).await
    }

    /// Whether the session task has ended.
    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }
}

/// The API key and URL for `model`.
pub fn endpoint_for(model: &ModelConfig, sim_url: Option<&str>) -> Result<Endpoint, SessionError> {
    let url = match (&model.url, sim_url) {
        (Some(u), _) => u.clone(),
        (None, Some(sim)) => sim.to_string(),
        (None, None) => return Err(SessionError::UnknownModel(model.name.clone())),
    };
    let api_key = match &model.api_key_env {
        Some(var) => Some(std::env::var(var).map_err(|_| SessionError::MissingApiKey {
            model: model.name.clone(),
            var: var.clone(),
        })?),
        None => None,
    };
    Ok(Endpoint {
        url,
        api_key,
        headers: model
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        // `tracing = false` on the model removes tracing from the settings.
        tracing: model.tracing.then(|| serde_json::Value::from("auto")),
        resilience: model.resilience.clone(),
        ca_file: model.ca_file.clone(),
    })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// How a session connects and where it records what it does.
pub struct SessionOptions {
    pub endpoint: Endpoint,
    /// Explicit settings for this session (see `realtime::settings`).
    pub overrides: SettingsOverlay,
    pub journal: Journal,
}

/// Connect to the model and start the session's task.
pub async fn start(
    id: &str,
    catalog: Arc<Catalog>,
    agent: &str,
    options: SessionOptions,
) -> Result<SessionHandle, SessionError> {
    let SessionOptions {
        endpoint,
        overrides,
        journal,
    } = options;
    let agent = catalog
        .agents
        .get(agent)
        .cloned()
        .ok_or_else(|| SessionError::UnknownAgent(agent.to_string()))?;
    let model = catalog
        .config
        .models
        .get(&agent.config.model)
        .cloned()
        .ok_or_else(|| SessionError::UnknownModel(agent.config.model.clone()))?;
    let conn = client::connect(&endpoint, session_config(&agent, &model, &overrides, true)).await?;
    let id: Arc<str> = Arc::from(id);
    let bus = EventBus::new(id.clone());
    let (tx, rx) = mpsc::channel(256);
    let (input_tx, input_rx) = mpsc::unbounded_channel();
    let input_task = tokio::spawn(input_pipeline(
        id.clone(),
        bus.clone(),
        conn.commands.clone(),
        input_rx,
    ));
    let session = Session {
        id: id.clone(),
        created_ms: now_ms(),
        debounce: catalog.config.guardrails.debounce_text_length.max(1),
        catalog,
        agent,
        model,
        overrides,
        journal,
        bus: bus.clone(),
        to_model: conn.commands,
        inputs: input_tx,
        input_task,
        history: History::default(),
        pending: HashMap::new(),
        always: HashMap::new(),
        tool_tasks: JoinSet::new(),
        running: HashMap::new(),
        guardrail_tasks: JoinSet::new(),
        item_transcripts: HashMap::new(),
        guardrail_runs: HashMap::new(),
        interrupted_responses: HashSet::new(),
        usage: Usage::default(),
        responses: 0,
        dropped_audio_bytes: 0,
    };
    tracing::info!(session = %id, agent = %session.agent.name(), "session started");
    session.journal.record_later(Record::SessionStarted {
        session: id.to_string(),
        agent: session.agent.name().to_string(),
        model: session.model.name.clone(),
    });
    tokio::spawn(session.run(rx, conn.events));
    Ok(SessionHandle {
        id,
        bus,
        commands: tx,
    })
}

/// A function call from the model, as the session tracks it.
#[derive(Debug, Clone)]
struct Call {
    call_id: String,
    name: String,
    arguments: String,
}

struct Pending {
    call: Call,
    tool: AgentTool,
    agent: Arc<Agent>,
    deadline: Option<Instant>,
    expires_ms: Option<u64>,
}

struct ToolRun {
    call: Call,
    tool: AgentTool,
    agent: Arc<Agent>,
    result: Result<String, ToolFailure>,
}

/// Why a tool call produced no output of its own.
enum ToolFailure {
    /// The plugin failed (error, trap, timeout, cap).
    Call(crate::plugin::CallError),
    /// A tool guardrail refused it; the text is what the model is told.
    Blocked(String),
}

/// What a guardrail check was for.
enum Purpose {
    /// Output text of a response: trip cancels it.
    Output { response_id: String },
    /// A finished input-audio transcript: trip cancels the reply and drops the item.
    InputTranscript { item_id: String },
    /// A tool call about to be put to a person.
    BeforeApproval {
        call: Call,
        tool: AgentTool,
        agent: Arc<Agent>,
    },
}

struct GuardrailRun {
    purpose: Purpose,
    text: String,
    tripped: Vec<Trip>,
}

/// One guardrail that tripped, and why.
#[derive(Debug, Clone)]
struct Trip {
    guardrail: String,
    reason: Option<String>,
}

/// Ask each guardrail in turn; ones that fail are logged and skipped.
async fn check_all(
    guardrails: &[AgentGuardrail],
    subject: &GuardrailSubject,
    info: &CallInfo,
) -> Vec<Trip> {
    let mut tripped = Vec::new();
    for g in guardrails {
        match g.plugin.check_guardrail(&g.name, subject, info).await {
            Ok(v) if v.tripwire => tripped.push(Trip {
                guardrail: g.qualified.clone(),
                reason: v.reason,
            }),
            Ok(_) => {}
            Err(e) => tracing::warn!(
                session = %info.session_id,
                guardrail = %g.qualified,
                call_id = %info.call_id,
                error = %e,
                "guardrail failed; skipped"
            ),
        }
    }
    tripped
}

fn names(trips: &[Trip]) -> Vec<String> {
    trips.iter().map(|t| t.guardrail.clone()).collect()
}

/// What the model is told when tool guardrails block a call: their reasons.
fn blocked_message(trips: &[Trip]) -> String {
    let reasons: Vec<String> = trips
        .iter()
        .map(|t| match &t.reason {
            Some(r) => format!("{}: {r}", t.guardrail),
            None => t.guardrail.clone(),
        })
        .collect();
    format!("Tool call blocked by guardrail {}", reasons.join("; "))
}

/// One user message on its way to the model, with the guardrails it must pass.
struct Input {
    content: Vec<ContentPart>,
    guardrails: Vec<AgentGuardrail>,
    info: CallInfo,
}

/// Runs input guardrails off the session task, one message at a time so
/// messages reach the model in the order they were sent.
async fn input_pipeline(
    session: Arc<str>,
    bus: Arc<EventBus>,
    to_model: mpsc::UnboundedSender<ModelCommand>,
    mut inputs: mpsc::UnboundedReceiver<Input>,
) {
    while let Some(input) = inputs.recv().await {
        if !input.guardrails.is_empty() {
            let text = input_text(&input.content);
            let subject = GuardrailSubject::InputText(text.clone());
            let tripped = check_all(&input.guardrails, &subject, &input.info).await;
            if !tripped.is_empty() {
                tracing::info!(session = %session, guardrails = ?names(&tripped), "input guardrail tripped; message not sent");
                bus.publish(SessionEvent::GuardrailTripped {
                    direction: Direction::Input,
                    guardrails: names(&tripped),
                    message: text,
                });
                continue;
            }
        }
        let _ = to_model.send(ModelCommand::UserInput(input.content));
    }
}

/// The text parts of a user message, joined.
fn input_text(content: &[ContentPart]) -> String {
    content
        .iter()
        .filter_map(|p| match p {
            ContentPart::InputText { text } => text.as_deref(),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

struct Session {
    id: Arc<str>,
    created_ms: u64,
    catalog: Arc<Catalog>,
    agent: Arc<Agent>,
    model: ModelConfig,
    /// Explicit settings given when the session started.
    overrides: SettingsOverlay,
    journal: Journal,
    bus: Arc<EventBus>,
    to_model: mpsc::UnboundedSender<ModelCommand>,
    inputs: mpsc::UnboundedSender<Input>,
    input_task: tokio::task::JoinHandle<()>,
    history: History,
    pending: HashMap<String, Pending>,
    /// Per tool (`plugin.tool`): approve (true) or reject (false) without asking.
    always: HashMap<String, bool>,
    tool_tasks: JoinSet<ToolRun>,
    /// Tool tasks in flight, by task id, so a task that dies still gets an answer to the model.
    running: HashMap<tokio::task::Id, (Call, AgentTool, Arc<Agent>)>,
    guardrail_tasks: JoinSet<GuardrailRun>,
    item_transcripts: HashMap<String, String>,
    guardrail_runs: HashMap<String, usize>,
    interrupted_responses: HashSet<String>,
    debounce: usize,
    usage: Usage,
    responses: u64,
    dropped_audio_bytes: u64,
}

enum Flow {
    Continue,
    Stop(String),
}

impl Session {
    fn emit(&self, event: SessionEvent) {
        self.bus.publish(event);
    }

    fn send(&self, cmd: ModelCommand) {
        // If the connection task is gone, its Closed event ends the session.
        let _ = self.to_model.send(cmd);
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().filter_map(|p| p.deadline).min()
    }

    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut model: mpsc::Receiver<ModelEvent>,
    ) {
        let reason = loop {
            let deadline = self.next_deadline();
            let flow = tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd).await,
                    None => Flow::Stop("every handle to the session was dropped".into()),
                },
                ev = model.recv() => match ev {
                    Some(ev) => self.on_model_event(ev).await,
                    None => Flow::Stop("the model connection ended".into()),
                },
                Some(done) = self.tool_tasks.join_next_with_id(), if !self.tool_tasks.is_empty() => {
                    self.on_tool_done(done)
                }
                Some(done) = self.guardrail_tasks.join_next(), if !self.guardrail_tasks.is_empty() => {
                    match done {
                        Ok(run) => self.on_guardrail_done(run),
                        Err(e) => self.emit(SessionEvent::Error {
                            code: None,
                            message: format!("Guardrail task failed: {e}"),
                        }),
                    }
                    Flow::Continue
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    self.expire_approvals().await;
                    Flow::Continue
                }
            };
            if let Flow::Stop(reason) = flow {
                break reason;
            }
        };
        self.shutdown(&reason).await;
    }

    async fn shutdown(&mut self, reason: &str) {
        self.input_task.abort();
        self.guardrail_tasks.shutdown().await;
        self.tool_tasks.shutdown().await;
        self.running.clear();
        let mut pending: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        pending.sort_by(|a, b| a.call.call_id.cmp(&b.call.call_id));
        for p in pending {
            // Reported, not sent: the model connection is closing.
            self.end_tool(
                &p.agent,
                &p.tool,
                p.call,
                "session closed before the call was approved".into(),
                ToolOutcome::Rejected,
            );
        }
        self.journal.record_later(Record::SessionEnded {
            session: self.id.to_string(),
            reason: reason.to_string(),
        });
        self.send(ModelCommand::Close);
        tracing::info!(session = %self.id, %reason, "session closed");
        self.emit(SessionEvent::SessionClosed {
            reason: reason.to_string(),
        });
    }

    fn status(&self) -> SessionStatus {
        let mut pending: Vec<PendingApproval> = self
            .pending
            .values()
            .map(|p| PendingApproval {
                call_id: p.call.call_id.clone(),
                tool: p.tool.qualified.clone(),
                agent: p.agent.name().to_string(),
                arguments: p.call.arguments.clone(),
                expires_ms: p.expires_ms,
            })
            .collect();
        pending.sort_by(|a, b| a.call_id.cmp(&b.call_id));
        SessionStatus {
            id: self.id.to_string(),
            agent: self.agent.name().to_string(),
            model: self.model.name.clone(),
            created_ms: self.created_ms,
            history_len: self.history.len(),
            pending_approvals: pending,
            running_tools: self.tool_tasks.len(),
            usage: self.usage,
            responses: self.responses,
            last_seq: self.bus.last_seq(),
            dropped_audio_bytes: self.dropped_audio_bytes,
        }
    }

    async fn on_command(&mut self, cmd: Command) -> Flow {
        match cmd {
            Command::Input(content) => {
                let input = Input {
                    content,
                    guardrails: self.agent.input_guardrails.clone(),
                    info: self.call_info("input"),
                };
                // The pipeline lives as long as the session; a send error means it is shutting down.
                let _ = self.inputs.send(input);
            }
            Command::Audio { audio, commit } => self.send(ModelCommand::Audio { audio, commit }),
            Command::Interrupt => self.send(ModelCommand::Interrupt { force_cancel: true }),
            Command::Playback { item_id, played_ms } => {
                self.send(ModelCommand::Playback { item_id, played_ms })
            }
            Command::Decide {
                call_id,
                approve,
                always,
                reply,
            } => {
                let result = self.decide(&call_id, approve, always).await;
                let _ = reply.send(result);
            }
            Command::HasPending(call_id, reply) => {
                let _ = reply.send(self.pending.contains_key(&call_id));
            }
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::History(reply) => {
                let _ = reply.send(self.history.items().to_vec());
            }
            Command::SetAgent { agent, reply } => {
                let result = match self.catalog.agents.get(&agent).cloned() {
                    Some(a) => {
                        self.agent = a;
                        self.send_session_update();
                        Ok(())
                    }
                    None => Err(SessionError::UnknownAgent(agent)),
                };
                let _ = reply.send(result);
            }
            Command::NewCatalog(catalog) => self.on_new_catalog(catalog),
            Command::Close(reply) => {
                let _ = reply.send(());
                return Flow::Stop("closed on request".into());
            }
        }
        Flow::Continue
    }

    fn call_info(&self, call_id: &str) -> CallInfo {
        CallInfo {
            session_id: self.id.to_string(),
            agent: self.agent.name().to_string(),
            call_id: call_id.to_string(),
        }
    }

    /// Hot reload (issue 5): take the new generation; tell the model only
    /// when the settings it sees actually changed.
    fn on_new_catalog(&mut self, catalog: Arc<Catalog>) {
        match catalog.agents.get(self.agent.name()).cloned() {
            Some(agent) => {
                let before = session_config(&self.agent, &self.model, &self.overrides, false);
                self.agent = agent;
                if session_config(&self.agent, &self.model, &self.overrides, false) != before {
                    tracing::info!(session = %self.id, agent = %self.agent.name(), "agent changed by a reload; session updated");
                    self.send_session_update();
                }
            }
            None => tracing::warn!(
                session = %self.id,
                agent = %self.agent.name(),
                "agent removed by a reload; the session keeps its last definition"
            ),
        }
        self.catalog = catalog;
    }

    fn send_session_update(&self) {
        let settings = session_config(&self.agent, &self.model, &self.overrides, false);
        self.send(ModelCommand::UpdateSession(Box::new(settings)));
    }

    fn history_event(&self, change: Change) {
        let (idx, added) = match change {
            Change::Added(i) => (i, true),
            Change::Updated(i) => (i, false),
        };
        let item = self
            .history
            .items()
            .get(idx)
            .and_then(|i| serde_json::to_value(i).ok())
            .unwrap_or_default();
        let history_len = self.history.len();
        self.emit(if added {
            SessionEvent::HistoryAdded { item, history_len }
        } else {
            SessionEvent::HistoryUpdated { item, history_len }
        });
    }

    async fn on_model_event(&mut self, ev: ModelEvent) -> Flow {
        match ev {
            ModelEvent::Raw(data) => self.emit(SessionEvent::RawModelEvent { data }),
            ModelEvent::Error { code, message } => {
                tracing::warn!(session = %self.id, ?code, %message, "model error");
                self.emit(SessionEvent::Error { code, message });
            }
            ModelEvent::FunctionCall {
                call_id,
                name,
                arguments,
                ..
            } => {
                let call = Call {
                    call_id,
                    name,
                    arguments,
                };
                let agent = self.agent.clone();
                self.on_function_call(call, agent).await;
            }
            ModelEvent::Audio {
                item_id,
                content_index,
                response_id,
                audio,
            } => self.emit(SessionEvent::Audio {
                item_id,
                content_index,
                response_id,
                audio,
            }),
            ModelEvent::AudioDone {
                item_id,
                content_index,
            } => self.emit(SessionEvent::AudioEnd {
                item_id,
                content_index,
            }),
            ModelEvent::AudioInterrupted {
                item_id,
                content_index,
            } => self.emit(SessionEvent::AudioInterrupted {
                item_id,
                content_index,
            }),
            ModelEvent::AudioDropped {
                item_id,
                response_id,
                bytes,
            } => {
                tracing::debug!(session = %self.id, item = %item_id, response = %response_id, bytes, "late audio of an interrupted response dropped");
                self.dropped_audio_bytes += bytes;
            }
            ModelEvent::TranscriptDelta {
                item_id,
                response_id,
                delta,
            } => self.on_transcript_delta(item_id, response_id, delta),
            ModelEvent::ItemUpdated {
                item,
                previous_item_id,
            } => {
                let change = self.history.upsert(item, previous_item_id.as_deref());
                self.history_event(change);
            }
            ModelEvent::ItemDeleted { item_id } => {
                if self.history.delete(&item_id) {
                    self.emit(SessionEvent::HistoryDeleted {
                        item_id,
                        history_len: self.history.len(),
                    });
                }
            }
            ModelEvent::InputAudioTranscriptionCompleted {
                item_id,
                transcript,
            } => {
                let change = self.history.input_transcript(&item_id, &transcript);
                self.history_event(change);
                self.spawn_guardrails(
                    self.agent.input_guardrails.clone(),
                    GuardrailSubject::InputText(transcript.clone()),
                    transcript,
                    Purpose::InputTranscript { item_id },
                );
            }
            ModelEvent::InputAudioTimeoutTriggered => {
                self.emit(SessionEvent::InputAudioTimeoutTriggered)
            }
            ModelEvent::TurnStarted { .. } => self.emit(SessionEvent::AgentStart {
                agent: self.agent.name().to_string(),
            }),
            ModelEvent::TurnEnded { usage, .. } => {
                self.item_transcripts.clear();
                self.guardrail_runs.clear();
                self.responses += 1;
                if let Some(u) = usage {
                    self.usage.total_tokens += u.total_tokens;
                    self.usage.input_tokens += u.input_tokens;
                    self.usage.output_tokens += u.output_tokens;
                }
                self.emit(SessionEvent::AgentEnd {
                    agent: self.agent.name().to_string(),
                });
            }
            ModelEvent::ConnectionStatus {
                status,
                attempt,
                reason,
            } => self.emit(SessionEvent::ConnectionStatus {
                status: status.as_str().to_string(),
                attempt,
                reason,
            }),
            ModelEvent::Closed { error } => {
                // The connection already reported why it gave up (an `error` event);
                // the reason also ends up in `session_closed`.
                let reason = error.unwrap_or_else(|| "model connection closed".into());
                return Flow::Stop(reason);
            }
        }
        Flow::Continue
    }

    fn on_transcript_delta(&mut self, item_id: String, response_id: String, delta: String) {
        let text = self.item_transcripts.entry(item_id.clone()).or_default();
        text.push_str(&delta);
        let text = text.clone();
        let change = self.history.set_assistant_transcript(&item_id, &text);
        if let Change::Added(_) = change {
            self.history_event(change);
        }
        self.emit(SessionEvent::TranscriptDelta {
            item_id: item_id.clone(),
            response_id: response_id.clone(),
            delta,
        });
        let runs = self.guardrail_runs.entry(item_id).or_insert(0);
        if text.chars().count() >= (*runs + 1) * self.debounce {
            *runs += 1;
            self.spawn_output_guardrails(text, response_id);
        }
    }

    fn spawn_output_guardrails(&mut self, text: String, response_id: String) {
        if self.interrupted_responses.contains(&response_id) {
            return;
        }
        self.spawn_guardrails(
            self.agent.output_guardrails.clone(),
            GuardrailSubject::OutputText(text.clone()),
            text,
            Purpose::Output { response_id },
        );
    }

    /// Run guardrails off the session task; the verdict comes back through `guardrail_tasks`.
    fn spawn_guardrails(
        &mut self,
        guardrails: Vec<AgentGuardrail>,
        subject: GuardrailSubject,
        text: String,
        purpose: Purpose,
    ) {
        if guardrails.is_empty() {
            return;
        }
        let call_id = match &purpose {
            Purpose::Output { response_id } => response_id.clone(),
            Purpose::InputTranscript { item_id } => item_id.clone(),
            Purpose::BeforeApproval { call, .. } => call.call_id.clone(),
        };
        let info = self.call_info(&call_id);
        self.guardrail_tasks.spawn(async move {
            let tripped = check_all(&guardrails, &subject, &info).await;
            GuardrailRun {
                purpose,
                text,
                tripped,
            }
        });
    }

    fn on_guardrail_done(&mut self, run: GuardrailRun) {
        match run.purpose {
            Purpose::Output { response_id } => {
                if run.tripped.is_empty() || !self.interrupted_responses.insert(response_id.clone())
                {
                    return;
                }
                let names = names(&run.tripped);
                tracing::info!(session = %self.id, guardrails = ?names, response = %response_id, "output guardrail tripped");
                self.emit(SessionEvent::GuardrailTripped {
                    direction: Direction::Output,
                    guardrails: names.clone(),
                    message: run.text,
                });
                self.send(ModelCommand::Interrupt { force_cancel: true });
                self.send(ModelCommand::UserText(format!(
                    "guardrail triggered: {}",
                    names.join(", ")
                )));
            }
            Purpose::InputTranscript { item_id } => {
                if run.tripped.is_empty() {
                    return;
                }
                let names = names(&run.tripped);
                tracing::info!(session = %self.id, guardrails = ?names, item = %item_id, "input guardrail tripped; item removed");
                self.emit(SessionEvent::GuardrailTripped {
                    direction: Direction::Input,
                    guardrails: names,
                    message: run.text,
                });
                // The audio already reached the model: stop any reply it started and drop the item.
                self.send(ModelCommand::Interrupt { force_cancel: true });
                self.send(ModelCommand::Raw(Box::new(
                    ClientEvent::ConversationItemDelete {
                        event_id: None,
                        item_id,
                    },
                )));
            }
            Purpose::BeforeApproval { call, tool, agent } => {
                if run.tripped.is_empty() {
                    self.ask(call, tool, agent);
                } else {
                    self.block(call, &tool, &agent, &run.tripped);
                }
            }
        }
    }

    /// Refuse a call because tool guardrails tripped: the reasons go to the model.
    fn block(&mut self, call: Call, tool: &AgentTool, agent: &Agent, tripped: &[Trip]) {
        tracing::info!(session = %self.id, tool = %tool.qualified, call_id = %call.call_id, guardrails = ?names(tripped), "tool guardrail tripped; call refused");
        self.emit(SessionEvent::GuardrailTripped {
            direction: Direction::ToolCall,
            guardrails: names(tripped),
            message: call.arguments.clone(),
        });
        let message = blocked_message(tripped);
        self.send(ModelCommand::ToolOutput {
            call_id: call.call_id.clone(),
            output: message.clone(),
            start_response: true,
        });
        self.end_tool(agent, tool, call, message, ToolOutcome::Rejected);
    }

    /// Report a call's end to subscribers and the journal.
    fn end_tool(
        &self,
        agent: &Agent,
        tool: &AgentTool,
        call: Call,
        output: String,
        outcome: ToolOutcome,
    ) {
        self.journal.record_later(Record::ToolResult {
            session: self.id.to_string(),
            call_id: call.call_id.clone(),
            outcome: outcome.as_str().to_string(),
            output: output.clone(),
        });
        self.emit(SessionEvent::ToolEnd {
            agent: agent.name().to_string(),
            tool: tool.qualified.clone(),
            call_id: call.call_id,
            arguments: call.arguments,
            output,
            outcome,
        });
    }

    /// Journal a decision before acting on it. A journal that cannot record
    /// is a reason not to act: the call is refused and the error reported.
    async fn journal_first(
        &mut self,
        record: Record,
        call: &Call,
        tool: &AgentTool,
        agent: &Agent,
    ) -> bool {
        match self.journal.record(record).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(session = %self.id, call_id = %call.call_id, error = %e, "journal write failed; call refused");
                self.emit(SessionEvent::Error {
                    code: Some("journal_failed".into()),
                    message: format!("cannot record tool call {}: {e}", call.call_id),
                });
                let output = "error: the call could not be recorded, so it was not run".to_string();
                self.send(ModelCommand::ToolOutput {
                    call_id: call.call_id.clone(),
                    output: output.clone(),
                    start_response: true,
                });
                self.end_tool(agent, tool, call.clone(), output, ToolOutcome::Rejected);
                false
            }
        }
    }

    /// Hold a call for a person's decision.
    fn ask(&mut self, call: Call, tool: AgentTool, agent: Arc<Agent>) {
        let timeout = agent.config.approval.timeout;
        self.emit(SessionEvent::ToolApprovalRequired {
            agent: agent.name().to_string(),
            tool: tool.qualified.clone(),
            call_id: call.call_id.clone(),
            arguments: call.arguments.clone(),
        });
        tracing::info!(session = %self.id, tool = %tool.qualified, call_id = %call.call_id, "tool call waits for approval");
        self.pending.insert(
            call.call_id.clone(),
            Pending {
                call,
                tool,
                agent,
                deadline: timeout.map(|t| Instant::now() + t),
                expires_ms: timeout.map(|t| now_ms() + t.as_millis() as u64),
            },
        );
    }

    async fn on_function_call(&mut self, call: Call, agent: Arc<Agent>) {
        if let Some(tool) = agent.tool(&call.name).cloned() {
            let (decision, why) = match (self.always.get(&tool.qualified), tool.approval) {
                (Some(true), _) => (Action::Allow, "always approved in this session"),
                (Some(false), _) => (Action::Deny, "always rejected in this session"),
                (None, Some(true)) => (Action::Ask, "tool setting"),
                (None, Some(false)) => (Action::Allow, "tool setting"),
                (None, None) => (
                    agent
                        .config
                        .approval
                        .decide(&tool.qualified, &call.arguments),
                    "policy",
                ),
            };
            let record = Record::ToolCall {
                session: self.id.to_string(),
                call_id: call.call_id.clone(),
                agent: agent.name().to_string(),
                tool: tool.qualified.clone(),
                arguments: call.arguments.clone(),
                decision: format!("{} ({why})", decision.as_str()),
            };
            if !self.journal_first(record, &call, &tool, &agent).await {
                return;
            }
            match decision {
                Action::Allow => self.run_tool(call, tool, agent, false).await,
                Action::Deny => self.reject(call, &tool, &agent),
                Action::Ask => {
                    let early: Vec<AgentGuardrail> = agent
                        .tool_guardrails
                        .iter()
                        .filter(|(_, before)| *before)
                        .map(|(g, _)| g.clone())
                        .collect();
                    if early.is_empty() {
                        self.ask(call, tool, agent);
                    } else {
                        let subject = GuardrailSubject::ToolCall {
                            tool: tool.qualified.clone(),
                            arguments: call.arguments.clone(),
                        };
                        let text = call.arguments.clone();
                        self.spawn_guardrails(
                            early,
                            subject,
                            text,
                            Purpose::BeforeApproval { call, tool, agent },
                        );
                    }
                }
            }
        } else if let Some(handoff) = agent.handoff(&call.name).cloned() {
            let Some(target) = self.catalog.agents.get(&handoff.target).cloned() else {
                self.emit(SessionEvent::Error {
                    code: None,
                    message: format!(
                        "Handoff {} names unknown agent `{}`",
                        call.name, handoff.target
                    ),
                });
                return;
            };
            let from = self.agent.name().to_string();
            self.agent = target;
            tracing::info!(session = %self.id, %from, to = %handoff.target, "handoff");
            self.emit(SessionEvent::Handoff {
                from,
                to: handoff.target.clone(),
            });
            self.send_session_update();
            self.send(ModelCommand::ToolOutput {
                call_id: call.call_id,
                output: handoff.transfer_message(),
                start_response: true,
            });
        } else {
            tracing::warn!(session = %self.id, tool = %call.name, "model called an unknown tool");
            self.emit(SessionEvent::Error {
                code: Some("unknown_tool".into()),
                message: format!("Tool {} not found", call.name),
            });
            // Unlike the reference, answer the call: a model left waiting for an
            // output it will never get stalls the conversation.
            self.send(ModelCommand::ToolOutput {
                call_id: call.call_id,
                output: format!("error: there is no tool named `{}`", call.name),
                start_response: true,
            });
        }
    }

    /// Run a call: tool guardrails first, then the tool, in its own task unless
    /// the agent wants synchronous calls. `approved` skips guardrails that
    /// already ran before the person was asked.
    async fn run_tool(&mut self, call: Call, tool: AgentTool, agent: Arc<Agent>, approved: bool) {
        let guardrails: Vec<AgentGuardrail> = agent
            .tool_guardrails
            .iter()
            .filter(|(_, before)| !(approved && *before))
            .map(|(g, _)| g.clone())
            .collect();
        let info = CallInfo {
            session_id: self.id.to_string(),
            agent: agent.name().to_string(),
            call_id: call.call_id.clone(),
        };
        let bus = self.bus.clone();
        let work = {
            let (call, tool, agent) = (call.clone(), tool.clone(), agent.clone());
            async move {
                if !guardrails.is_empty() {
                    let subject = GuardrailSubject::ToolCall {
                        tool: tool.qualified.clone(),
                        arguments: call.arguments.clone(),
                    };
                    let tripped = check_all(&guardrails, &subject, &info).await;
                    if !tripped.is_empty() {
                        bus.publish(SessionEvent::GuardrailTripped {
                            direction: Direction::ToolCall,
                            guardrails: names(&tripped),
                            message: call.arguments.clone(),
                        });
                        let result = Err(ToolFailure::Blocked(blocked_message(&tripped)));
                        return ToolRun {
                            call,
                            tool,
                            agent,
                            result,
                        };
                    }
                }
                bus.publish(SessionEvent::ToolStart {
                    agent: agent.name().to_string(),
                    tool: tool.qualified.clone(),
                    call_id: call.call_id.clone(),
                    arguments: call.arguments.clone(),
                });
                let result = tool
                    .plugin
                    .call_tool(&tool.tool, &call.arguments, &info)
                    .await
                    .map_err(ToolFailure::Call);
                ToolRun {
                    call,
                    tool,
                    agent,
                    result,
                }
            }
        };
        if agent.config.async_tool_calls {
            let handle = self.tool_tasks.spawn(work);
            self.running.insert(handle.id(), (call, tool, agent));
        } else {
            let run = work.await;
            self.finish_tool(run);
        }
    }

    fn on_tool_done(
        &mut self,
        done: Result<(tokio::task::Id, ToolRun), tokio::task::JoinError>,
    ) -> Flow {
        match done {
            Ok((id, run)) => {
                self.running.remove(&id);
                self.finish_tool(run);
                Flow::Continue
            }
            Err(e) => {
                // Plugin failures come back as values; a task that died is a bug in
                // agentd itself. As in the reference, the session ends with the cause.
                let call = self.running.remove(&e.id()).map(|(call, ..)| call.call_id);
                let message = format!("Tool call task failed: {e}");
                tracing::error!(session = %self.id, call_id = ?call, %message, "internal error");
                self.emit(SessionEvent::Error {
                    code: Some("internal_error".into()),
                    message: message.clone(),
                });
                Flow::Stop(message)
            }
        }
    }

    fn finish_tool(&mut self, run: ToolRun) {
        let (output, outcome) = match run.result {
            Ok(out) => (out, ToolOutcome::Completed),
            Err(ToolFailure::Blocked(message)) => (message, ToolOutcome::Rejected),
            Err(ToolFailure::Call(e)) => {
                tracing::warn!(
                    session = %self.id,
                    tool = %run.tool.qualified,
                    call_id = %run.call.call_id,
                    error = %e,
                    "tool call failed"
                );
                (
                    format!("error: tool `{}` failed: {e}", run.tool.qualified),
                    ToolOutcome::Failed,
                )
            }
        };
        self.send(ModelCommand::ToolOutput {
            call_id: run.call.call_id.clone(),
            output: output.clone(),
            start_response: true,
        });
        self.end_tool(&run.agent, &run.tool, run.call, output, outcome);
    }

    fn rejection_message(agent: &Agent, tool: &AgentTool, call_id: &str) -> String {
        match &agent.config.rejection_message {
            Some(template) => template
                .replace("{tool}", &tool.qualified)
                .replace("{call_id}", call_id),
            None => REJECTION_MESSAGE.to_string(),
        }
    }

    fn reject(&mut self, call: Call, tool: &AgentTool, agent: &Agent) {
        let message = Self::rejection_message(agent, tool, &call.call_id);
        self.send(ModelCommand::ToolOutput {
            call_id: call.call_id.clone(),
            output: message.clone(),
            start_response: true,
        });
        self.end_tool(agent, tool, call, message, ToolOutcome::Rejected);
    }

    async fn decide(
        &mut self,
        call_id: &str,
        approve: bool,
        always: bool,
    ) -> Result<(), SessionError> {
        let Some(p) = self.pending.remove(call_id) else {
            return Err(SessionError::UnknownCall {
                session: self.id.to_string(),
                call_id: call_id.to_string(),
            });
        };
        tracing::info!(session = %self.id, tool = %p.tool.qualified, %call_id, approve, always, "approval decided");
        let record = Record::Approval {
            session: self.id.to_string(),
            call_id: call_id.to_string(),
            approved: approve,
            always,
            reason: "operator".into(),
        };
        if !self.journal_first(record, &p.call, &p.tool, &p.agent).await {
            return Ok(());
        }
        if always {
            self.always.insert(p.tool.qualified.clone(), approve);
        }
        if approve {
            self.run_tool(p.call, p.tool, p.agent, true).await;
        } else {
            self.reject(p.call, &p.tool, &p.agent);
        }
        Ok(())
    }

    async fn expire_approvals(&mut self) {
        let now = Instant::now();
        let expired: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Some(p) = self.pending.remove(&id) {
                tracing::info!(session = %self.id, tool = %p.tool.qualified, call_id = %id, "approval timed out; rejected");
                let record = Record::Approval {
                    session: self.id.to_string(),
                    call_id: id.clone(),
                    approved: false,
                    always: false,
                    reason: "timeout".into(),
                };
                if self.journal_first(record, &p.call, &p.tool, &p.agent).await {
                    self.reject(p.call, &p.tool, &p.agent);
                }
            }
        }
    }
}
