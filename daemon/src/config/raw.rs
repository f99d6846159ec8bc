//! The file format of `agents.toml`, exactly as serde reads it.
//!
//! Nothing outside `config` sees these types: `validate` turns them into the
//! resolved [`super::Config`]. Every table denies unknown keys so a typo is an
//! error with a position, never a setting that silently does nothing.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_spanned::Spanned;

/// A string with its byte span in the file.
pub type S = Spanned<String>;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub daemon: RawDaemon,
    #[serde(default)]
    pub models: BTreeMap<S, RawModel>,
    #[serde(default)]
    pub plugins: BTreeMap<S, RawPlugin>,
    #[serde(default)]
    pub agents: BTreeMap<S, RawAgent>,
    #[serde(default)]
    pub guardrails: RawGuardrails,
    #[serde(default)]
    pub journal: RawJournal,
    /// `[sip]`: phone calls through the model provider's SIP trunk.
    pub sip: Option<Spanned<RawSip>>,
}

/// `[daemon.http]`: the TCP listener (webhooks, signalling, control API by token).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub listen: Option<S>,
    pub tls_cert: Option<S>,
    pub tls_key: Option<S>,
    #[serde(default)]
    pub tokens: Vec<Spanned<RawToken>>,
    /// Browser origins that may use the WebRTC signalling routes without a token.
    #[serde(default)]
    pub allow_origins: Vec<S>,
    /// Largest request body, like `"1MiB"`.
    pub max_body: Option<S>,
    /// Requests per minute one client address may make.
    pub rate_limit: Option<Spanned<i64>>,
    /// `GET /metrics` without a token, for a scraper on a private network.
    #[serde(default)]
    pub metrics_public: bool,
}

/// `{ name = "ops", file = "/etc/agentd/ops.token", role = "operator" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToken {
    pub name: S,
    pub file: S,
    pub role: Option<S>,
}

/// `[sip]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSip {
    pub model: Option<S>,
    pub webhook_path: Option<S>,
    pub webhook_secret_env: Option<S>,
    #[serde(default)]
    pub routes: Vec<Spanned<RawSipRoute>>,
    pub max_calls: Option<Spanned<i64>>,
    pub reject_status: Option<Spanned<i64>>,
    /// Target URIs `call.transfer` may refer a call to (`*` suffix wildcard).
    #[serde(default)]
    pub transfer_targets: Vec<S>,
}

/// `{ to = "+18005550100", agent = "concierge" }`, `{ from = "+1555*", agent = "vip" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSipRoute {
    pub to: Option<S>,
    pub from: Option<S>,
    pub agent: S,
}

