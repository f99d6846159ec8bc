//! The session task: owns one conversation's state and is the only thing
//! that touches it.
//!
//! It `select!`s over, in this order: a new catalog generation (so a reload
//! reaches the session before any command sent after the reload answered),
//! its commands, the model's events, finished guardrail checks, and its
//! executor ending. Tool calls are handed to the executor; handoffs, output
//! and input-transcript guardrails, history and events are handled here.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use super::events::{Direction, EventBus, SessionEvent};
use super::executor::{self, ExecutorContext, ExecutorHandle, ToolCall};
use super::guardrails::{self, Checks, Input, Purpose, Transcripts, Verdict, names};
use super::handle::{Command, SessionHandle};
use super::history::{Change, History};
use super::settings::{for_media, session_config};
use super::{Notice, Notices, SessionError, SessionStatus, now_ms};
use crate::catalog::{Agent, Catalog};
use crate::config::SettingsOverlay;
use crate::metrics::metrics;
use crate::plugin::{CallInfo, GuardrailSubject};
use crate::realtime::client::{self, Endpoint, ModelCommand, ModelEvent};
use crate::realtime::protocol::{ClientEvent, Item, Usage};
use crate::store::{Journal, Record};

/// How a session connects and where it records what it does.
pub struct SessionOptions {
    pub endpoint: Endpoint,
    /// Explicit settings for this session (see [`super::settings`]).
    pub overrides: SettingsOverlay,
    pub journal: Journal,
    /// Where the session reports pending approvals and its end (the daemon's
    /// supervisor); `None` for a session nobody indexes (tests).
    pub notices: Option<Notices>,
    /// The call this session drives over a sideband, if any.
    pub call: Option<agentd_api::session::CallStatus>,
    /// How its built-in call tools act on that call.
    pub call_hooks: Option<super::CallHooks>,
    /// The daemon-wide event stream and memory budget the session's events join.
    pub events: super::hub::EventHub,
}

/// Connect to the model and start the session's task (and its executor).
/// The session follows `catalog`: each generation published there replaces
/// its agent's definition (see [`Session::on_catalog`]).
pub async fn start(
    id: &str,
    mut catalog: watch::Receiver<Arc<Catalog>>,
    agent: &str,
    options: SessionOptions,
) -> Result<SessionHandle, SessionError> {
    let SessionOptions {
        endpoint,
        overrides,
        journal,
        notices,
        call,
        call_hooks,
        events,
    } = options;
    let media = endpoint.media;
    let current = catalog.borrow_and_update().clone();
    let agent = current
        .agents
        .get(agent)
        .cloned()
        .ok_or_else(|| SessionError::UnknownAgent(agent.to_string()))?;
    // Every line logged for this session (its tasks, its tool calls, its
    // model connection) carries its id and agent.
    let span = tracing::info_span!("session", session = %id, agent = %agent.name());
    let initial = for_media(session_config(&agent, &overrides, true), media);
    let conn = client::connect(&endpoint, initial)
        .instrument(span.clone())
        .await?;
    let id: Arc<str> = Arc::from(id);
    let bus = EventBus::new(id.clone(), &events);
    bus.journal_trips(journal.clone());
    // The reference's first event: the (empty) history, once connected.
    bus.publish(SessionEvent::HistoryUpdated {
        item: serde_json::Value::Null,
        history_len: 0,
    });
    let (tx, rx) = mpsc::channel(256);
    let (input_tx, input_rx) = mpsc::unbounded_channel();
    let input_task = tokio::spawn(
        guardrails::input_pipeline(id.clone(), bus.clone(), conn.commands.clone(), input_rx)
            .instrument(span.clone()),
    );
    let (executor, executor_task) = span.in_scope(|| {
        executor::spawn(ExecutorContext {
            session: id.clone(),
            bus: bus.clone(),
            journal: journal.clone(),
            to_model: conn.commands.clone(),
            notices: notices.clone(),
            call: call_hooks,
        })
    });
    let session = Session {
        id: id.clone(),
        created_ms: now_ms(),
        catalog_rx: Some(catalog),
        catalog: current,
        agent,
        overrides,
        journal,
        bus: bus.clone(),
        to_model: conn.commands,
        inputs: input_tx,
        input_task,
        executor: executor.clone(),
        executor_task: Some(executor_task),
        notices,
        history: History::default(),
        checks: Checks::default(),
        transcripts: Transcripts::default(),
        interrupted_responses: HashSet::new(),
        usage: Usage::default(),
        responses: 0,
        dropped_audio_bytes: 0,
        media,
        call: call.clone(),
        turn_began: None,
        first_audio_seen: false,
    };
    span.in_scope(|| tracing::info!("session started"));
    session.journal.record_later(Record::SessionStarted {
        session: id.to_string(),
        agent: session.agent.name().to_string(),
        model: session.agent.model.name.clone(),
    });
    metrics().sessions_started.inc();
    metrics().sessions_live.inc();
    tokio::spawn(session.run(rx, conn.events).instrument(span));
    Ok(SessionHandle {
        id,
        bus,
        commands: tx,
        executor,
        channel: Arc::new(match &call {
            Some(c) => std::sync::OnceLock::from(c.channel.clone()),
            None => std::sync::OnceLock::new(),
        }),
        call: call.map(Arc::new),
    })
}

