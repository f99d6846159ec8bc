//! Request and response bodies of the control API, shared by `agentd` (the
//! server) and `agentctl` (the client) so the two cannot drift apart.
//! The routes are listed in README.md ("Control API").

use serde::{Deserialize, Serialize};

/// Every error response: `{"error": {"code": …, "message": …}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

/// `POST /v1/sessions`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartSession {
    /// The agent to start with; the config's default agent when absent.
    #[serde(default)]
    pub agent: Option<String>,
    /// Explicit settings that win over the model's defaults and, at connect, over the agent's.
    #[serde(default)]
    pub settings: crate::config::SettingsOverlay,
}

/// Reply to `POST /v1/sessions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionStarted {
    pub id: String,
    pub agent: String,
}

/// `POST /v1/sessions/{id}/messages`: `text`, or structured `content` parts
/// (`{"type": "input_text", "text": …}`, `{"type": "input_image", "image_url": …}`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<crate::realtime::protocol::ContentPart>>,
}

/// `POST /v1/sessions/{id}/audio`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendAudio {
    /// Base64 audio in the session's input format.
    pub audio: String,
    #[serde(default)]
    pub commit: bool,
}

/// `POST /v1/sessions/{id}/playback`: how far the attached client has played
/// an item's audio, so an interrupt truncates it where the listener stopped.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Playback {
    pub item_id: String,
    pub played_ms: u64,
}

/// `POST /v1/sessions/{id}/agent`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetAgent {
    pub agent: String,
}

/// `POST /v1/approvals/{call_id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub approve: bool,
    /// Apply the same answer to later calls of this tool in the session.
    #[serde(default)]
    pub always: bool,
    /// The session holding the call; searched for when absent.
    #[serde(default)]
    pub session: Option<String>,
}

/// Reply to `POST /v1/approvals/{call_id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Decided {
    pub session: String,
    pub call_id: String,
    pub approved: bool,
}

/// A tool as `agentctl plugins` and `status` show it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolSummary {
    pub name: String,
    pub description: String,
}

/// One plugin, loaded or not.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginSummary {
    pub name: String,
    pub path: String,
    /// SHA-256 of the version serving now; absent when none loaded.
    #[serde(default)]
    pub hash: Option<String>,
    /// When the serving version was loaded (ms since the Unix epoch).
    #[serde(default)]
    pub loaded_ms: Option<u64>,
    /// `compiled`, `cached` (disk cache) or `reused` (unchanged on reload).
    #[serde(default)]
    pub origin: Option<String>,
    #[serde(default)]
    pub tools: Vec<ToolSummary>,
    #[serde(default)]
    pub guardrails: Vec<String>,
    /// The last load failure; with a `hash`, the previous version keeps serving.
    #[serde(default)]
    pub error: Option<String>,
}

/// What a reload did: `POST /v1/reload`, and `last_reload` in the status.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReloadReport {
    /// `applied`, `unchanged` or `rejected`.
    pub outcome: String,
    /// `watch`, `signal` or `api`.
    pub trigger: String,
    pub time_ms: u64,
    /// Why it was rejected, each as `file:line:col: message` where known.
    #[serde(default)]
    pub errors: Vec<String>,
    #[serde(default)]
    pub agents_added: Vec<String>,
    #[serde(default)]
    pub agents_removed: Vec<String>,
    #[serde(default)]
    pub agents_changed: Vec<String>,
    #[serde(default)]
    pub plugins_added: Vec<String>,
    #[serde(default)]
    pub plugins_removed: Vec<String>,
    #[serde(default)]
    pub plugins_changed: Vec<String>,
    #[serde(default)]
    pub models_added: Vec<String>,
    #[serde(default)]
    pub models_removed: Vec<String>,
    #[serde(default)]
    pub models_changed: Vec<String>,
    /// Some other setting changed (`default_agent`, `plugin_dir`, …).
    #[serde(default)]
    pub settings_changed: bool,
    /// Plugins whose file could not be loaded (old version kept, if any).
    #[serde(default)]
    pub plugins_failed: Vec<String>,
}

/// One tool of an agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentToolSummary {
    /// What the model calls it.
    pub function: String,
    /// `plugin.tool`.
    pub tool: String,
}

/// One agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentSummary {
    pub name: String,
    pub model: String,
    pub tools: Vec<AgentToolSummary>,
    pub guardrails: Vec<String>,
    pub handoffs: Vec<String>,
}

/// `GET /v1/status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    pub pid: u32,
    pub started_ms: u64,
    pub config: String,
    pub socket: String,
    pub agents: Vec<AgentSummary>,
    pub plugins: Vec<PluginSummary>,
    pub sessions: usize,
    /// The most recent reload since start-up.
    #[serde(default)]
    pub last_reload: Option<ReloadReport>,
}

/// One row of `GET /v1/sessions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionSummary {
    pub id: String,
    pub closed: bool,
    #[serde(default)]
    pub status: Option<serde_json::Value>,
}

/// `POST /v1/tools/{plugin.tool}/call`: run a tool without a model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallTool {
    /// The arguments, as the model would send them.
    #[serde(default = "empty_object")]
    pub arguments: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

/// Reply to [`CallTool`]: the output, or why there is none.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolCallResult {
    pub ok: bool,
    /// The tool's output, or the error the model would have been told.
    pub output: String,
    /// Wall-clock time of the call, sandbox set-up included.
    pub elapsed_us: u64,
}
