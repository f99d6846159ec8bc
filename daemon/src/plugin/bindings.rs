//! Host bindings generated from the plugin contract (`plugin-sdk/wit`).
//!
//! One module per world: a component may export tools, guardrails or both,
//! and the host picks the bindings by what the component actually exports.
//! The shared `types` and `host` interfaces are generated once and reused.

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
            "agentd:plugin/types": crate::plugin::bindings::tools::agentd::plugin::types,
            "agentd:plugin/host": crate::plugin::bindings::tools::agentd::plugin::host,
        },
    });
}

pub use guardrails::exports::agentd::plugin::guardrails::{
    GuardrailSpec, Subject, ToolCall as GuardedToolCall, Verdict,
};
pub use tools::agentd::plugin::host::{Host, Level};
pub use tools::agentd::plugin::types::{CallContext, ToolError};
pub use tools::exports::agentd::plugin::tools::ToolSpec;

/// Export names the host looks for, by interface.
pub const TOOLS_EXPORT: &str = "agentd:plugin/tools@0.1.0";
/// See [`TOOLS_EXPORT`].
pub const GUARDRAILS_EXPORT: &str = "agentd:plugin/guardrails@0.1.0";
