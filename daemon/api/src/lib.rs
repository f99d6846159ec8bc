//! The control API of agentd, as types: what `agentd` (the server) writes and
//! what `agentctl` and the tests (the clients) read.
//!
//! Every body, event and query the API exchanges is defined here once, and
//! every one of them both serializes and deserializes, so the two sides
//! cannot drift apart: a change to a type changes the server and every client
//! at the same time, and the round-trip tests of each module prove that what
//! the daemon writes, the client reads.
//!
//! The crate is deliberately light (serde, a small hyper client on a Unix
//! socket, no engine): a client that links it does not link wasmtime,
//! Cranelift, SQLite or TLS. The routes are listed in README.md ("Control
//! API"); [`client::Client`] has one typed method per route.

#![deny(missing_docs)]

pub mod audit;
pub mod client;
pub mod error;
pub mod events;
pub mod identity;
pub mod input;
pub mod openapi;
pub mod query;
pub mod requests;
pub mod responses;
pub mod routes;
pub mod session;
pub mod settings;
pub mod time;

pub use audit::{
    AuditApproval, AuditCall, GuardrailTrip, JournalItem, JournalSession, RememberedAnswer,
};
pub use client::{Client, ClientError};
pub use error::{ErrorBody, ErrorDetail};
pub use events::{Direction, Envelope, EventsLost, SessionEvent, StreamItem, ToolOutcome};
pub use identity::Identity;
pub use input::InputPart;
pub use query::{AuditQuery, EventsQuery, QueryError};
pub use requests::{
    CallTool, Decision, Explain, Forget, Playback, Remember, SendAudio, SendMessage, SetAgent,
    StartSession,
};
pub use responses::{
    Accepted, AgentSet, AgentSummary, AgentToolSummary, Closed, Decided, Forgotten, PluginSummary,
    PolicyExplanation, ReloadReport, SessionStarted, SessionSummary, Status, ToolCallResult,
    ToolSummary,
};
pub use session::{PendingApproval, SessionStatus, Usage};
pub use settings::{Modality, SettingsError, SettingsOverlay};
pub use time::format_time_ms;
