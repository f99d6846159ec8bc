//! `[agents.NAME]`: what an agent says, which tools it may call (and with
//! what approval), its guardrails, its handoffs and its realtime settings.

use super::realtime;
use super::{GuardrailRef, Modality, ToolGuardrailRef};
use crate::config::Written;
use crate::policy::{ApprovalPolicy, ToolPattern};

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