pub(super) struct Session {
    pub id: Arc<str>,
    created_ms: u64,
    /// Catalog generations as the supervisor publishes them; `None` once the
    /// publisher is gone (the daemon is stopping, or a test without one).
    catalog_rx: Option<watch::Receiver<Arc<Catalog>>>,
    pub catalog: Arc<Catalog>,
    pub agent: Arc<Agent>,
    /// Explicit settings given when the session started.
    overrides: SettingsOverlay,
    journal: Journal,
    pub bus: Arc<EventBus>,
    to_model: mpsc::UnboundedSender<ModelCommand>,
    inputs: mpsc::UnboundedSender<Input>,
    input_task: tokio::task::JoinHandle<()>,
    executor: ExecutorHandle,
    /// `None` once it ended (its reason was taken).
    executor_task: Option<tokio::task::JoinHandle<String>>,
    notices: Option<Notices>,
    history: History,
    checks: Checks,
    transcripts: Transcripts,
    interrupted_responses: HashSet<String>,
    usage: Usage,
    responses: u64,
    dropped_audio_bytes: u64,
    /// Where the conversation's audio travels (a sideband has none).
    media: crate::realtime::conversation::Media,
    call: Option<agentd_api::session::CallStatus>,
    /// When the turn being answered began: the end of the user's turn (a
    /// message, committed audio) or, for a response the model starts on its
    /// own (after a tool output), its start. Times the latency histograms.
    turn_began: Option<std::time::Instant>,
    /// Whether this turn's first audio was already timed.
    first_audio_seen: bool,
}

pub(super) enum Flow {
    Continue,
    Stop(String),
}

