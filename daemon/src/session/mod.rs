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

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::catalog::{Agent, AgentGuardrail, AgentTool, Catalog};
use crate::config::ModelConfig;
use crate::plugin::{CallInfo, GuardrailSubject};
use crate::policy::Action;
use crate::realtime::client::{self, ConnectError, Endpoint, ModelCommand, ModelEvent};
use crate::realtime::protocol::{Item, Usage};
use crate::realtime::settings::session_config;
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

/// A tool call held for a person's decision.
#[derive(Debug, Clone, Serialize)]
pub struct PendingApproval {
    pub call_id: String,
    pub tool: String,
    pub agent: String,
    pub arguments: String,
    /// Milliseconds since the Unix epoch when it will be rejected unanswered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<u64>,
}

/// A snapshot of a session for `agentctl sessions`.
#[derive(Debug, Clone, Serialize)]
pub struct SessionStatus {
    pub id: String,
    pub agent: String,
    pub model: String,
    pub created_ms: u64,
    pub history_len: usize,
    pub pending_approvals: Vec<PendingApproval>,
    pub running_tools: usize,
    pub usage: Usage,
    pub responses: u64,
    pub last_seq: u64,
}

enum Command {
    Text(String),
    Audio {
        audio: String,
        commit: bool,
    },
    Interrupt,
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
        self.tell(Command::Text(text)).await
    }

    /// Send input audio (base64); `commit` ends the user's turn.
    pub async fn send_audio(&self, audio: String, commit: bool) -> Result<(), SessionError> {
        self.tell(Command::Audio { audio, commit }).await
    }

    /// Stop the model's current response.
    pub async fn interrupt(&self) -> Result<(), SessionError> {
        self.tell(Command::Interrupt).await
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
    })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Connect to the model and start the session's task.
pub async fn start(
    id: &str,
    catalog: Arc<Catalog>,
    agent: &str,
    endpoint: Endpoint,
) -> Result<SessionHandle, SessionError> {
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
    let conn = client::connect(&endpoint, session_config(&agent, &model)).await?;
    let id: Arc<str> = Arc::from(id);
    let bus = EventBus::new(id.clone());
    let (tx, rx) = mpsc::channel(256);
    let session = Session {
        id: id.clone(),
        created_ms: now_ms(),
        debounce: catalog.config.guardrails.debounce_text_length.max(1),
        catalog,
        agent,
        model,
        bus: bus.clone(),
        to_model: conn.commands,
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
    };
    tracing::info!(session = %id, agent = %session.agent.name(), "session started");
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
    result: Result<String, crate::plugin::CallError>,
}

struct GuardrailRun {
    response_id: String,
    text: String,
    tripped: Vec<String>,
}

