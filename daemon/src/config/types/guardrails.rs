//! Guardrail references (`plugin.guardrail`, checked against the loaded
//! plugins later by the catalog) and `[guardrails]`, the daemon-wide ones.

use std::fmt;

use crate::config::Written;

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

/// `[guardrails]`: daemon-wide guardrail settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardrailSettings {
    pub output: Vec<GuardrailRef>,
    pub input: Vec<GuardrailRef>,
    pub debounce_text_length: usize,
}
