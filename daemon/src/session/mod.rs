//! The session engine: one conversation with a model, run by two tasks.
//!
//! - [`task`]: the session task owns the conversation's state (current agent,
//!   history, guardrail counters) and is the only thing that touches it; it
//!   follows the catalog the supervisor publishes, so a reload reaches a live
//!   session at once;
//! - [`executor`]: the tool executor owns every tool call (policy, approvals,
//!   `always`, journal-first, running calls, timeouts); decisions reach it
//!   directly, never waiting behind the session;
//! - [`handle`]: how others reach both (typed commands with reply channels);
//! - [`guardrails`]: input, output and transcript guardrails off the session task;
//! - [`handoff`]: switching agents when the model calls a handoff tool;
//! - [`settings`]: an agent turned into `session.update` settings;
//! - [`events`], [`history`]: what subscribers see, and the conversation;
//! - [`hub`]: the daemon-wide event stream and the memory budget of kept events.
//!
//! Behaviour follows the reference `RealtimeSession`: tool calls run
//! concurrently by default (a slow tool never stalls the model stream),
//! approvals hold a call by `call_id`, output guardrails run every
//! `debounce_text_length` characters of an item's transcript and trip at most
//! once per response, and a handoff sends the new agent's settings before the
//! tool output that completes it.

pub mod events;
pub mod executor;
mod guardrails;
mod handle;
mod handoff;
pub mod history;
pub mod hub;
pub mod settings;
mod task;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;

use crate::realtime::client::ConnectError;
use crate::realtime::endpoint::EndpointError;
pub use events::{Direction, Envelope, EventBus, SessionEvent, ToolOutcome};
pub use executor::{Answer, ExecutorHandle};
pub use handle::SessionHandle;
pub use hub::EventHub;
pub use task::{SessionOptions, start};

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
    #[error("the daemon is draining: it takes no new sessions")]
    Draining,
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
}

// Defined once, in the control API crate, because the API carries them.
pub use agentd_api::Identity;
pub use agentd_api::session::{PendingApproval, SessionStatus};

/// What sessions tell the daemon's supervisor, without waiting for it.
#[derive(Debug)]
pub enum Notice {
    /// A call waits for a person; decisions for it go to `executor`.
    ApprovalPending {
        call_id: String,
        session: Arc<str>,
        executor: ExecutorHandle,
    },
    /// The call no longer waits (decided, timed out, or its session closed).
    ApprovalSettled { call_id: String, session: Arc<str> },
    /// The session task ended.
    Ended { session: Arc<str> },
}

/// What a built-in call tool asks of the session's call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallAction {
    Transfer { target_uri: String },
    HangUp,
}

/// How a session's call tools reach its call (given by whoever attached the
/// session to the call); resolves with the tool's output or why it failed.
pub type CallHooks = Arc<
    dyn Fn(CallAction) -> futures_util::future::BoxFuture<'static, Result<String, String>>
        + Send
        + Sync,
>;

/// Where sessions send their [`Notice`]s.
pub type Notices = mpsc::UnboundedSender<Notice>;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