/// `[journal]`: how much of the audit journal to keep.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawJournal {
    pub max_age: Option<S>,
    pub max_size: Option<S>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDaemon {
    pub socket: Option<S>,
    pub state_dir: Option<S>,
    /// Compiled-component cache; defaults to `<state_dir>/cache`.
    pub cache_dir: Option<S>,
    /// Watch the config and plugin files and reload on change (default true).
    pub watch: Option<bool>,
    pub plugin_dir: Option<S>,
    /// Agent used by `agentctl session start` with no agent named.
    pub default_agent: Option<S>,
    /// Tool and guardrail calls that may wait for an instance slot, daemon-wide.
    pub tool_queue: Option<Spanned<i64>>,
    /// Members of this group may use the control socket too.
    pub socket_group: Option<S>,
    /// `[daemon.http]`: off when absent.
    pub http: Option<RawHttp>,
    /// How long a drain lets live calls go on, like `"5m"`.
    pub drain_timeout: Option<S>,
    /// `"text"` or `"json"`; JSON under journald when unset.
    pub log_format: Option<S>,
    /// Memory all sessions' kept events may use, daemon-wide, like `"256MiB"`.
    pub event_memory: Option<S>,
    /// `"normal"` (default) or `"full"`: when a journal commit is durable.
    pub journal_sync: Option<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub provider: Option<S>,
    pub url: Option<S>,
    pub model: Option<S>,
    pub api_key_env: Option<S>,
    /// REST base (`https://api.openai.com/v1`); derived from `url` when absent.
    pub api_base: Option<S>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `false` removes tracing from the session settings.
    pub tracing: Option<bool>,
    /// PEM file of extra CAs trusted for a `wss://` url.
    pub ca_file: Option<S>,
    /// Sim provider only: play this scenario script instead of the offline model.
    pub scenario: Option<S>,
    /// Sim provider only: what committed input audio is transcribed as, in turn.
    pub transcripts: Option<Spanned<Vec<String>>>,
    /// WebSocket ping interval, like `"20s"`.
    pub keepalive: Option<S>,
    /// A model silent this long is taken as dead.
    pub dead_after: Option<S>,
    /// Reconnect attempts after a loss before the session gives up.
    pub reconnect_attempts: Option<Spanned<i64>>,
    /// First reconnect delay, doubled each attempt.
    pub reconnect_backoff: Option<S>,
    /// Longest reconnect delay.
    pub reconnect_backoff_max: Option<S>,
    /// Settings every agent on this model starts from.
    #[serde(default)]
    pub defaults: RawSettings,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlugin {
    pub path: S,
    #[serde(default)]
    pub sandbox: RawSandbox,
    /// `"per-call"` (default), `"per-session"` or `{ pool = N, recycle_after = M }`.
    pub instance: Option<Spanned<OrTable<RawInstance>>>,
}

/// `instance = "per-session"` or `{ pool = 4, recycle_after = 100, recycle_memory = "48MiB" }`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawInstance {
    /// Only from the string form (`"per-call"`, `"per-session"`).
    #[serde(skip)]
    pub mode: Option<String>,
    pub pool: Option<u32>,
    pub recycle_after: Option<u32>,
    pub recycle_memory: Option<String>,
}

