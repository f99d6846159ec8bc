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
    Close(oneshot::Sender<()>),
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
        self.ask(Command::Close).await
    }

    /// Whether the session task has ended.
    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }
}
