//! Host bindings generated from the plugin contract, one module per contract
//! version: 0.2 (`plugin-sdk/wit`, what the SDK builds) and 0.1
//! (`daemon/wit/0.1`, kept so older components still load).
//!
//! Within a version, one module per world: a component may export tools,
//! guardrails or both, and the host picks the bindings by what the component
//! actually exports. The shared `types` and `host` interfaces are generated
//! once per version and reused. The rest of the host works with the 0.2 types;
//! 0.1 values are converted at the edge ([`super::call`]).

/// Contract 0.2 (`agentd:plugin@0.2.0`).
pub mod v0_2 {
    /// Bindings of world `tool-plugin`.
    pub mod tools {
        wasmtime::component::bindgen!({
            path: "../plugin-sdk/wit",
            world: "tool-plugin",
            exports: { default: async },
        });
    }

    /// Bindings of world `guardrail-plugin`.
    pub mod guardrails {
        wasmtime::component::bindgen!({
            path: "../plugin-sdk/wit",
            world: "guardrail-plugin",
            exports: { default: async },
            with: {
                "agentd:plugin/types": crate::plugin::bindings::v0_2::tools::agentd::plugin::types,
                "agentd:plugin/host": crate::plugin::bindings::v0_2::tools::agentd::plugin::host,
            },
        });
    }
}

/// Contract 0.1 (`agentd:plugin@0.1.0`): guardrails answer a bare verdict.
pub mod v0_1 {
    /// Bindings of world `tool-plugin`.
    pub mod tools {
        wasmtime::component::bindgen!({
            path: "wit/0.1",
            world: "tool-plugin",
            exports: { default: async },
        });
    }

    /// Bindings of world `guardrail-plugin`.
    pub mod guardrails {
        wasmtime::component::bindgen!({
            path: "wit/0.1",
            world: "guardrail-plugin",
            exports: { default: async },
            with: {
                "agentd:plugin/types": crate::plugin::bindings::v0_1::tools::agentd::plugin::types,
                "agentd:plugin/host": crate::plugin::bindings::v0_1::tools::agentd::plugin::host,
            },
        });
    }
}

pub use v0_2::guardrails::exports::agentd::plugin::guardrails::{
    GuardrailSpec, Subject, ToolCall as GuardedToolCall, Verdict,
};
pub use v0_2::tools::agentd::plugin::host::{Host, Level};
pub use v0_2::tools::agentd::plugin::types::{CallContext, ToolError};
pub use v0_2::tools::exports::agentd::plugin::tools::ToolSpec;

/// A version of the contract this host speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Contract {
    #[serde(rename = "0.1.0")]
    V0_1,
    #[serde(rename = "0.2.0")]
    V0_2,
}

/// Every version the host loads, oldest first.
pub const SUPPORTED: [Contract; 2] = [Contract::V0_1, Contract::V0_2];

impl Contract {
    /// `0.1.0`, `0.2.0`.
    pub fn version(self) -> &'static str {
        match self {
            Contract::V0_1 => "0.1.0",
            Contract::V0_2 => "0.2.0",
        }
    }

    /// The version named by a semver string, if the host speaks it.
    pub fn from_version(v: &str) -> Option<Contract> {
        SUPPORTED.into_iter().find(|c| c.version() == v)
    }

    /// The `tools` export of this version.
    pub fn tools_export(self) -> &'static str {
        match self {
            Contract::V0_1 => "agentd:plugin/tools@0.1.0",
            Contract::V0_2 => "agentd:plugin/tools@0.2.0",
        }
    }

    /// The `guardrails` export of this version.
    pub fn guardrails_export(self) -> &'static str {
        match self {
            Contract::V0_1 => "agentd:plugin/guardrails@0.1.0",
            Contract::V0_2 => "agentd:plugin/guardrails@0.2.0",
        }
    }
}

impl std::fmt::Display for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "agentd:plugin@{}", self.version())
    }
}

/// `agentd:plugin@0.1.0, agentd:plugin@0.2.0`, for messages.
pub fn supported_list() -> String {
    SUPPORTED
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which contract versions a component's export names use, and any
/// `agentd:plugin` export of a version the host does not speak.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExportedContracts {
    pub versions: Vec<Contract>,
    /// `agentd:plugin/...@X` exports with an unsupported `X` (the whole name).
    pub unsupported: Vec<String>,
}

/// Sort a component's export names by contract version.
pub fn exported_contracts<'a>(names: impl IntoIterator<Item = &'a str>) -> ExportedContracts {
    let mut out = ExportedContracts::default();
    for name in names {
        let Some(rest) = name.strip_prefix("agentd:plugin/") else {
            continue;
        };
        let version = rest.split_once('@').map(|(_, v)| v).unwrap_or("");
        match Contract::from_version(version) {
            Some(c) if !out.versions.contains(&c) => out.versions.push(c),
            Some(_) => {}
            None => out.unsupported.push(name.to_string()),
        }
    }
    out.versions.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_names_are_sorted_by_version() {
        let found = exported_contracts([
            "agentd:plugin/tools@0.2.0",
            "agentd:plugin/guardrails@0.2.0",
            "wasi:cli/run@0.2.6",
        ]);
        assert_eq!(found.versions, [Contract::V0_2]);
        assert!(found.unsupported.is_empty());
        let found = exported_contracts(["agentd:plugin/tools@0.1.0"]);
        assert_eq!(found.versions, [Contract::V0_1]);
        let found = exported_contracts(["agentd:plugin/tools@0.3.0", "agentd:plugin/tools"]);
        assert!(found.versions.is_empty());
        assert_eq!(
            found.unsupported,
            ["agentd:plugin/tools@0.3.0", "agentd:plugin/tools"]
        );
        assert_eq!(supported_list(), "agentd:plugin@0.1.0, agentd:plugin@0.2.0");
    }
}
