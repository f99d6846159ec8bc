//! The validated configuration: what the rest of the daemon sees of
//! agents.toml. One file per section, named like the file of `validate/`
//! that builds it: paths are absolute, sizes and durations parsed, names
//! checked. Source positions ([`Location`](super::Location))
//! are kept only where a later check (the catalog's plugin references) reports
//! against them.

mod agents;
mod daemon;
mod guardrails;
mod http;
mod models;
mod plugins;
pub mod realtime;
mod sip;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use agents::{AgentConfig, HandoffConfig, ToolRef};
pub use daemon::{
    DEFAULT_DRAIN_TIMEOUT, DaemonConfig, JournalSync, LogFormat, MAX_TOOL_QUEUE, MIN_EVENT_MEMORY,
    default_socket_path, default_state_dir,
};
pub use guardrails::{GuardrailRef, GuardrailSettings, ToolGuardrailRef};
pub use http::{DEFAULT_HTTP_MAX_BODY, DEFAULT_RATE_LIMIT, HttpConfig, Role, Token};
pub use models::{DEFAULT_MODEL, MAX_RECONNECT_ATTEMPTS, ModelConfig, Provider, api_base_from_url};
pub use sip::{
    DEFAULT_MAX_CALLS, DEFAULT_REJECT_STATUS, DEFAULT_WEBHOOK_PATH, SipConfig, SipRoute,
    wildcard_match,
};
// Defined once, in the control API crate, because the API carries them.
pub use agentd_api::settings::{Modality, SettingsOverlay};
pub use plugins::{
    DEFAULT_RECYCLE_AFTER, DirGrant, HostPort, InstanceMode, MAX_PLUGIN_MEMORY, PER_SESSION_MAX,
    PluginConfig, Sandbox,
};

/// The validated configuration of the whole daemon.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (absolute).
    pub path: PathBuf,
    pub daemon: DaemonConfig,
    pub models: BTreeMap<String, ModelConfig>,
    pub plugins: BTreeMap<String, PluginConfig>,
    pub agents: BTreeMap<String, AgentConfig>,
    pub guardrails: GuardrailSettings,
    /// `[journal]`: how much of the journal to keep.
    pub journal: crate::store::Retention,
    /// `[sip]`: phone calls, when configured.
    pub sip: Option<SipConfig>,
    /// What validation found questionable but accepted (`agentd check`
    /// prints them and still succeeds; the daemon logs them).
    pub warnings: Vec<super::Diagnostic>,
    /// Hex SHA-256 of the file's text, as the journal records reloads.
    pub source_hash: String,
}

impl Config {
    /// The agent `agentctl session start` uses when none is named.
    pub fn default_agent(&self) -> Option<&str> {
        self.daemon
            .default_agent
            .as_deref()
            .or_else(|| self.agents.keys().next().map(String::as_str))
    }
}
