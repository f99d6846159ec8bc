//! `agents.toml`: parse, validate, resolve.
//!
//! Two types, two phases: [`raw`] is the file as serde reads it (unknown keys
//! are errors), [`Config`] is what the rest of the daemon sees — paths made
//! absolute against the file's folder, sizes and durations parsed, names
//! checked. Validation collects every problem it finds, each with
//! `file:line:col`, so one `agentd check` run shows them all.
//!
//! The parts: `diagnostics` (what a check reports), `types` (the validated
//! types, one file per section), `validate` (one file per section, building
//! those types), `names` and `units` (the rules for names, sizes and
//! durations). Everything public is re-exported here, so callers write
//! `crate::config::X` whatever file `X` lives in.
//!
//! References that need the loaded plugins (does `calc.add` exist?) are checked
//! later by [`crate::catalog`], using the [`Location`]s kept here.

mod diagnostics;
mod names;
mod raw;
#[cfg(test)]
mod test_support;
mod types;
mod units;
mod validate;

use std::path::Path;

mod resilience;
pub use diagnostics::{ConfigError, Diagnostic, Location, Written};
pub use names::{closest, edit_distance, is_valid_name};
pub use resilience::Resilience;
pub use types::realtime;
pub use types::{
    AgentConfig, Config, DEFAULT_DRAIN_TIMEOUT, DEFAULT_MODEL, DEFAULT_RECYCLE_AFTER, DaemonConfig,
    DirGrant, GuardrailRef, GuardrailSettings, HandoffConfig, HostPort, InstanceMode, LogFormat,
    MAX_PLUGIN_MEMORY, MAX_RECONNECT_ATTEMPTS, MAX_TOOL_QUEUE, Modality, ModelConfig,
    PER_SESSION_MAX, PluginConfig, Provider, Sandbox, SettingsOverlay, ToolGuardrailRef, ToolRef,
    default_socket_path, default_state_dir,
};
pub use types::{
    DEFAULT_HTTP_MAX_BODY, DEFAULT_MAX_CALLS, DEFAULT_RATE_LIMIT, DEFAULT_REJECT_STATUS,
    DEFAULT_WEBHOOK_PATH, HttpConfig, Role, SipConfig, SipRoute, Token, api_base_from_url,
    wildcard_match,
};
pub use types::{JournalSync, MIN_EVENT_MEMORY};
pub use units::{parse_duration, parse_size};

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
        let ctx = validate::Ctx::new(path, text);
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

    /// Log what validation accepted but found worth a look (a shadowed
    /// approval rule), as start-up and every reload do.
    pub fn log_warnings(&self) {
        for w in &self.warnings {
            tracing::warn!("config: {w}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::Provider;
    use super::test_support::{messages, parse};

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
}
