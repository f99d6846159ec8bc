//! The control API's request and response bodies, re-exported from the
//! `agentd-api` crate (where `agentctl` takes them from too) so daemon code
//! keeps naming them `control::api::…`.

pub use agentd_api::error::{ErrorBody, ErrorDetail};
pub use agentd_api::requests::{
    CallTool, Decision, Playback, SendAudio, SendMessage, SetAgent, StartSession,
};
pub use agentd_api::responses::{
    Accepted, AgentSet, AgentSummary, AgentToolSummary, Closed, Decided, PluginSummary,
    ReloadReport, SessionStarted, SessionSummary, Status, ToolCallResult, ToolSummary,
};
