//! Write agentd tools and guardrails as plain Rust functions.
//!
//! # Design
//!
//! A plugin is a WebAssembly component (world `plugin` of `wit/plugin.wit`)
//! that the daemon instantiates afresh for every call. This crate hides the
//! component model entirely: it generates the wit-bindgen bindings itself and
//! exports them through the [`plugin`] attribute macro, so a plugin crate only
//! depends on `agentd-plugin-sdk` and has no WIT file or wit-bindgen of its own.
//!
//! `#[plugin]` turns an inline module into a [`Plugin`]: functions marked
//! `#[tool]` become tools, functions marked `#[guardrail]` become guardrails.
//! The macro writes the dispatch as ordinary Rust (a `Plugin` unit struct in
//! the module, implementing the [`Plugin`] trait), which is what the unit tests
//! of a plugin call on the host; only on `wasm32` does it also invoke the
//! export glue that wires those functions to the component's exports.
//!
//! A tool's JSON Schema is derived from its argument types through [`Schema`],
//! its arguments are decoded with serde (errors name the field), and its
//! return value becomes the output text through [`IntoToolOutput`].
//!
//! # Example
//!
//! ```
//! #[agentd_plugin_sdk::plugin]
//! mod calc {
//!     /// Add two numbers.
//!     #[tool]
//!     pub fn add(a: f64, b: f64) -> f64 {
//!         a + b
//!     }
//!
//!     /// Stops any text that shouts.
//!     #[guardrail]
//!     pub fn no_shouting(text: &str) -> agentd_plugin_sdk::Verdict {
//!         if text.contains("!!!") {
//!             agentd_plugin_sdk::Verdict::trip("too many exclamation marks")
//!         } else {
//!             agentd_plugin_sdk::Verdict::pass()
//!         }
//!     }
//! }
//!
//! use agentd_plugin_sdk::{CallContext, Plugin as _};
//! let ctx = CallContext::default();
//! assert_eq!(calc::Plugin::call_tool("add", r#"{"a": 2, "b": 3}"#, &ctx), Ok("5".to_owned()));
//! assert_eq!(calc::Plugin::describe_tools()[0].description, "Add two numbers.");
//! ```
//!
//! A crate holds one `#[plugin]` module (it defines the component's exports).
//! The macro adds a unit struct named `Plugin` to the module, so do not import
//! the [`Plugin`] trait into the module by name. A guardrail returns a
//! [`Verdict`] or a `Result<Verdict, E>`; an error (and calling a guardrail the
//! plugin does not have) trips on the host (fails closed); calling an unknown
//! tool is an `invalid-arguments` error. The SDK builds contract 0.2
//! (`agentd:plugin@0.2.0`).

#![warn(missing_docs)]

mod args;
mod guardrail;
pub mod log;
mod output;
mod schema;
mod wit;

pub use agentd_plugin_macros::plugin;
pub use guardrail::{IntoVerdict, Subject, Verdict};
pub use output::{IntoToolOutput, Json, ToolError};
pub use schema::{ObjectSchema, Schema};
/// The serde_json this crate uses, for writing [`Schema`] impls and tool outputs.
pub use serde_json;

/// Who is calling: lets a plugin tag its logs and correlate calls.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallContext {
    /// The realtime session the call belongs to.
    pub session_id: String,
    /// The agent (from agents.toml) running in that session.
    pub agent: String,
    /// The model's id for this tool call, or the guardrail check's id.
    pub call_id: String,
}

/// A tool as shown to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// Unique within the plugin; `[a-zA-Z0-9_-]`, at most 64 characters.
    pub name: String,
    /// Shown to the model.
    pub description: String,
    /// JSON Schema (an object schema) of the arguments.
    pub parameters_schema: serde_json::Value,
}

/// A guardrail as listed to the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardrailSpec {
    /// Unique within the plugin.
    pub name: String,
    /// What it stops, for people.
    pub description: String,
}

/// A plugin's tools and guardrails as plain Rust functions; `#[plugin]` implements it.
///
/// The export glue calls these from the component's `tools` and `guardrails`
/// exports; tests call them directly on the host.
pub trait Plugin {
    /// The tools, in source order.
    fn describe_tools() -> Vec<ToolSpec>;

    /// Runs tool `name` with JSON `arguments_json`; the `Ok` text goes to the model as is.
    fn call_tool(name: &str, arguments_json: &str, ctx: &CallContext) -> Result<String, ToolError>;

    /// The guardrails, in source order.
    fn describe_guardrails() -> Vec<GuardrailSpec>;

    /// Runs guardrail `name` on `subject`. An error (the guardrail could not
    /// judge, or there is no guardrail `name`) trips: the host fails closed.
    fn check(name: &str, subject: &Subject, ctx: &CallContext) -> Result<Verdict, String>;
}

/// Support for the code `#[plugin]` generates; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::args::Arguments;
    pub use crate::wit::{Exports, bindings};
}
