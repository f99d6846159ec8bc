//! How the rest of the daemon reaches a session: typed commands with reply
//! channels to the session task, and decisions straight to its executor.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::events::EventBus;
use super::executor::ExecutorHandle;
use super::{SessionError, SessionStatus};
use crate::realtime::protocol::{ContentPart, Item};

/// What the session task is asked to do.
pub(super) enum Command {
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
    Status(oneshot::Sender<SessionStatus>),
    History(oneshot::Sender<Vec<Item>>),
    SetAgent {
        agent: String,
        reply: oneshot::Sender<Result<(), SessionError>>,
    },
    /// End the session; `reason` is recorded.
    Close {
        reason: String,
        reply: oneshot::Sender<()>,
    },
}

/// A live (or recently ended) session, as others hold it. Cheap to clone.
#[derive(Clone)]
pub struct SessionHandle {
    pub id: Arc<str>,
    pub bus: Arc<EventBus>,
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) executor: ExecutorHandle,
    /// The call it drives over a sideband (its audio is the provider's).
    pub call: Option<Arc<agentd_api::session::CallStatus>>,
    /// The channel (SIP, WebRTC) the session carries a call for, if any:
    /// set once by whoever answers the call, seen by every clone.
    pub(super) channel: Arc<std::sync::OnceLock<String>>,
}

impl SessionHandle {
    fn ended(&self) -> SessionError {
        SessionError::Ended(self.id.to_string())
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, SessionError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| self.ended())?;
        rx.await.map_err(|_| self.ended())
    }

    async fn tell(&self, cmd: Command) -> Result<(), SessionError> {
        self.commands.send(cmd).await.map_err(|_| self.ended())
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

    /// Approve or reject a pending call on behalf of `decider`; `always`
    /// applies to later calls of the same tool. Goes to the session's
    /// executor, not its task.
    pub async fn decide(
        &self,
        call_id: &str,
        approve: bool,
        always: bool,
        decider: agentd_api::Identity,
    ) -> Result<(), SessionError> {
        let answer = super::executor::Answer {
            always,
            ..super::executor::Answer::once(approve, decider)
        };
        self.executor.decide(call_id, answer).await
    }

    /// The session's tool executor (where decisions go).
    pub fn executor(&self) -> ExecutorHandle {
        self.executor.clone()
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

    /// End the session: cancel running work, drop pending approvals, close the model.
    pub async fn close(&self) -> Result<(), SessionError> {
        self.close_with("closed on request").await
    }

    /// End the session, recording `reason` (e.g. `draining`).
    pub async fn close_with(&self, reason: &str) -> Result<(), SessionError> {
        self.ask(|reply| Command::Close {
            reason: reason.to_string(),
            reply,
        })
        .await
    }

    /// Mark the session as carrying a call on `channel` (`sip`, `webrtc`):
    /// a drain waits for such sessions instead of closing them when idle.
    /// The first mark wins.
    pub fn set_channel(&self, channel: &str) {
        let _ = self.channel.set(channel.to_string());
    }

    /// The channel the session carries a call for, if any.
    pub fn channel(&self) -> Option<&str> {
        self.channel.get().map(String::as_str)
    }

    /// Whether the session carries a call on a channel (see [`Self::set_channel`]).
    pub fn is_channel(&self) -> bool {
        self.channel.get().is_some()
    }

    /// Whether a response or a tool call (running, or waiting for a
    /// decision) is in flight. Asks the executor, never the session task,
    /// so a busy session answers at once.
    pub async fn busy(&self) -> bool {
        if self.bus.response_in_flight() {
            return true;
        }
        let tools = self.executor.status().await;
        tools.running > 0 || !tools.pending.is_empty()
    }

    /// Whether the session task has ended.
    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }
}