impl Shorthand for RawInstance {
    fn from_shorthand(mode: String) -> Self {
        RawInstance {
            mode: Some(mode),
            ..RawInstance::default()
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawSandbox {
    pub memory: Option<S>,
    pub timeout: Option<S>,
    pub max_output: Option<S>,
    /// Host directories the plugin may see.
    #[serde(default)]
    pub dirs: Vec<Spanned<RawDir>>,
    /// Environment variables with fixed values.
    #[serde(default)]
    pub env: BTreeMap<S, String>,
    /// Environment variables copied from the daemon's own environment.
    #[serde(default)]
    pub inherit_env: Vec<S>,
    /// `host:port` pairs the plugin may open TCP connections to.
    #[serde(default)]
    pub allow_hosts: Vec<S>,
}

/// `{ host = "/srv/data", guest = "/data", mode = "ro" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDir {
    pub host: S,
    pub guest: S,
    pub mode: Option<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgent {
    pub model: Option<S>,
    pub instructions: Option<String>,
    pub voice: Option<S>,
    pub output_modalities: Option<Vec<S>>,
    #[serde(default)]
    pub tools: Vec<Spanned<OrTable<RawToolRef>>>,
    /// Output guardrails (on the model's transcript and text).
    #[serde(default)]
    pub guardrails: Vec<S>,
    /// Guardrails on user text and input-audio transcripts.
    #[serde(default)]
    pub input_guardrails: Vec<S>,
    /// Guardrails on tool calls, before they run.
    #[serde(default)]
    pub tool_guardrails: Vec<Spanned<OrTable<RawToolGuardrail>>>,
    #[serde(default)]
    pub handoffs: Vec<Spanned<OrTable<RawHandoff>>>,
    pub handoff_description: Option<String>,
    pub async_tool_calls: Option<bool>,
    pub rejection_message: Option<String>,
    #[serde(default)]
    pub approval: RawApproval,
    /// Realtime session settings (see `config::realtime`).
    pub input_audio_format: Option<S>,
    pub output_audio_format: Option<S>,
    pub turn_detection: Option<Spanned<RawTurnDetection>>,
    pub transcription_model: Option<S>,
    pub tool_choice: Option<S>,
    pub max_output_tokens: Option<Spanned<toml::Value>>,
}

/// `turn_detection = { type = "server_vad", ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTurnDetection {
    #[serde(rename = "type")]
    pub kind: S,
    pub threshold: Option<f64>,
    pub prefix_padding_ms: Option<u32>,
    pub silence_duration_ms: Option<u32>,
    pub idle_timeout_ms: Option<u32>,
    pub eagerness: Option<S>,
    pub create_response: Option<bool>,
    pub interrupt_response: Option<bool>,
}

/// A list entry written either as a string or as a table: `"billing"` or
/// `{ agent = "billing", enabled = false }`.
///
/// Read by hand rather than as an untagged enum: serde's untagged enums buffer
/// their input and lose the spans that error messages need.
#[derive(Debug)]
pub struct OrTable<T>(pub T);

/// How the string form of an [`OrTable`] entry becomes the full entry.
pub trait Shorthand: Sized {
    fn from_shorthand(s: String) -> Self;
}

impl<'de, T: Deserialize<'de> + Shorthand> Deserialize<'de> for OrTable<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Shorthand> serde::de::Visitor<'de> for V<T> {
            type Value = OrTable<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a table")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<OrTable<T>, E> {
                Ok(OrTable(T::from_shorthand(v.to_string())))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<OrTable<T>, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(OrTable)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// `"calc.*"` or `{ use = "calc.add", as = "add", approval = true }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToolRef {
    #[serde(rename = "use")]
    pub tool: String,
    #[serde(rename = "as")]
    pub alias: Option<String>,
    /// `true`: every call asks a person first; `false`: never asks (rules aside).
    pub approval: Option<bool>,
}

impl Shorthand for RawToolRef {
    fn from_shorthand(tool: String) -> Self {
        RawToolRef {
            tool,
            alias: None,
            approval: None,
        }
    }
}

/// `"billing"` or `{ agent = "billing", tool_name = "…", description = "…", enabled = false }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHandoff {
    pub agent: String,
    pub tool_name: Option<String>,
    pub description: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

impl Shorthand for RawHandoff {
    fn from_shorthand(agent: String) -> Self {
        RawHandoff {
            agent,
            tool_name: None,
            description: None,
            enabled: true,
        }
    }
}

/// `"plugin.guardrail"` or `{ use = "plugin.guardrail", before_approval = true }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToolGuardrail {
    #[serde(rename = "use")]
    pub guardrail: String,
    #[serde(default)]
    pub before_approval: bool,
}

impl Shorthand for RawToolGuardrail {
    fn from_shorthand(guardrail: String) -> Self {
        RawToolGuardrail {
            guardrail,
            before_approval: false,
        }
    }
}

/// Session settings that model defaults, agents and sessions can each set;
/// later layers win.
#[derive(Debug, Deserialize, Default, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    pub instructions: Option<String>,
    pub voice: Option<String>,
    pub output_modalities: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawApproval {
    pub default: Option<S>,
    pub timeout: Option<S>,
    pub on_timeout: Option<S>,
    #[serde(default)]
    pub rules: Vec<Spanned<RawRule>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub tool: S,
    pub action: S,
    pub when: Option<Spanned<RawWhen>>,
}

/// A `when` condition: `arg` with its tests, or one of `all`, `any`, `not`.
/// Every part is spanned so each mistake is reported where it was written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWhen {
    pub arg: Option<S>,
    pub eq: Option<Spanned<serde_json::Value>>,
    pub ne: Option<Spanned<serde_json::Value>>,
    pub gt: Option<Spanned<f64>>,
    pub ge: Option<Spanned<f64>>,
    pub lt: Option<Spanned<f64>>,
    pub le: Option<Spanned<f64>>,
    #[serde(rename = "in")]
    pub one_of: Option<Spanned<Vec<serde_json::Value>>>,
    pub matches: Option<S>,
    pub exists: Option<Spanned<bool>>,
    pub all: Option<Spanned<Vec<Spanned<RawWhen>>>>,
    pub any: Option<Spanned<Vec<Spanned<RawWhen>>>>,
    pub not: Option<Box<Spanned<RawWhen>>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawGuardrails {
    /// Output guardrails applied to every agent, in addition to its own.
    #[serde(default)]
    pub output: Vec<S>,
    /// Input guardrails applied to every agent, in addition to its own.
    #[serde(default)]
    pub input: Vec<S>,
    pub debounce_text_length: Option<Spanned<i64>>,
}
