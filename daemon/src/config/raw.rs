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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub provider: Option<S>,
    pub url: Option<S>,
    pub model: Option<S>,
    pub api_key_env: Option<S>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlugin {
    pub path: S,
    #[serde(default)]
    pub sandbox: RawSandbox,
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
    pub tools: Vec<Spanned<RawToolRef>>,
    #[serde(default)]
    pub guardrails: Vec<S>,
    #[serde(default)]
    pub handoffs: Vec<S>,
    pub handoff_description: Option<String>,
    pub async_tool_calls: Option<bool>,
    pub rejection_message: Option<String>,
    #[serde(default)]
    pub approval: RawApproval,
}

/// `"calc.*"` or `{ use = "calc.add", as = "add" }`.
///
/// Read by hand rather than as an untagged enum: serde's untagged enums buffer
/// their input and lose the spans that error messages need.
#[derive(Debug)]
pub struct RawToolRef {
    pub tool: String,
    pub alias: Option<String>,
}

impl<'de> Deserialize<'de> for RawToolRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawToolRef;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    r#"a tool like "calc.add" or "calc.*", or { use = "calc.add", as = "add" }"#,
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawToolRef, E> {
                Ok(RawToolRef {
                    tool: v.to_string(),
                    alias: None,
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawToolRef, A::Error> {
                let mut tool = None;
                let mut alias = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "use" => tool = Some(map.next_value::<String>()?),
                        "as" => alias = Some(map.next_value::<String>()?),
                        other => {
                            return Err(serde::de::Error::unknown_field(other, &["use", "as"]));
                        }
                    }
                }
                let tool = tool.ok_or_else(|| serde::de::Error::missing_field("use"))?;
                let alias = alias.ok_or_else(|| serde::de::Error::missing_field("as"))?;
                Ok(RawToolRef {
                    tool,
                    alias: Some(alias),
                })
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawApproval {
    pub default: Option<S>,
    pub timeout: Option<S>,
    #[serde(default)]
    pub rules: Vec<Spanned<RawRule>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub tool: S,
    pub action: S,
    pub when: Option<RawCondition>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    pub arg: S,
    pub gt: Option<f64>,
    pub ge: Option<f64>,
    pub lt: Option<f64>,
    pub le: Option<f64>,
    pub eq: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawGuardrails {
    /// Output guardrails applied to every agent, in addition to its own.
    #[serde(default)]
    pub output: Vec<S>,
    pub debounce_text_length: Option<Spanned<i64>>,
}