struct Session {
    id: Arc<str>,
    created_ms: u64,
    catalog: Arc<Catalog>,
    agent: Arc<Agent>,
    model: ModelConfig,
    bus: Arc<EventBus>,
    to_model: mpsc::UnboundedSender<ModelCommand>,
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
                    self.on_tool_done(done);
                    Flow::Continue
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
                    self.expire_approvals();
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
        self.guardrail_tasks.shutdown().await;
        self.tool_tasks.shutdown().await;
        self.running.clear();
        let mut pending: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        pending.sort_by(|a, b| a.call.call_id.cmp(&b.call.call_id));
        for p in pending {
            // Reported, not sent: the model connection is closing.
            self.emit(SessionEvent::ToolEnd {
                agent: p.agent.name().to_string(),
                tool: p.tool.qualified.clone(),
                call_id: p.call.call_id,
                arguments: p.call.arguments,
                output: "session closed before the call was approved".into(),
                outcome: ToolOutcome::Rejected,
            });
        }
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
        }
    }

    async fn on_command(&mut self, cmd: Command) -> Flow {
        match cmd {
            Command::Text(text) => self.send(ModelCommand::UserText(text)),
            Command::Audio { audio, commit } => self.send(ModelCommand::Audio { audio, commit }),
            Command::Interrupt => self.send(ModelCommand::Interrupt {
                force_cancel: false,
            }),
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

    /// Hot reload (issue 5): take the new generation; tell the model only
    /// when the settings it sees actually changed.
    fn on_new_catalog(&mut self, catalog: Arc<Catalog>) {
        match catalog.agents.get(self.agent.name()).cloned() {
            Some(agent) => {
                let before = session_config(&self.agent, &self.model);
                self.agent = agent;
                if session_config(&self.agent, &self.model) != before {
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
        let settings = session_config(&self.agent, &self.model);
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
            ModelEvent::Closed { error } => {
                let reason = match error {
                    Some(e) => {
                        self.emit(SessionEvent::Error {
                            code: Some("model_disconnected".into()),
                            message: e.clone(),
                        });
                        e
                    }
                    None => "model connection closed".into(),
                };
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
        let guardrails: Vec<AgentGuardrail> = self.agent.output_guardrails.clone();
        if guardrails.is_empty() || self.interrupted_responses.contains(&response_id) {
            return;
        }
        let info = CallInfo {
            session_id: self.id.to_string(),
            agent: self.agent.name().to_string(),
            call_id: response_id.clone(),
        };
        let session = self.id.clone();
        self.guardrail_tasks.spawn(async move {
            let subject = GuardrailSubject::OutputText(text.clone());
            let mut tripped = Vec::new();
            for g in &guardrails {
                match g.plugin.check_guardrail(&g.name, &subject, &info).await {
                    Ok(v) if v.tripwire => tripped.push(g.qualified.clone()),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(
                        session = %session,
                        guardrail = %g.qualified,
                        error = %e,
                        "guardrail failed; skipped"
                    ),
                }
            }
            GuardrailRun {
                response_id,
                text,
                tripped,
            }
        });
    }

    fn on_guardrail_done(&mut self, run: GuardrailRun) {
        if run.tripped.is_empty() || !self.interrupted_responses.insert(run.response_id.clone()) {
            return;
        }
        tracing::info!(session = %self.id, guardrails = ?run.tripped, response = %run.response_id, "output guardrail tripped");
        self.emit(SessionEvent::GuardrailTripped {
            direction: Direction::Output,
            guardrails: run.tripped.clone(),
            message: run.text,
        });
        self.send(ModelCommand::Interrupt { force_cancel: true });
        self.send(ModelCommand::UserText(format!(
            "guardrail triggered: {}",
            run.tripped.join(", ")
        )));
    }

    async fn on_function_call(&mut self, call: Call, agent: Arc<Agent>) {
        if let Some(tool) = agent.tool(&call.name).cloned() {
            let decision = match self.always.get(&tool.qualified) {
                Some(true) => Action::Allow,
                Some(false) => Action::Deny,
                None => agent
                    .config
                    .approval
                    .decide(&tool.qualified, &call.arguments),
            };
            match decision {
                Action::Allow => self.run_tool(call, tool, agent).await,
                Action::Deny => self.reject(call, &tool, &agent),
                Action::Ask => {
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

    async fn run_tool(&mut self, call: Call, tool: AgentTool, agent: Arc<Agent>) {
        self.emit(SessionEvent::ToolStart {
            agent: agent.name().to_string(),
            tool: tool.qualified.clone(),
            call_id: call.call_id.clone(),
            arguments: call.arguments.clone(),
        });
        let info = CallInfo {
            session_id: self.id.to_string(),
            agent: agent.name().to_string(),
            call_id: call.call_id.clone(),
        };
        let work = {
            let (call, tool, agent) = (call.clone(), tool.clone(), agent.clone());
            async move {
                let result = tool
                    .plugin
                    .call_tool(&tool.tool, &call.arguments, &info)
                    .await;
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

    fn on_tool_done(&mut self, done: Result<(tokio::task::Id, ToolRun), tokio::task::JoinError>) {
        match done {
            Ok((id, run)) => {
                self.running.remove(&id);
                self.finish_tool(run);
            }
            Err(e) => {
                let Some((call, tool, agent)) = self.running.remove(&e.id()) else {
                    return;
                };
                let message = format!("Tool call task failed: {e}");
                self.emit(SessionEvent::Error {
                    code: None,
                    message: message.clone(),
                });
                self.finish_tool(ToolRun {
                    call,
                    tool,
                    agent,
                    result: Err(crate::plugin::CallError::Trap(message)),
                });
            }
        }
    }

    fn finish_tool(&mut self, run: ToolRun) {
        let (output, outcome) = match run.result {
            Ok(out) => (out, ToolOutcome::Completed),
            Err(e) => {
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
        self.emit(SessionEvent::ToolEnd {
            agent: run.agent.name().to_string(),
            tool: run.tool.qualified,
            call_id: run.call.call_id,
            arguments: run.call.arguments,
            output,
            outcome,
        });
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
        self.emit(SessionEvent::ToolEnd {
            agent: agent.name().to_string(),
            tool: tool.qualified.clone(),
            call_id: call.call_id,
            arguments: call.arguments,
            output: message,
            outcome: ToolOutcome::Rejected,
        });
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
        if always {
            self.always.insert(p.tool.qualified.clone(), approve);
        }
        if approve {
            self.run_tool(p.call, p.tool, p.agent).await;
        } else {
            self.reject(p.call, &p.tool, &p.agent);
        }
        Ok(())
    }

    fn expire_approvals(&mut self) {
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
                self.reject(p.call, &p.tool, &p.agent);
            }
        }
    }
}
