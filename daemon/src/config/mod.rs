//! `agents.toml`: parse, validate, resolve.
//!
//! Two types, two phases: [`raw`] is the file as serde reads it (unknown keys
//! are errors), [`Config`] is what the rest of the daemon sees — paths made
//! absolute against the file's folder, sizes and durations parsed, names
//! checked. Validation collects every problem it finds, each with
//! `file:line:col`, so one `agentd check` run shows them all.
//!
//! References that need the loaded plugins (does `calc.add` exist?) are checked
//! later by [`crate::catalog`], using the [`Location`]s kept here.

mod raw;
pub mod realtime;
mod units;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_spanned::Spanned;

use crate::policy::{Action, ApprovalPolicy, Condition, Rule, ToolPattern};
mod resilience;
pub use resilience::Resilience;
pub use units::{parse_duration, parse_size};

/// A position in a config file, shown as `file:line:col`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<Path>,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// Where a setting was written. Every `Written` equals every other: two
/// configs that differ only in layout (a moved line, a new comment) mean the
/// same thing, so change detection — derived `PartialEq` over whole config and
/// catalog values — must not see a moved line as a change. Use the
/// [`Location`] inside (`Deref`) for messages.
#[derive(Debug, Clone)]
pub struct Written(pub Location);

impl PartialEq for Written {
    fn eq(&self, _: &Written) -> bool {
        true
    }
}

impl std::ops::Deref for Written {
    type Target = Location;
    fn deref(&self) -> &Location {
        &self.0
    }
}

impl fmt::Display for Written {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub location: Option<Location>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(at) => write!(f, "{at}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Every problem found in one config file; never empty.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl ConfigError {
    fn single(location: Option<Location>, message: impl Into<String>) -> Self {
        ConfigError {
            diagnostics: vec![Diagnostic {
                location,
                message: message.into(),
            }],
        }
    }
}

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
}

/// `[daemon]`: settings that need a restart to change.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonConfig {
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    /// Compiled plugins, keyed by content hash and engine fingerprint.
    pub cache_dir: PathBuf,
    /// Reload automatically when the config or a plugin file changes.
    pub watch: bool,
    /// Folder scanned for `*.wasm` plugins not declared under `[plugins]`.
    pub plugin_dir: Option<PathBuf>,
    pub default_agent: Option<String>,
}

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
    /// Environment variable holding the API key (read at connect time, never logged).
    pub api_key_env: Option<String>,
    pub headers: BTreeMap<String, String>,
    /// Whether sessions ask the model for tracing (`tracing: "auto"`).
    pub tracing: bool,
    /// Extra CAs trusted for a `wss://` url (absolute path).
    pub ca_file: Option<PathBuf>,
    /// Sim provider: a scenario script played instead of the offline model (absolute path).
    pub scenario: Option<PathBuf>,
    /// Keepalive and reconnect policy of its connections.
    pub resilience: Resilience,
    /// Settings every agent on this model starts from.
    pub defaults: SettingsOverlay,
}

// Defined once, in the control API crate, because the API carries it.
pub use agentd_api::settings::SettingsOverlay;

/// What a plugin may use: per-call limits plus its grants. Everything not
/// granted here is invisible to the plugin (deny by default).
#[derive(Debug, Clone, PartialEq)]
pub struct Sandbox {
    pub memory: u64,
    pub timeout: Duration,
    pub max_output: u64,
    /// Host directories mapped into the guest.
    pub dirs: Vec<DirGrant>,
    /// Environment variables the guest sees (fixed values and inherited ones, resolved).
    pub env: Vec<(String, String)>,
    /// TCP destinations the guest may connect to; empty means no network at all.
    pub allow_hosts: Vec<HostPort>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox {
            memory: 64 << 20,
            timeout: Duration::from_secs(5),
            max_output: 1 << 20,
            dirs: Vec::new(),
            env: Vec::new(),
            allow_hosts: Vec::new(),
        }
    }
}

/// One `dirs` entry: a host directory, where the guest sees it, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// Absolute host path (resolved against the config file's folder).
    pub host: PathBuf,
    /// Absolute guest path, e.g. `/data`.
    pub guest: String,
    pub read_only: bool,
}

/// One `allow_hosts` entry: `api.example.com:443` or `127.0.0.1:8080`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl HostPort {
    /// Parse `host:port` (`[v6]:port` for IPv6 literals); the port is required.
    pub fn parse(text: &str) -> Result<HostPort, String> {
        let bad = || format!("`{text}` must be `host:port`, like `api.example.com:443`");
        let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() || host.contains(['/', ' ', '*']) {
            return Err(bad());
        }
        if host.contains(':') && host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad());
        }
        let port: u16 = port.parse().map_err(|_| bad())?;
        if port == 0 {
            return Err(format!("`{text}`: port 0 is not a destination"));
        }
        Ok(HostPort {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

/// Largest memory cap a plugin may ask for; the engine's instance pool is sized for it.
pub const MAX_PLUGIN_MEMORY: u64 = 1 << 30;

/// `[plugins.NAME]` (or a file found in `plugin_dir`).
#[derive(Debug, Clone, PartialEq)]
pub struct PluginConfig {
    pub name: String,
    pub path: PathBuf,
    pub sandbox: Sandbox,
    pub at: Option<Written>,
}

/// One entry of an agent's `tools` list.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolRef {
    pub pattern: ToolPattern,
    /// Model-visible name, for `{ use = "calc.add", as = "add" }`.
    pub alias: Option<String>,
    /// `Some(true)`: always ask a person; `Some(false)`: never (overrides the rules).
    pub approval: Option<bool>,
    pub at: Written,
}

/// One handoff of an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct HandoffConfig {
    /// The agent handed to.
    pub agent: String,
    /// Tool name the model sees; `transfer_to_<agent>` by default.
    pub tool_name: Option<String>,
    pub description: Option<String>,
    pub at: Written,
}

