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
mod units;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_spanned::Spanned;

use crate::policy::{Action, ApprovalPolicy, Condition, Rule, ToolPattern};
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
}

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
    pub at: Option<Location>,
}

/// One entry of an agent's `tools` list.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolRef {
    pub pattern: ToolPattern,
    /// Model-visible name, for `{ use = "calc.add", as = "add" }`.
    pub alias: Option<String>,
    pub at: Location,
}

/// A `plugin.name` reference to a guardrail.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardrailRef {
    pub plugin: String,
    pub name: String,
    pub at: Location,
}

impl fmt::Display for GuardrailRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.plugin, self.name)
    }
}

/// Output modality of an agent's responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Audio,
    Text,
}

/// `[agents.NAME]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    pub name: String,
    pub model: String,
    pub instructions: String,
    pub voice: Option<String>,
    pub output_modalities: Vec<Modality>,
    pub tools: Vec<ToolRef>,
    pub guardrails: Vec<GuardrailRef>,
    pub handoffs: Vec<(String, Location)>,
    pub handoff_description: Option<String>,
    pub async_tool_calls: bool,
    pub rejection_message: Option<String>,
    pub approval: ApprovalPolicy,
    pub at: Location,
}

/// `[guardrails]`: daemon-wide guardrail settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardrailSettings {
    pub output: Vec<GuardrailRef>,
    pub debounce_text_length: usize,
}

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
                    at: Some(self.at(name)),
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
        Some(ModelConfig {
            name: name.get_ref().clone(),
            provider,
            url,
            model,
            api_key_env,
            headers: m.headers.clone(),
        })
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
                    at: self.at(g),
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
            None => vec![Modality::Audio],
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
                out
            }
        };
        let mut tools = Vec::new();
        for t in &a.tools {
            let entry = t.get_ref();
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
                at: self.at(t),
            });
        }
        let guardrails = a
            .guardrails
            .iter()
            .filter_map(|g| self.guardrail_ref(g))
            .collect();
        let mut handoffs = Vec::new();
        for h in &a.handoffs {
            if h.get_ref() == name.get_ref() {
                self.error(h, "an agent cannot hand off to itself");
            } else if !raw.agents.keys().any(|k| k.get_ref() == h.get_ref()) {
                self.error(h, format!("handoff to unknown agent `{}`", h.get_ref()));
            } else {
                handoffs.push((h.get_ref().clone(), self.at(h)));
            }
        }
        let approval = self.approval(&a.approval);
        AgentConfig {
            name: name.get_ref().clone(),
            model,
            instructions: a.instructions.clone().unwrap_or_default(),
            voice: a.voice.as_ref().map(|v| v.get_ref().clone()),
            output_modalities,
            tools,
            guardrails,
            handoffs,
            handoff_description: a.handoff_description.clone(),
            async_tool_calls: a.async_tool_calls.unwrap_or(true),
            rejection_message: a.rejection_message.clone(),
            approval,
            at: self.at(name),
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
mod tests;
