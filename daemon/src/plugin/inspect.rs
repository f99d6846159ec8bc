//! What a component file is, for `agentd plugin inspect FILE.wasm`: its
//! contract version, tools (with their JSON Schemas), guardrails, and what it
//! imports, sorted into the capabilities an operator grants — so the grants a
//! plugin would need are visible before anyone gives them.
//!
//! The file is loaded like a plugin with an empty sandbox (nothing granted),
//! which is also how its `describe` exports are called.

use std::collections::BTreeMap;
use std::path::Path;

use super::error::LoadError;
use super::host::PluginHost;
use super::load::{GuardrailInfo, ToolInfo};
use crate::config::{InstanceMode, PluginConfig, Sandbox};

/// A capability a component's imports ask for, and what grants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    Filesystem,
    Sockets,
    Http,
    Clocks,
    Random,
    Environment,
    /// stdio, exit, streams, the contract's `host` log: given to every plugin.
    Other,
}

impl Capability {
    /// The capability an import (`wasi:filesystem/types@0.2.6`) belongs to.
    pub fn of(import: &str) -> Capability {
        let package = import.split('/').next().unwrap_or(import);
        let interface = import
            .split_once('/')
            .map(|(_, rest)| rest.split('@').next().unwrap_or(rest))
            .unwrap_or("");
        match package {
            "wasi:filesystem" => Capability::Filesystem,
            "wasi:sockets" => Capability::Sockets,
            "wasi:http" => Capability::Http,
            "wasi:clocks" => Capability::Clocks,
            "wasi:random" => Capability::Random,
            "wasi:cli" if interface == "environment" => Capability::Environment,
            _ => Capability::Other,
        }
    }

    /// What the operator writes in agents.toml to grant it.
    pub fn grant(self) -> &'static str {
        match self {
            Capability::Filesystem => {
                "[plugins.NAME.sandbox] dirs = [...] (nothing is visible otherwise)"
            }
            Capability::Sockets | Capability::Http => {
                "[plugins.NAME.sandbox] allow_hosts = [\"host:port\"] (no network otherwise)"
            }
            Capability::Clocks | Capability::Random => "always available (no grant)",
            Capability::Environment => "[plugins.NAME.sandbox] env / inherit_env (empty otherwise)",
            Capability::Other => "always available (no grant)",
        }
    }

    /// Whether the capability exists for the plugin only when granted.
    pub fn needs_grant(self) -> bool {
        matches!(
            self,
            Capability::Filesystem
                | Capability::Sockets
                | Capability::Http
                | Capability::Environment
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Capability::Filesystem => "filesystem",
            Capability::Sockets => "sockets",
            Capability::Http => "http",
            Capability::Clocks => "clocks",
            Capability::Random => "random",
            Capability::Environment => "environment",
            Capability::Other => "other",
        }
    }
}

/// What `agentd plugin inspect` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Inspection {
    pub file: String,
    /// Hex SHA-256 of the file.
    pub hash: String,
    /// `0.1.0` or `0.2.0`.
    pub contract: &'static str,
    pub tools: Vec<ToolInfo>,
    pub guardrails: Vec<GuardrailInfo>,
    /// Every import, by capability.
    pub imports: BTreeMap<Capability, Vec<String>>,
}

impl PluginHost {
    /// Load `path` with nothing granted and describe it.
    pub async fn inspect(&self, path: &Path) -> Result<Inspection, LoadError> {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|s| crate::config::is_valid_name(s))
            .unwrap_or("inspected")
            .to_string();
        let cfg = PluginConfig {
            name,
            path: path.to_path_buf(),
            sandbox: Sandbox::default(),
            instance: InstanceMode::PerCall,
            at: None,
        };
        let plugin = self.load(&cfg).await?;
        let mut imports: BTreeMap<Capability, Vec<String>> = BTreeMap::new();
        for i in &plugin.imports {
            imports
                .entry(Capability::of(i))
                .or_default()
                .push(i.clone());
        }
        Ok(Inspection {
            file: path.display().to_string(),
            hash: plugin.hash.clone(),
            contract: plugin.contract.version(),
            tools: plugin.tools.clone(),
            guardrails: plugin.guardrails.clone(),
            imports,
        })
    }
}

impl Inspection {
    /// The text `agentd plugin inspect` prints.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.file);
        let _ = writeln!(out, "  contract: agentd:plugin@{}", self.contract);
        let _ = writeln!(out, "  sha256:   {}", self.hash);
        let _ = writeln!(out, "  tools: {}", self.tools.len());
        for t in &self.tools {
            let _ = writeln!(out, "    {}: {}", t.name, t.description);
            let schema = serde_json::to_string(&t.parameters).unwrap_or_default();
            let _ = writeln!(out, "      parameters: {schema}");
        }
        let _ = writeln!(out, "  guardrails: {}", self.guardrails.len());
        for g in &self.guardrails {
            let _ = writeln!(out, "    {}: {}", g.name, g.description);
        }
        let grantable: Vec<&str> = self
            .imports
            .keys()
            .filter(|c| c.needs_grant())
            .map(|c| c.name())
            .collect();
        let _ = writeln!(
            out,
            "  grants it can use: {}",
            if grantable.is_empty() {
                "none".to_string()
            } else {
                grantable.join(", ")
            }
        );
        let _ = writeln!(out, "  imports:");
        for (cap, names) in &self.imports {
            let _ = writeln!(out, "    {}: {}", cap.name(), cap.grant());
            for n in names {
                let _ = writeln!(out, "      {n}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_are_sorted_into_capabilities() {
        assert_eq!(
            Capability::of("wasi:filesystem/types@0.2.6"),
            Capability::Filesystem
        );
        assert_eq!(
            Capability::of("wasi:filesystem/preopens@0.2.9"),
            Capability::Filesystem
        );
        assert_eq!(
            Capability::of("wasi:sockets/tcp@0.2.9"),
            Capability::Sockets
        );
        assert_eq!(
            Capability::of("wasi:http/outgoing-handler@0.2.6"),
            Capability::Http
        );
        assert_eq!(
            Capability::of("wasi:clocks/wall-clock@0.2.6"),
            Capability::Clocks
        );
        assert_eq!(
            Capability::of("wasi:random/random@0.2.6"),
            Capability::Random
        );
        assert_eq!(
            Capability::of("wasi:cli/environment@0.2.6"),
            Capability::Environment
        );
        assert_eq!(Capability::of("wasi:cli/stdout@0.2.6"), Capability::Other);
        assert_eq!(
            Capability::of("agentd:plugin/host@0.2.0"),
            Capability::Other
        );
    }
}
