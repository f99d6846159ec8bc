//! `[models.NAME]`: which realtime endpoint serves an agent, how to reach
//! it, and the settings every agent on it starts from.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::SettingsOverlay;
use crate::config::Resilience;

/// Which realtime endpoint serves an agent.
#[derive(Debug, Clone, PartialEq)]
pub enum Provider {
    /// The built-in offline model on loopback.
    Sim,
    /// An OpenAI Realtime (GA) compatible endpoint.
    OpenAi,
}

/// `[models.NAME]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub name: String,
    pub provider: Provider,
    /// WebSocket URL; `None` for the sim model (its address is known at start-up).
    pub url: Option<String>,
    /// Model name sent in `session.update`.
    pub model: String,
    /// REST base for call control (`…/v1`); `None` for the sim model (known at start-up).
    pub api_base: Option<String>,
    /// Environment variable holding the API key (read at connect time, never logged).
    pub api_key_env: Option<String>,
    pub headers: BTreeMap<String, String>,
    /// Whether sessions ask the model for tracing (`tracing: "auto"`).
    pub tracing: bool,
    /// Extra CAs trusted for a `wss://` url (absolute path).
    pub ca_file: Option<PathBuf>,
    /// Sim provider: a scenario script played instead of the offline model (absolute path).
    pub scenario: Option<PathBuf>,
    /// Sim provider: each committed input audio buffer of a connection is
    /// transcribed as the next of these lines (then as `(<n> ms of audio)`).
    pub transcripts: Vec<String>,
    /// Keepalive and reconnect policy of its connections.
    pub resilience: Resilience,
    /// Settings every agent on this model starts from.
    pub defaults: SettingsOverlay,
}

/// Most reconnect attempts a model may ask for.
pub const MAX_RECONNECT_ATTEMPTS: u32 = 1000;

/// Name of the model agents use when they name none.
pub const DEFAULT_MODEL: &str = "default";

/// The REST base a realtime WebSocket url implies: `wss://h/v1/realtime?…`
/// → `https://h/v1` (the scheme swapped, the path cut after `/v1`).
pub fn api_base_from_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some(("wss", rest)) => ("https", rest),
        Some((_, rest)) => ("http", rest),
        None => ("https", url),
    };
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let base = match path.find("v1") {
        Some(i) => &path[..i + 2],
        None => "v1",
    };
    format!("{scheme}://{host}/{base}")
}
