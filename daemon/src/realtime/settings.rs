//! An agent's session settings, as sent in `session.update`.
//!
//! The defaults are what the reference client sends when an agent sets none
//! (PCM16 at 24 kHz both ways, semantic VAD with interrupts, `gpt-4o-mini-transcribe`
//! input transcription, voice `ash`), so agentd and the reference look the same
//! to a model. Tools are the agent's plugin tools followed by its handoffs.

use serde_json::json;

use super::protocol::{
    AudioConfig, AudioFormat, AudioInput, AudioOutput, FunctionTool, SessionConfig,
};
use crate::catalog::Agent;
use crate::config::{Modality, ModelConfig, SettingsOverlay};

/// Voice used when the agent names none.
pub const DEFAULT_VOICE: &str = "ash";

/// The full `session` object for `agent` on `model`.
///
/// Layers, lowest first: agentd's defaults, the model's `defaults`, the
/// session's overrides, the agent (instructions always, voice and modalities
/// when it sets them), then — on the first settings of a session only — the
/// session's overrides again. That is the reference's order: an explicit
/// override wins at connect, and after a handoff the new agent's own settings
/// win over it while the rest of the override stays.
pub fn session_config(
    agent: &Agent,
    model: &ModelConfig,
    overrides: &SettingsOverlay,
    initial: bool,
) -> SessionConfig {
    let pcm = || Some(AudioFormat::Pcm { rate: 24_000 });
    let mut tools: Vec<FunctionTool> = agent
        .tools
        .iter()
        .map(|t| FunctionTool {
            kind: "function".into(),
            name: t.model_name.clone(),
            description: t.description.clone(),
            parameters: t.parameters.clone(),
        })
        .collect();
    tools.extend(agent.handoffs.iter().map(|h| FunctionTool {
        kind: "function".into(),
        name: h.tool_name.clone(),
        description: h.description.clone(),
        parameters: json!({"additionalProperties": false, "type": "object", "properties": {}, "required": []}),
    }));
    let agent_layer = SettingsOverlay {
        instructions: Some(agent.config.instructions.clone()),
        voice: agent.config.voice.clone(),
        output_modalities: agent.config.output_modalities.clone(),
    };
    let mut layered = model.defaults.with(overrides).with(&agent_layer);
    if initial {
        layered = layered.with(overrides);
    }
    let modalities = layered
        .output_modalities
        .unwrap_or_else(|| vec![Modality::Audio])
        .iter()
        .map(|m| match m {
            Modality::Audio => "audio".to_string(),
            Modality::Text => "text".to_string(),
        })
        .collect();
    SessionConfig {
        kind: "realtime".into(),
        model: Some(model.model.clone()),
        instructions: Some(layered.instructions.unwrap_or_default()),
        output_modalities: Some(modalities),
        audio: Some(AudioConfig {
            input: Some(AudioInput {
                format: pcm(),
                transcription: Some(json!({"model": "gpt-4o-mini-transcribe"})),
                turn_detection: Some(json!({"type": "semantic_vad", "interrupt_response": true})),
            }),
            output: Some(AudioOutput {
                format: pcm(),
                voice: Some(layered.voice.unwrap_or_else(|| DEFAULT_VOICE.to_string())),
            }),
        }),
        tools: Some(tools),
        tool_choice: None,
        max_output_tokens: None,
        tracing: model.tracing.then(|| json!("auto")),
    }
}