/// A guardrail on tool calls.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolGuardrailRef {
    pub guardrail: GuardrailRef,
    /// Run before a person is asked to approve, not only before the tool runs.
    pub before_approval: bool,
}

/// A `plugin.name` reference to a guardrail.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardrailRef {
    pub plugin: String,
    pub name: String,
    pub at: Written,
}

impl fmt::Display for GuardrailRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.plugin, self.name)
    }
}

// Defined once, in the control API crate, because the API carries it.
pub use agentd_api::settings::Modality;

/// `[agents.NAME]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    pub name: String,
    pub model: String,
    pub instructions: String,
    pub voice: Option<String>,
    pub output_modalities: Option<Vec<Modality>>,
    pub tools: Vec<ToolRef>,
    /// Output guardrails.
    pub guardrails: Vec<GuardrailRef>,
    pub input_guardrails: Vec<GuardrailRef>,
    pub tool_guardrails: Vec<ToolGuardrailRef>,
    /// Enabled handoffs only (`enabled = false` ones are dropped here).
    pub handoffs: Vec<HandoffConfig>,
    pub handoff_description: Option<String>,
    pub async_tool_calls: bool,
    pub rejection_message: Option<String>,
    pub approval: ApprovalPolicy,
    /// Audio, turn detection, transcription, tool choice, token limit.
    pub realtime: realtime::RealtimeSettings,
    pub at: Written,
}

/// `[guardrails]`: daemon-wide guardrail settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardrailSettings {
    pub output: Vec<GuardrailRef>,
    pub input: Vec<GuardrailRef>,
    pub debounce_text_length: usize,
}

/// Most reconnect attempts a model may ask for.
pub const MAX_RECONNECT_ATTEMPTS: u32 = 1000;

/// Name of the model agents use when they name none.
pub const DEFAULT_MODEL: &str = "default";

impl Config {
    /// Read and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::single(None, format!("cannot read {}: {e}", path.display()))
        })?;
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        Config::parse(&abs, &text)
    }

    /// Validate config text as if it were read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let file: Arc<Path> = Arc::from(path);
        let ctx = Ctx {
            file: file.clone(),
            text,
            base: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            diagnostics: Vec::new(),
        };
        let raw: raw::RawConfig = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                let location = e.span().map(|s| ctx.location(s.start));
                return Err(ConfigError::single(
                    location,
                    e.message().trim().to_string(),
                ));
            }
        };
        ctx.validate(raw)
    }

    /// The agent `agentctl session start` uses when none is named.
    pub fn default_agent(&self) -> Option<&str> {
        self.daemon
            .default_agent
            .as_deref()
            .or_else(|| self.agents.keys().next().map(String::as_str))
    }
}

struct Ctx<'a> {
    file: Arc<Path>,
    text: &'a str,
    base: PathBuf,
    diagnostics: Vec<Diagnostic>,
}