/// Resolves when the catalog publisher has a new generation; never when it is gone.
async fn catalog_changed(rx: &mut Option<watch::Receiver<Arc<Catalog>>>) -> bool {
    match rx {
        Some(rx) => rx.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

/// Resolves with the executor's reason when it ended by itself.
async fn executor_ended(task: &mut Option<tokio::task::JoinHandle<String>>) -> String {
    match task {
        Some(t) => {
            let reason = match t.await {
                Ok(reason) => reason,
                Err(e) => format!("Tool executor failed: {e}"),
            };
            *task = None;
            reason
        }
        None => std::future::pending().await,
    }
}

impl Session {
    pub(super) fn emit(&self, event: SessionEvent) {
        self.bus.publish(event);
    }

    pub(super) fn send(&self, cmd: ModelCommand) {
        // If the connection task is gone, its Closed event ends the session.
        let _ = self.to_model.send(cmd);
    }

    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut model: mpsc::Receiver<ModelEvent>,
    ) {
        let reason = loop {
            let flow = tokio::select! {
                biased;
                changed = catalog_changed(&mut self.catalog_rx) => {
                    if changed {
                        self.on_catalog();
                    } else {
                        self.catalog_rx = None;
                    }
                    Flow::Continue
                }
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd).await,
                    None => Flow::Stop("every handle to the session was dropped".into()),
                },
                ev = model.recv() => match ev {
                    Some(ev) => self.on_model_event(ev).await,
                    None => Flow::Stop("the model connection ended".into()),
                },
                Some(done) = self.checks.next(), if !self.checks.is_empty() => {
                    match done {
                        Ok(verdict) => self.on_verdict(verdict),
                        Err(e) => self.emit(SessionEvent::Error {
                            code: None,
                            message: format!("Guardrail task failed: {e}"),
                        }),
                    }
                    Flow::Continue
                }
                reason = executor_ended(&mut self.executor_task) => Flow::Stop(reason),
            };
            if let Flow::Stop(reason) = flow {
                break reason;
            }
        };
        self.shutdown(&reason).await;
    }

    async fn shutdown(&mut self, reason: &str) {
        self.input_task.abort();
        self.checks.shutdown().await;
        // Pending calls are reported as rejected before the session's end.
        self.executor.shutdown().await;
        // The conversation in its final form, for `agentctl history` once
        // the session is gone. Items without an id (never confirmed by the
        // model) are numbered by position.
        for (i, item) in self.history.items().iter().enumerate() {
            let (role, kind) = match item {
                Item::Message(m) => (
                    serde_json::to_value(m.role)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    "message",
                ),
                Item::FunctionCall(_) => ("tool".to_string(), "function_call"),
                Item::FunctionCallOutput(_) => ("tool".to_string(), "function_call_output"),
            };
            self.journal.record_later(Record::Item {
                session: self.id.to_string(),
                item_id: item.id().map_or_else(|| format!("#{i}"), str::to_string),
                role,
                kind: kind.to_string(),
                content: serde_json::to_string(item).unwrap_or_default(),
            });
        }
        self.journal.record_later(Record::SessionEnded {
            session: self.id.to_string(),
            reason: reason.to_string(),
        });
        self.send(ModelCommand::Close);
        tracing::info!(%reason, "session closed");
        metrics().session_ended(crate::metrics::EndReason::classify(reason));
        self.emit(SessionEvent::SessionClosed {
            reason: reason.to_string(),
        });
        if let Some(n) = &self.notices {
            let _ = n.send(Notice::Ended {
                session: self.id.clone(),
            });
        }
    }

    async fn status(&self) -> SessionStatus {
        let tools = self.executor.status().await;
        SessionStatus {
            id: self.id.to_string(),
            agent: self.agent.name().to_string(),
            model: self.agent.model.name.clone(),
            created_ms: self.created_ms,
            history_len: self.history.len(),
            pending_approvals: tools.pending,
            running_tools: tools.running,
            usage: self.usage,
            responses: self.responses,
            last_seq: self.bus.last_seq(),
            dropped_audio_bytes: self.dropped_audio_bytes,
            call: self.call.clone(),
        }
    }

    async fn on_command(&mut self, cmd: Command) -> Flow {
        match cmd {
            Command::Input(content) => {
                self.turn_began = Some(std::time::Instant::now());
                let input = Input {
                    content,
                    guardrails: self.agent.input_guardrails.clone(),
                    info: self.call_info("input"),
                };
                // The pipeline lives as long as the session; a send error means it is shutting down.
                let _ = self.inputs.send(input);
            }
            Command::Audio { audio, commit } => {
                if commit {
                    self.turn_began = Some(std::time::Instant::now());
                }
                self.send(ModelCommand::Audio { audio, commit })
            }
            Command::Interrupt => self.send(ModelCommand::Interrupt { force_cancel: true }),
            Command::Playback { item_id, played_ms } => {
                self.send(ModelCommand::Playback { item_id, played_ms })
            }
            Command::Status(reply) => {
                let _ = reply.send(self.status().await);
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
            Command::Close { reason, reply } => {
                let _ = reply.send(());
                return Flow::Stop(reason);
            }
        }
        Flow::Continue
    }

    pub(super) fn call_info(&self, call_id: &str) -> CallInfo {
        CallInfo {
            session_id: self.id.to_string(),
            agent: self.agent.name().to_string(),
            call_id: call_id.to_string(),
        }
    }

    /// A reload published a new generation. The session's agent is taken from
    /// it; whether it changed is the derived comparison of the whole resolved
    /// agent (settings, tools, every guardrail list, policy, handoffs,
    /// debounce, plugin versions), so nothing a reload changes is missed. The
    /// model is told only when the settings it sees changed.
    fn on_catalog(&mut self) {
        let Some(rx) = &mut self.catalog_rx else {
            return;
        };
        let catalog = rx.borrow_and_update().clone();
        match catalog.agents.get(self.agent.name()).cloned() {
            Some(agent) if agent != self.agent => {
                let before = self.settings();
                self.agent = agent;
                tracing::info!(session = %self.id, agent = %self.agent.name(), "agent changed by a reload");
                if self.settings() != before {
                    self.send_session_update();
                }
            }
            Some(agent) => self.agent = agent,
            None => tracing::warn!(
                session = %self.id,
                agent = %self.agent.name(),
                "agent removed by a reload; the session keeps its last definition"
            ),
        }
        self.catalog = catalog;
    }

    /// The settings the model gets after the first, as this session's media allows.
    fn settings(&self) -> crate::realtime::protocol::SessionConfig {
        for_media(
            session_config(&self.agent, &self.overrides, false),
            self.media,
        )
    }

    pub(super) fn send_session_update(&self) {
        let settings = self.settings();
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
            ModelEvent::Raw(raw) => {
                self.bus.publish_raw(raw);
            }
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
                let call = ToolCall {
                    call_id,
                    name,
                    arguments,
                };
                self.on_function_call(call).await;
            }
            ModelEvent::Audio {
                item_id,
                content_index,
                response_id,
                audio,
            } => {
                if !self.first_audio_seen
                    && let Some(began) = self.turn_began
                {
                    self.first_audio_seen = true;
                    metrics().first_audio.observe(began.elapsed().as_secs_f64());
                }
                self.emit(SessionEvent::Audio {
                    item_id,
                    content_index,
                    response_id,
                    audio,
                })
            }
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
                let info = self.call_info(&item_id);
                self.checks.spawn(
                    self.agent.input_guardrails.clone(),
                    GuardrailSubject::InputText(transcript.clone()),
                    transcript,
                    Purpose::InputTranscript { item_id },
                    info,
                );
            }
            ModelEvent::InputAudioTimeoutTriggered => {
                self.emit(SessionEvent::InputAudioTimeoutTriggered)
            }
            ModelEvent::Dtmf { digit, received_at } => {
                tracing::info!(session = %self.id, %digit, "DTMF digit");
                self.emit(SessionEvent::Dtmf { digit, received_at })
            }
            ModelEvent::TurnStarted { .. } => {
                self.turn_began.get_or_insert_with(std::time::Instant::now);
                self.emit(SessionEvent::AgentStart {
                    agent: self.agent.name().to_string(),
                })
            }
            ModelEvent::TurnEnded { usage, .. } => {
                if let Some(began) = self.turn_began.take() {
                    metrics()
                        .turn_latency
                        .observe(began.elapsed().as_secs_f64());
                }
                self.first_audio_seen = false;
                self.transcripts.clear();
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

    /// A function call: a tool goes to the executor (and, with synchronous
    /// calls, the session waits until it is settled), a handoff switches the
    /// agent, anything else is an unknown tool.
    async fn on_function_call(&mut self, call: ToolCall) {
        let agent = self.agent.clone();
        if let Some(tool) = agent.tool(&call.name).cloned() {
            let settled = self.executor.call(call, tool, agent.clone());
            if !agent.config.async_tool_calls {
                // An error means the executor is gone: nothing to wait for.
                let _ = settled.await;
            }
        } else if let Some(handoff) = agent.handoff(&call.name).cloned() {
            self.on_handoff(call, &handoff);
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

    fn on_transcript_delta(&mut self, item_id: String, response_id: String, delta: String) {
        let (so_far, due) = self.transcripts.push(&item_id, &delta, self.agent.debounce);
        let change = self
            .history
            .append_assistant_transcript(&item_id, so_far, &delta);
        // Only a guardrail run needs its own copy of the text so far.
        let text = due.then(|| so_far.to_string());
        if let Change::Added(_) = change {
            self.history_event(change);
        }
        self.emit(SessionEvent::TranscriptDelta {
            item_id,
            response_id: response_id.clone(),
            delta,
        });
        if let Some(text) = text
            && !self.interrupted_responses.contains(&response_id)
        {
            let info = self.call_info(&response_id);
            self.checks.spawn(
                self.agent.output_guardrails.clone(),
                GuardrailSubject::OutputText(text.clone()),
                text,
                Purpose::Output { response_id },
                info,
            );
        }
    }

    fn on_verdict(&mut self, verdict: Verdict) {
        if verdict.tripped.is_empty() {
            return;
        }
        let names = names(&verdict.tripped);
        match verdict.purpose {
            Purpose::Output { response_id } => {
                if !self.interrupted_responses.insert(response_id.clone()) {
                    return;
                }
                tracing::info!(session = %self.id, guardrails = ?names, response = %response_id, "output guardrail tripped");
                self.emit(SessionEvent::GuardrailTripped {
                    direction: Direction::Output,
                    guardrails: names.clone(),
                    message: verdict.text,
                });
                self.send(ModelCommand::Interrupt { force_cancel: true });
                self.send(ModelCommand::UserText(format!(
                    "guardrail triggered: {}",
                    names.join(", ")
                )));
            }
            Purpose::InputTranscript { item_id } => {
                tracing::info!(session = %self.id, guardrails = ?names, item = %item_id, "input guardrail tripped; item removed");
                self.emit(SessionEvent::GuardrailTripped {
                    direction: Direction::Input,
                    guardrails: names,
                    message: verdict.text,
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
        }
    }
}