/// Plugin, tool and guardrail names: what the model API allows in a function name.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `[A-Za-z_][A-Za-z0-9_]*`: what a shell accepts as a variable name.
fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Ctx<'_> {
    fn location(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self.text[line_start..offset].chars().count() + 1;
        Location {
            file: self.file.clone(),
            line,
            col,
        }
    }

    fn at<T>(&self, s: &Spanned<T>) -> Location {
        self.location(s.span().start)
    }

    fn written<T>(&self, s: &Spanned<T>) -> Written {
        Written(self.at(s))
    }

    fn error<T>(&mut self, s: &Spanned<T>, message: impl Into<String>) {
        let location = Some(self.at(s));
        self.diagnostics.push(Diagnostic {
            location,
            message: message.into(),
        });
    }

    fn path(&self, s: &Spanned<String>) -> PathBuf {
        self.base.join(s.get_ref())
    }

    fn validate(mut self, raw: raw::RawConfig) -> Result<Config, ConfigError> {
        let state_dir = raw
            .daemon
            .state_dir
            .as_ref()
            .map(|s| self.path(s))
            .unwrap_or_else(default_state_dir);
        let daemon = DaemonConfig {
            socket: raw
                .daemon
                .socket
                .as_ref()
                .map(|s| self.path(s))
                .unwrap_or_else(default_socket_path),
            cache_dir: raw
                .daemon
                .cache_dir
                .as_ref()
                .map(|s| self.path(s))
                .unwrap_or_else(|| state_dir.join("cache")),
            state_dir,
            watch: raw.daemon.watch.unwrap_or(true),
            plugin_dir: raw.daemon.plugin_dir.as_ref().map(|s| self.path(s)),
            default_agent: raw
                .daemon
                .default_agent
                .as_ref()
                .map(|s| s.get_ref().clone()),
        };
        if let Some(name) = &raw.daemon.default_agent
            && !raw.agents.keys().any(|k| k.get_ref() == name.get_ref())
        {
            self.error(
                name,
                format!("default_agent: no agent named `{}`", name.get_ref()),
            );
        }

        let mut models = BTreeMap::new();
        for (name, m) in &raw.models {
            if let Some(model) = self.model(name, m) {
                models.insert(name.get_ref().clone(), model);
            }
        }
        models
            .entry(DEFAULT_MODEL.to_string())
            .or_insert_with(|| ModelConfig {
                name: DEFAULT_MODEL.to_string(),
                provider: Provider::Sim,
                url: None,
                model: "agentd-sim".to_string(),
                api_key_env: None,
                headers: BTreeMap::new(),
                tracing: true,
                ca_file: None,
                scenario: None,
                resilience: Resilience::default(),
                defaults: SettingsOverlay::default(),
            });

        let mut plugins = BTreeMap::new();
        for (name, p) in &raw.plugins {
            if !is_valid_name(name.get_ref()) {
                self.error(
                    name,
                    format!(
                        "plugin name `{}` must be 1-64 characters of a-z, A-Z, 0-9, `_` or `-`",
                        name.get_ref()
                    ),
                );
                continue;
            }
            let sandbox = self.sandbox(&p.sandbox);
            plugins.insert(
                name.get_ref().clone(),
                PluginConfig {
                    name: name.get_ref().clone(),
                    path: self.path(&p.path),
                    sandbox,
                    at: Some(self.written(name)),
                },
            );
        }

        let mut agents = BTreeMap::new();
        for (name, a) in &raw.agents {
            if !is_valid_name(name.get_ref()) {
                self.error(
                    name,
                    format!(
                        "agent name `{}` must be 1-64 characters of a-z, A-Z, 0-9, `_` or `-`",
                        name.get_ref()
                    ),
                );
                continue;
            }
            let agent = self.agent(name, a, &raw, &models);
            agents.insert(name.get_ref().clone(), agent);
        }

        let debounce_text_length = match &raw.guardrails.debounce_text_length {
            Some(n) if *n.get_ref() < 1 => {
                self.error(n, "debounce_text_length must be at least 1");
                100
            }
            Some(n) => usize::try_from(*n.get_ref()).unwrap_or(100),
            None => 100,
        };
        let guardrails = GuardrailSettings {
            output: raw
                .guardrails
                .output
                .iter()
                .filter_map(|g| self.guardrail_ref(g))
                .collect(),
            input: raw
                .guardrails
                .input
                .iter()
                .filter_map(|g| self.guardrail_ref(g))
                .collect(),
            debounce_text_length,
        };

        if !self.diagnostics.is_empty() {
            return Err(ConfigError {
                diagnostics: self.diagnostics,
            });
        }
        Ok(Config {
            path: self.file.to_path_buf(),
            daemon,
            models,
            plugins,
            agents,
            guardrails,
        })
    }

    fn model(&mut self, name: &Spanned<String>, m: &raw::RawModel) -> Option<ModelConfig> {
        let provider = match m.provider.as_ref().map(|p| p.get_ref().as_str()) {
            None | Some("sim") => Provider::Sim,
            Some("openai") => Provider::OpenAi,
            Some(other) => {
                let p = m.provider.as_ref()?;
                self.error(
                    p,
                    format!("unknown provider `{other}`; expected `sim` or `openai`"),
                );
                return None;
            }
        };
        let model = m
            .model
            .as_ref()
            .map(|s| s.get_ref().clone())
            .unwrap_or_else(|| match provider {
                Provider::Sim => "agentd-sim".to_string(),
                Provider::OpenAi => "gpt-realtime".to_string(),
            });
        let url = match (&provider, &m.url) {
            (Provider::Sim, Some(u)) => {
                self.error(u, "the sim provider runs on loopback and takes no `url`");
                None
            }
            (Provider::Sim, None) => None,
            (Provider::OpenAi, Some(u)) => {
                let v = u.get_ref();
                if !(v.starts_with("ws://") || v.starts_with("wss://")) {
                    self.error(u, format!("url `{v}` must start with ws:// or wss://"));
                }
                Some(v.clone())
            }
            (Provider::OpenAi, None) => {
                Some(format!("wss://api.openai.com/v1/realtime?model={model}"))
            }
        };
        let api_key_env = match provider {
            Provider::Sim => None,
            Provider::OpenAi => Some(
                m.api_key_env
                    .as_ref()
                    .map(|s| s.get_ref().clone())
                    .unwrap_or_else(|| "OPENAI_API_KEY".to_string()),
            ),
        };
        let ca_file = m.ca_file.as_ref().and_then(|c| {
            if provider == Provider::Sim {
                self.error(
                    c,
                    "the sim provider runs on loopback without TLS and takes no `ca_file`",
                );
                return None;
            }
            if !url.as_deref().is_some_and(|u| u.starts_with("wss://")) {
                self.error(c, "`ca_file` is only used with a wss:// url");
            }
            let path = self.path(c);
            if let Err(e) = crate::realtime::tls::read_ca_file(&path) {
                self.error(c, format!("ca_file: {e}"));
            }
            Some(path)
        });
        let scenario = m.scenario.as_ref().and_then(|sc| {
            if provider != Provider::Sim {
                self.error(
                    sc,
                    "`scenario` is played by the sim provider; set provider = \"sim\"",
                );
                return None;
            }
            let path = self.path(sc);
            match crate::realtime::scenario::Scenario::load(&path) {
                Ok(_) => Some(path),
                Err(e) => {
                    self.error(sc, e.to_string());
                    None
                }
            }
        });
        let resilience = self.resilience(m);
        let defaults = self.overlay(name, &m.defaults);
        Some(ModelConfig {
            name: name.get_ref().clone(),
            provider,
            url,
            model,
            api_key_env,
            headers: m.headers.clone(),
            tracing: m.tracing.unwrap_or(true),
            ca_file,
            scenario,
            resilience,
            defaults,
        })
    }

    /// A duration key that must be more than zero, with where it was written.
    fn positive_duration<'v>(
        &mut self,
        key: &str,
        v: Option<&'v Spanned<String>>,
    ) -> Option<(Duration, &'v Spanned<String>)> {
        let v = v?;
        match parse_duration(v.get_ref()) {
            Ok(d) if d.is_zero() => self.error(v, format!("{key} must be more than zero")),
            Ok(d) => return Some((d, v)),
            Err(e) => self.error(v, format!("{key}: {e}")),
        }
        None
    }

    /// Keepalive and reconnect keys; each bad one is reported and left at its default.
    fn resilience(&mut self, m: &raw::RawModel) -> Resilience {
        let mut r = Resilience::default();
        let keepalive = self.positive_duration("keepalive", m.keepalive.as_ref());
        let dead_after = self.positive_duration("dead_after", m.dead_after.as_ref());
        let backoff = self.positive_duration("reconnect_backoff", m.reconnect_backoff.as_ref());
        let backoff_max =
            self.positive_duration("reconnect_backoff_max", m.reconnect_backoff_max.as_ref());
        if let Some((d, _)) = keepalive {
            r.ping_interval = d;
        }
        if let Some((d, at)) = dead_after {
            // Silence is judged at each ping: a limit under the ping interval
            // would declare a quiet but healthy model dead between two pings.
            if d <= r.ping_interval {
                self.error(
                    at,
                    format!(
                        "dead_after ({}) must be longer than keepalive ({:?})",
                        at.get_ref(),
                        r.ping_interval
                    ),
                );
            } else {
                r.dead_after = d;
            }
        } else if keepalive.is_some() {
            // Keep the default ratio (twice the ping interval) when only keepalive is set.
            r.dead_after = r.ping_interval * 2;
        }
        if let Some(n) = &m.reconnect_attempts {
            match u32::try_from(*n.get_ref()) {
                Ok(v) if v <= MAX_RECONNECT_ATTEMPTS => r.max_attempts = v,
                _ => self.error(
                    n,
                    format!("reconnect_attempts must be 0 to {MAX_RECONNECT_ATTEMPTS}"),
                ),
            }
        }
        if let Some((d, _)) = backoff {
            r.backoff_initial = d;
            r.backoff_max = r.backoff_max.max(d);
        }
        if let Some((d, at)) = backoff_max {
            if d < r.backoff_initial {
                self.error(
                    at,
                    format!(
                        "reconnect_backoff_max ({}) is shorter than reconnect_backoff ({:?})",
                        at.get_ref(),
                        r.backoff_initial
                    ),
                );
            } else {
                r.backoff_max = d;
            }
        }
        r
    }

    fn overlay(&mut self, at: &Spanned<String>, r: &raw::RawSettings) -> SettingsOverlay {
        let mut output_modalities = None;
        if let Some(list) = &r.output_modalities {
            let mut out = Vec::new();
            for m in list {
                match m.as_str() {
                    "audio" => out.push(Modality::Audio),
                    "text" => out.push(Modality::Text),
                    other => self.error(
                        at,
                        format!("defaults: unknown output modality `{other}`; expected `audio` or `text`"),
                    ),
                }
            }
            output_modalities = Some(out);
        }
        let overlay = SettingsOverlay {
            instructions: r.instructions.clone(),
            voice: r.voice.clone(),
            output_modalities,
        };
        if let Err(e) = overlay.validate() {
            self.error(at, format!("defaults: {e}"));
        }
        overlay
    }

    fn sandbox(&mut self, s: &raw::RawSandbox) -> Sandbox {
        let mut sandbox = Sandbox::default();
        if let Some(m) = &s.memory {
            match parse_size(m.get_ref()) {
                Ok(v) if v > MAX_PLUGIN_MEMORY => self.error(
                    m,
                    format!("memory {} is over the limit of 1GiB", m.get_ref()),
                ),
                Ok(v) => sandbox.memory = v,
                Err(e) => self.error(m, format!("memory: {e}")),
            }
        }
        if let Some(t) = &s.timeout {
            match parse_duration(t.get_ref()) {
                Ok(v) if v.is_zero() => self.error(t, "timeout must be more than zero"),
                Ok(v) => sandbox.timeout = v,
                Err(e) => self.error(t, format!("timeout: {e}")),
            }
        }
        if let Some(o) = &s.max_output {
            match parse_size(o.get_ref()) {
                Ok(v) => sandbox.max_output = v,
                Err(e) => self.error(o, format!("max_output: {e}")),
            }
        }
        for d in &s.dirs {
            if let Some(grant) = self.dir_grant(d, &sandbox.dirs) {
                sandbox.dirs.push(grant);
            }
        }
        for (name, value) in &s.env {
            if !is_env_name(name.get_ref()) {
                self.error(
                    name,
                    format!("env: `{}` is not a variable name", name.get_ref()),
                );
                continue;
            }
            sandbox.env.push((name.get_ref().clone(), value.clone()));
        }
        for name in &s.inherit_env {
            let n = name.get_ref();
            if !is_env_name(n) {
                self.error(name, format!("inherit_env: `{n}` is not a variable name"));
            } else if s.env.keys().any(|k| k.get_ref() == n) {
                self.error(name, format!("inherit_env: `{n}` is also set in `env`"));
            } else if let Ok(v) = std::env::var(n) {
                // Read at load (and reload) time; an unset variable is simply not passed.
                sandbox.env.push((n.clone(), v));
            }
        }
        for h in &s.allow_hosts {
            match HostPort::parse(h.get_ref()) {
                Ok(hp) => sandbox.allow_hosts.push(hp),
                Err(e) => self.error(h, format!("allow_hosts: {e}")),
            }
        }
        sandbox
    }

    fn dir_grant(&mut self, d: &Spanned<raw::RawDir>, seen: &[DirGrant]) -> Option<DirGrant> {
        let raw = d.get_ref();
        let read_only = match raw.mode.as_ref().map(|m| m.get_ref().as_str()) {
            None | Some("ro") => true,
            Some("rw") => false,
            Some(other) => {
                let m = raw.mode.as_ref()?;
                self.error(m, format!("dirs: mode `{other}` must be `ro` or `rw`"));
                return None;
            }
        };
        let host = self.path(&raw.host);
        if !host.is_dir() {
            self.error(
                &raw.host,
                format!("dirs: {} is not an existing directory", host.display()),
            );
            return None;
        }
        let guest = raw.guest.get_ref();
        if !guest.starts_with('/') || guest.split('/').any(|c| c == "..") {
            self.error(
                &raw.guest,
                format!("dirs: guest path `{guest}` must be absolute, like `/data`, without `..`"),
            );
            return None;
        }
        if seen.iter().any(|g| g.guest == *guest) {
            self.error(
                &raw.guest,
                format!("dirs: guest path `{guest}` is granted twice"),
            );
            return None;
        }
        Some(DirGrant {
            host,
            guest: guest.clone(),
            read_only,
        })
    }

    fn guardrail_ref(&mut self, g: &Spanned<String>) -> Option<GuardrailRef> {
        match g.get_ref().split_once('.') {
            Some((plugin, name)) if is_valid_name(plugin) && is_valid_name(name) => {
                Some(GuardrailRef {
                    plugin: plugin.to_string(),
                    name: name.to_string(),
                    at: self.written(g),
                })
            }
            _ => {
                self.error(
                    g,
                    format!(
                        "guardrail `{}` must be written `plugin.guardrail`",
                        g.get_ref()
                    ),
                );
                None
            }
        }
    }

    fn tool_pattern(&mut self, s: &Spanned<String>) -> Option<ToolPattern> {
        match ToolPattern::parse(s.get_ref()) {
            Ok(p) => Some(p),
            Err(e) => {
                self.error(s, e);
                None
            }
        }
    }

    fn agent(
        &mut self,
        name: &Spanned<String>,
        a: &raw::RawAgent,
        raw: &raw::RawConfig,
        models: &BTreeMap<String, ModelConfig>,
    ) -> AgentConfig {
        let model = match &a.model {
            Some(m) => {
                if !models.contains_key(m.get_ref()) {
                    self.error(
                        m,
                        format!("no model named `{}` under [models]", m.get_ref()),
                    );
                }
                m.get_ref().clone()
            }
            None => DEFAULT_MODEL.to_string(),
        };
        let output_modalities = match &a.output_modalities {
            None => None,
            Some(list) => {
                let mut out = Vec::new();
                for m in list {
                    match m.get_ref().as_str() {
                        "audio" => out.push(Modality::Audio),
                        "text" => out.push(Modality::Text),
                        other => self.error(
                            m,
                            format!(
                                "unknown output modality `{other}`; expected `audio` or `text`"
                            ),
                        ),
                    }
                }
                if out.len() != 1 {
                    self.error(
                        list.first().unwrap_or(name),
                        "output_modalities must name exactly one of `audio` or `text`",
                    );
                }
                Some(out)
            }
        };
        let mut tools = Vec::new();
        for t in &a.tools {
            let entry = &t.get_ref().0;
            let pattern = match ToolPattern::parse(&entry.tool) {
                Ok(p) => p,
                Err(e) => {
                    self.error(t, e);
                    continue;
                }
            };
            if let Some(alias) = &entry.alias {
                if pattern.is_glob() {
                    self.error(t, "an alias needs one tool, not a pattern with `*`");
                    continue;
                }
                if !is_valid_name(alias) {
                    self.error(
                        t,
                        format!(
                            "tool alias `{alias}` must be 1-64 characters of a-z, A-Z, 0-9, `_` or `-`"
                        ),
                    );
                    continue;
                }
            }
            tools.push(ToolRef {
                pattern,
                alias: entry.alias.clone(),
                approval: entry.approval,
                at: self.written(t),
            });
        }
        let guardrails = a
            .guardrails
            .iter()
            .filter_map(|g| self.guardrail_ref(g))
            .collect();
        let mut handoffs = Vec::new();
        for h in &a.handoffs {
            let entry = &h.get_ref().0;
            if entry.agent == *name.get_ref() {
                self.error(h, "an agent cannot hand off to itself");
            } else if !raw.agents.keys().any(|k| *k.get_ref() == entry.agent) {
                self.error(h, format!("handoff to unknown agent `{}`", entry.agent));
            } else if entry
                .tool_name
                .as_deref()
                .is_some_and(|t| !is_valid_name(t))
            {
                self.error(
                    h,
                    "handoff tool_name must be 1-64 characters of a-z, A-Z, 0-9, `_` or `-`",
                );
            } else if entry.enabled {
                handoffs.push(HandoffConfig {
                    agent: entry.agent.clone(),
                    tool_name: entry.tool_name.clone(),
                    description: entry.description.clone(),
                    at: self.written(h),
                });
            }
        }
        let input_guardrails = a
            .input_guardrails
            .iter()
            .filter_map(|g| self.guardrail_ref(g))
            .collect();
        let mut tool_guardrails = Vec::new();
        for g in &a.tool_guardrails {
            let entry = &g.get_ref().0;
            let spanned = Spanned::new(g.span(), entry.guardrail.clone());
            if let Some(guardrail) = self.guardrail_ref(&spanned) {
                tool_guardrails.push(ToolGuardrailRef {
                    guardrail,
                    before_approval: entry.before_approval,
                });
            }
        }
        let approval = self.approval(&a.approval);
        let realtime = self.realtime_settings(a);
        AgentConfig {
            name: name.get_ref().clone(),
            model,
            instructions: a.instructions.clone().unwrap_or_default(),
            voice: a.voice.as_ref().map(|v| v.get_ref().clone()),
            output_modalities,
            tools,
            guardrails,
            input_guardrails,
            tool_guardrails,
            handoffs,
            handoff_description: a.handoff_description.clone(),
            async_tool_calls: a.async_tool_calls.unwrap_or(true),
            rejection_message: a.rejection_message.clone(),
            approval,
            realtime,
            at: self.written(name),
        }
    }

    fn action(&mut self, s: &Spanned<String>) -> Option<Action> {
        match s.get_ref().as_str() {
            "allow" => Some(Action::Allow),
            "ask" => Some(Action::Ask),
            "deny" => Some(Action::Deny),
            other => {
                self.error(
                    s,
                    format!("unknown approval action `{other}`; expected allow, ask or deny"),
                );
                None
            }
        }
    }

    fn approval(&mut self, a: &raw::RawApproval) -> ApprovalPolicy {
        let mut policy = ApprovalPolicy::default();
        if let Some(d) = &a.default
            && let Some(action) = self.action(d)
        {
            policy.default = action;
        }
        if let Some(t) = &a.timeout {
            match parse_duration(t.get_ref()) {
                Ok(v) => policy.timeout = Some(v),
                Err(e) => self.error(t, format!("timeout: {e}")),
            }
        }
        for rule in &a.rules {
            let r = rule.get_ref();
            let Some(tool) = self.tool_pattern(&r.tool) else {
                continue;
            };
            let Some(action) = self.action(&r.action) else {
                continue;
            };
            let when = match &r.when {
                None => None,
                Some(c) => {
                    match Condition::new(c.arg.get_ref(), c.gt, c.ge, c.lt, c.le, c.eq.clone()) {
                        Ok(c) => Some(c),
                        Err(e) => {
                            self.error(&c.arg, e);
                            None
                        }
                    }
                }
            };
            policy.rules.push(Rule { tool, action, when });
        }
        policy
    }
}

/// Where the control socket lives when the config names none; `agentctl` looks there too.
pub fn default_socket_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("agentd").join("agentd.sock");
    }
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    if uid == 0 {
        PathBuf::from("/run/agentd/agentd.sock")
    } else {
        std::env::temp_dir()
            .join(format!("agentd-{uid}"))
            .join("agentd.sock")
    }
}

/// Where state (journal, compiled plugin cache) lives when the config names none.
pub fn default_state_dir() -> PathBuf {
    // SAFETY: getuid has no preconditions and cannot fail.
    if unsafe { libc::getuid() } == 0 {
        return PathBuf::from("/var/lib/agentd");
    }
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("agentd");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/state/agentd"),
        None => std::env::temp_dir().join("agentd-state"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/agentd/agents.toml"), text)
    }

    fn messages(text: &str) -> Vec<String> {
        messages_at(Path::new("/etc/agentd/agents.toml"), text)
    }

    /// The diagnostics for `text` read as if from `path`; panics if it is accepted.
    fn messages_at(path: &Path, text: &str) -> Vec<String> {
        match Config::parse(path, text) {
            Ok(_) => panic!("config should be refused:\n{text}"),
            Err(e) => e.diagnostics.iter().map(ToString::to_string).collect(),
        }
    }

    /// Each `(line:col, text)` is in some diagnostic starting at that position of `path`.
    fn assert_reported(m: &[String], path: &Path, expect: &[(&str, &str)]) {
        for (pos, what) in expect {
            let at = format!("{}:{pos}: ", path.display());
            assert!(
                m.iter().any(|d| d.starts_with(&at) && d.contains(what)),
                "no `{at}{what}` in {m:#?}"
            );
        }
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse("[agents.a]\ninstructions = \"hi\"\n").unwrap();
        let a = &c.agents["a"];
        assert_eq!(a.model, "default");
        assert_eq!(c.models["default"].provider, Provider::Sim);
        assert_eq!(a.output_modalities, None);
        assert!(a.async_tool_calls);
        assert_eq!(c.default_agent(), Some("a"));
        assert_eq!(c.guardrails.debounce_text_length, 100);
    }

    #[test]
    fn relative_paths_resolve_against_the_config_folder() {
        let c = parse(
            "[daemon]\nsocket = \"run/a.sock\"\n[plugins.calc]\npath = \"plugins/calc.wasm\"\n",
        )
        .unwrap();
        assert_eq!(c.daemon.socket, Path::new("/etc/agentd/run/a.sock"));
        assert_eq!(
            c.plugins["calc"].path,
            Path::new("/etc/agentd/plugins/calc.wasm")
        );
    }

    #[test]
    fn syntax_error_names_file_line_and_column() {
        let m = messages("[agents.a]\ninstructions = \"hi\"\nvoice = \n");
        assert_eq!(m.len(), 1);
        assert!(m[0].starts_with("/etc/agentd/agents.toml:3:"), "{}", m[0]);
    }

    #[test]
    fn unknown_key_is_an_error_with_position() {
        let m = messages("[agents.a]\ninstructions = \"hi\"\ninstructoins = \"typo\"\n");
        assert!(m[0].starts_with("/etc/agentd/agents.toml:3:1:"), "{}", m[0]);
        assert!(m[0].contains("instructoins"), "{}", m[0]);
    }

    #[test]
    fn every_semantic_error_is_reported_with_its_position() {
        let text = r#"
[plugins.calc]
path = "calc.wasm"
sandbox = { memory = "lots", timeout = "5" }

[agents.a]
model = "nope"
tools = ["calc"]
handoffs = ["ghost"]
approval = { default = "maybe" }
"#;
        let m = messages(text);
        let want = [
            ("4:22", "memory: `lots` is not a size"),
            ("4:40", "timeout: duration `5` needs a unit"),
            ("7:9", "no model named `nope`"),
            ("8:10", "tool `calc` must be written `plugin.tool`"),
            ("9:13", "handoff to unknown agent `ghost`"),
            ("10:24", "unknown approval action `maybe`"),
        ];
        assert_eq!(m.len(), want.len(), "{m:#?}");
        for (pos, text) in want {
            assert!(
                m.iter()
                    .any(|d| d.starts_with(&format!("/etc/agentd/agents.toml:{pos}: {text}"))),
                "missing {pos} {text} in {m:#?}"
            );
        }
    }

    #[test]
    fn approval_rules_are_parsed() {
        let c = parse(
        r#"
[agents.a]
tools = ["calc.*"]
[agents.a.approval]
default = "allow"
timeout = "60s"
rules = [{ tool = "calc.multiply", action = "ask" }, { tool = "pay.send", action = "deny", when = { arg = "/amount", gt = 100 } }]
"#,
    )
    .unwrap();
        let p = &c.agents["a"].approval;
        assert_eq!(p.timeout, Some(Duration::from_secs(60)));
        assert_eq!(p.decide("calc.multiply", "{}"), Action::Ask);
        assert_eq!(p.decide("calc.add", "{}"), Action::Allow);
        assert_eq!(p.decide("pay.send", r#"{"amount":101}"#), Action::Deny);
    }

    #[test]
    fn tool_aliases_need_a_single_tool() {
        let m = messages("[agents.a]\ntools = [{ use = \"calc.*\", as = \"x\" }]\n");
        assert!(m[0].contains("an alias needs one tool"), "{}", m[0]);
        let c = parse("[agents.a]\ntools = [{ use = \"calc.add\", as = \"add\" }]\n").unwrap();
        assert_eq!(c.agents["a"].tools[0].alias.as_deref(), Some("add"));
    }

    #[test]
    fn realtime_settings_are_validated_with_positions() {
        let text = r#"[agents.a]
input_audio_format = "mp3"
turn_detection = { type = "semantic_vad", threshold = 0.5 }
max_output_tokens = 0
tool_choice = "not a tool"

[agents.b]
turn_detection = { type = "server_vad", eagerness = "high" }
transcription_model = ""

[agents.c]
turn_detection = { type = "loud" }
"#;
        let m = messages(text);
        let expect = [
            ("agents.toml:2:22:", "unknown audio format `mp3`"),
            ("agents.toml:3:18:", "`threshold` does not apply"),
            ("agents.toml:4:21:", "max_output_tokens must be"),
            ("agents.toml:5:15:", "tool_choice `not a tool`"),
            ("agents.toml:8:18:", "`eagerness` does not apply"),
            ("agents.toml:9:23:", "transcription_model is empty"),
            ("agents.toml:12:27:", "unknown turn detection `loud`"),
        ];
        for (at, what) in expect {
            assert!(
                m.iter().any(|d| d.contains(at) && d.contains(what)),
                "no `{at} {what}` in {m:#?}"
            );
        }
        assert_eq!(m.len(), expect.len(), "{m:#?}");
    }

    #[test]
    fn unknown_turn_detection_key_is_an_error() {
        let m = messages("[agents.a]\nturn_detection = { type = \"none\", treshold = 1 }\n");
        assert!(m[0].contains("treshold"), "{m:?}");
    }

    #[test]
    fn realtime_settings_default_to_the_reference() {
        let c = parse("[agents.a]\n").unwrap();
        assert_eq!(
            c.agents["a"].realtime,
            realtime::RealtimeSettings::default()
        );
    }

    #[test]
    fn ca_file_is_checked_where_it_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("agents.toml");
        std::fs::write(dir.path().join("not-pem.txt"), "hello\n").unwrap();
        let text = r#"[models.a]
provider = "openai"
url = "wss://models.internal/v1/realtime"
ca_file = "missing.pem"

[models.b]
provider = "openai"
url = "wss://models.internal/v1/realtime"
ca_file = "not-pem.txt"

[models.c]
provider = "openai"
url = "ws://models.internal/v1/realtime"
ca_file = "not-pem.txt"

[models.d]
provider = "sim"
ca_file = "x.pem"
"#;
        let m = messages_at(&config, text);
        let expect = [
            ("4:11", "ca_file: CA file "),
            ("9:11", "holds no `BEGIN CERTIFICATE` section"),
            ("14:11", "`ca_file` is only used with a wss:// url"),
            ("18:11", "the sim provider runs on loopback"),
        ];
        assert_reported(&m, &config, &expect);
        // models.c: its file is also not PEM, reported at the same place.
        assert_eq!(m.len(), expect.len() + 1, "{m:#?}");

        let key = rcgen::KeyPair::generate().unwrap();
        let ca = rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        let c = Config::parse(
        &config,
        "[models.a]\nprovider = \"openai\"\nurl = \"wss://models.internal/v1/realtime\"\nca_file = \"ca.pem\"\n",
    )
    .unwrap();
        assert_eq!(c.models["a"].ca_file, Some(dir.path().join("ca.pem")));
    }

    #[test]
    fn resilience_keys_reach_the_connection() {
        let c = parse(
            r#"[models.fast]
keepalive = "2s"
dead_after = "5s"
reconnect_attempts = 2
reconnect_backoff = "100ms"
reconnect_backoff_max = "1s"

[models.keepalive_only]
keepalive = "3s"
reconnect_backoff = "30s"
"#,
        )
        .unwrap();
        let want = Resilience {
            ping_interval: Duration::from_secs(2),
            dead_after: Duration::from_secs(5),
            max_attempts: 2,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
        };
        assert_eq!(c.models["fast"].resilience, want);
        let endpoint = crate::realtime::endpoint::Endpoint::for_model(
            &c.models["fast"],
            Some("ws://127.0.0.1:1/"),
        )
        .unwrap();
        assert_eq!(endpoint.resilience, want);
        // Unset keys keep their defaults; dead_after follows keepalive; the cap follows the start.
        let other = &c.models["keepalive_only"].resilience;
        assert_eq!(other.dead_after, Duration::from_secs(6));
        assert_eq!(other.backoff_max, Duration::from_secs(30));
        assert_eq!(other.max_attempts, Resilience::default().max_attempts);
        assert_eq!(c.models["default"].resilience, Resilience::default());
    }

    #[test]
    fn bad_resilience_keys_are_reported_where_they_are_written() {
        let text = r#"[models.a]
keepalive = "0s"
dead_after = "soon"
reconnect_attempts = -1

[models.b]
keepalive = "30s"
dead_after = "10s"
reconnect_backoff = "2s"
reconnect_backoff_max = "1s"
"#;
        let m = messages(text);
        let expect = [
            ("agents.toml:2:13:", "keepalive must be more than zero"),
            ("agents.toml:3:14:", "dead_after: `soon` is not a duration"),
            ("agents.toml:4:22:", "reconnect_attempts must be 0 to 1000"),
            (
                "agents.toml:8:14:",
                "dead_after (10s) must be longer than keepalive (30s)",
            ),
            (
                "agents.toml:10:25:",
                "reconnect_backoff_max (1s) is shorter than reconnect_backoff (2s)",
            ),
        ];
        for (at, what) in expect {
            assert!(
                m.iter().any(|d| d.contains(at) && d.contains(what)),
                "no `{at} {what}` in {m:#?}"
            );
        }
        assert_eq!(m.len(), expect.len(), "{m:#?}");
    }

    #[test]
    fn a_scenario_is_checked_where_it_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("agents.toml");
        std::fs::write(dir.path().join("ok.json"), r#"{"steps": [{"sleep": 0}]}"#).unwrap();
        std::fs::write(dir.path().join("bad.json"), r#"{"steps": [{"wait": 1}]}"#).unwrap();
        let text = r#"[models.replay]
provider = "sim"
scenario = "ok.json"

[models.missing]
scenario = "nope.json"

[models.broken]
scenario = "bad.json"

[models.remote]
provider = "openai"
url = "ws://127.0.0.1:9/"
scenario = "ok.json"
"#;
        let m = messages_at(&config, text);
        let expect = [
            ("6:12", "cannot read scenario"),
            ("9:12", "scenario steps[0]: unknown step"),
            ("14:12", "`scenario` is played by the sim provider"),
        ];
        assert_reported(&m, &config, &expect);
        assert_eq!(m.len(), expect.len(), "{m:#?}");
        let c = Config::parse(&config, "[models.replay]\nscenario = \"ok.json\"\n").unwrap();
        assert_eq!(
            c.models["replay"].scenario,
            Some(dir.path().join("ok.json"))
        );
    }

    #[test]
    fn sandbox_grants_are_resolved_against_the_config_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        let text = r#"
[plugins.files.sandbox]
memory = "32MiB"
dirs = [{ host = "data", guest = "/data" }, { host = "data", guest = "/out", mode = "rw" }]
env = { GREETING = "hello" }
allow_hosts = ["api.example.com:443", "127.0.0.1:8080", "[::1]:9"]
"#;
        let text = format!("[plugins.files]\npath = \"files.wasm\"\n{}", &text[1..]);
        let c = Config::parse(&dir.path().join("agents.toml"), &text).unwrap();
        let s = &c.plugins["files"].sandbox;
        assert_eq!(s.memory, 32 << 20);
        assert_eq!(
            s.dirs,
            vec![
                DirGrant {
                    host: dir.path().join("data"),
                    guest: "/data".into(),
                    read_only: true
                },
                DirGrant {
                    host: dir.path().join("data"),
                    guest: "/out".into(),
                    read_only: false
                },
            ]
        );
        assert_eq!(s.env, vec![("GREETING".to_string(), "hello".to_string())]);
        let hosts: Vec<String> = s.allow_hosts.iter().map(ToString::to_string).collect();
        assert_eq!(hosts, ["api.example.com:443", "127.0.0.1:8080", "[::1]:9"]);
    }

    #[test]
    fn inherit_env_copies_only_the_named_variables_that_are_set() {
        // PATH is set for any test run; the other name is not.
        let c = parse(
        "[plugins.p]\npath = \"p.wasm\"\nsandbox = { inherit_env = [\"PATH\", \"AGENTD_TEST_SURELY_UNSET\"] }\n",
    )
    .unwrap();
        let env = &c.plugins["p"].sandbox.env;
        assert_eq!(env.len(), 1);
        assert_eq!(env[0].0, "PATH");
        assert_eq!(Some(env[0].1.clone()), std::env::var("PATH").ok());
    }

    #[test]
    fn bad_sandbox_grants_are_errors_with_positions() {
        let m = messages(
            r#"[plugins.p]
path = "p.wasm"
sandbox = { dirs = [{ host = "/definitely/not/here", guest = "/d" }] }
[plugins.q]
path = "q.wasm"
sandbox = { dirs = [{ host = "/", guest = "rel", mode = "ro" }] }
[plugins.r]
path = "r.wasm"
sandbox = { dirs = [{ host = "/", guest = "/x", mode = "rwx" }] }
[plugins.s]
path = "s.wasm"
sandbox = { allow_hosts = ["example.com"], env = { "1BAD" = "x" } }
"#,
        );
        let want = [
            "agents.toml:3:30: dirs: /definitely/not/here is not an existing directory",
            "agents.toml:6:43: dirs: guest path `rel` must be absolute",
            "agents.toml:9:56: dirs: mode `rwx` must be `ro` or `rw`",
            "agents.toml:12:28: allow_hosts: `example.com` must be `host:port`",
            "agents.toml:12:52: env: `1BAD` is not a variable name",
        ];
        for w in want {
            assert!(m.iter().any(|d| d.contains(w)), "no `{w}` in {m:#?}");
        }
        // Unknown keys are a parse error, reported alone (serde stops at the first).
        let m = messages("[plugins.t]\npath = \"t.wasm\"\nsandbox = { dirz = [] }\n");
        assert!(
            m[0].starts_with("/etc/agentd/agents.toml:3:13:"),
            "{}",
            m[0]
        );
        assert!(m[0].contains("dirz"), "{}", m[0]);
    }
}
