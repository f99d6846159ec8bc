//! An agent's session settings, as sent in `session.update`.
//!
//! The defaults are what the reference client sends when an agent sets none
//! (PCM16 at 24 kHz both ways, semantic VAD with interrupts, `gpt-4o-mini-transcribe`
//! input transcription, voice `ash`), so agentd and the reference look the same
//! to a model. Tools are the agent's plugin tools followed by its handoffs.
//!
//! Instructions, voice and output modalities are layered, lowest first:
//! agentd's defaults, the model's `defaults`, the session's overrides, the
//! agent (instructions always, voice and modalities when it sets them), then
//! — on the first settings of a session only — the session's overrides again.
//! That is the reference's order: an explicit override wins at connect, and
//! after a handoff the new agent's own settings win over it while the rest of
//! the override stays.
//! Settings an agent turns off (transcription, turn detection) are sent as
//! `null`, not left out, so a handoff from an agent that had them clears them.

use serde_json::{Value, json};

use crate::catalog::Agent;
use crate::config::realtime::{AudioFormat as Format, MaxOutputTokens, ToolChoice, TurnDetection};
use crate::config::{AgentConfig, Modality, ModelConfig, SettingsOverlay};
use crate::realtime::protocol::{
    AudioConfig, AudioFormat, AudioInput, AudioOutput, FunctionTool, SessionConfig,
};

/// Voice used when the agent names none.
pub const DEFAULT_VOICE: &str = "ash";

/// The full `session` object for `agent` on its model; `initial` for the
/// first settings of a session (see the layering above).
pub fn session_config(agent: &Agent, overrides: &SettingsOverlay, initial: bool) -> SessionConfig {
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
    // `tool_choice = "calc.add"` names the tool as the agent's config does; the
    // model knows it by its model-visible name.
    let resolve = |name: &str| {
        agent
            .tools
            .iter()
            .find(|t| t.qualified == name || t.model_name == name)
            .map_or_else(|| name.replace('.', "_"), |t| t.model_name.clone())
    };
    build(
        &agent.config,
        &agent.model,
        overrides,
        initial,
        tools,
        resolve,
    )
}

/// The settings of `config` with `tools` already resolved.
pub fn build(
    config: &AgentConfig,
    model: &ModelConfig,
    overrides: &SettingsOverlay,
    initial: bool,
    tools: Vec<FunctionTool>,
    resolve_tool: impl Fn(&str) -> String,
) -> SessionConfig {
    let rt = &config.realtime;
    let agent_layer = SettingsOverlay {
        instructions: Some(config.instructions.clone()),
        voice: config.voice.clone(),
        output_modalities: config.output_modalities.clone(),
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
                format: Some(wire_format(rt.input_audio_format)),
                transcription: Some(
                    rt.transcription_model
                        .as_ref()
                        .map_or(Value::Null, |m| json!({ "model": m })),
                ),
                turn_detection: Some(turn_detection(&rt.turn_detection)),
            }),
            output: Some(AudioOutput {
                format: Some(wire_format(rt.output_audio_format)),
                voice: Some(layered.voice.unwrap_or_else(|| DEFAULT_VOICE.to_string())),
            }),
        }),
        tools: Some(tools),
        tool_choice: rt.tool_choice.as_ref().map(|c| match c {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Function(name) => json!({"type": "function", "name": resolve_tool(name)}),
        }),
        max_output_tokens: rt.max_output_tokens.map(|m| match m {
            MaxOutputTokens::Inf => json!("inf"),
            MaxOutputTokens::Limit(n) => json!(n),
        }),
        tracing: None,
    }
}

fn wire_format(f: Format) -> AudioFormat {
    match f {
        Format::Pcm16 => AudioFormat::Pcm { rate: 24_000 },
        Format::G711Ulaw => AudioFormat::Pcmu,
        Format::G711Alaw => AudioFormat::Pcma,
    }
}

fn turn_detection(t: &TurnDetection) -> Value {
    let mut v = serde_json::Map::new();
    let mut put = |k: &str, val: Option<Value>| {
        if let Some(val) = val {
            v.insert(k.to_string(), val);
        }
    };
    match t {
        TurnDetection::None => return Value::Null,
        TurnDetection::ServerVad {
            threshold,
            prefix_padding_ms,
            silence_duration_ms,
            idle_timeout_ms,
            create_response,
            interrupt_response,
        } => {
            put("type", Some(json!("server_vad")));
            put("threshold", threshold.map(|x| json!(x)));
            put("prefix_padding_ms", prefix_padding_ms.map(|x| json!(x)));
            put("silence_duration_ms", silence_duration_ms.map(|x| json!(x)));
            put("idle_timeout_ms", idle_timeout_ms.map(|x| json!(x)));
            put("create_response", create_response.map(|x| json!(x)));
            put("interrupt_response", interrupt_response.map(|x| json!(x)));
        }
        TurnDetection::SemanticVad {
            eagerness,
            create_response,
            interrupt_response,
        } => {
            put("type", Some(json!("semantic_vad")));
            put("eagerness", eagerness.as_ref().map(|x| json!(x)));
            put("create_response", create_response.map(|x| json!(x)));
            put("interrupt_response", interrupt_response.map(|x| json!(x)));
        }
    }
    Value::Object(v)
}

/// `settings` as a sideband of `media` may send them: SIP refuses the
/// `server_vad` tuning fields (`threshold`, `prefix_padding_ms`,
/// `silence_duration_ms`), as the reference SIP transport strips them, so they
/// are left out; everything else is the agent's.
pub fn for_media(
    mut settings: SessionConfig,
    media: crate::realtime::conversation::Media,
) -> SessionConfig {
    if media != crate::realtime::conversation::Media::Sip {
        return settings;
    }
    if let Some(Value::Object(td)) = settings
        .audio
        .as_mut()
        .and_then(|a| a.input.as_mut())
        .and_then(|i| i.turn_detection.as_mut())
        && td.get("type").and_then(Value::as_str) == Some("server_vad")
    {
        for key in ["threshold", "prefix_padding_ms", "silence_duration_ms"] {
            td.remove(key);
        }
    }
    settings
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;
    use crate::config::Config;

    fn settings(agent_toml: &str) -> Value {
        let text = format!("[agents.a]\ninstructions = \"Use add.\"\n{agent_toml}");
        let config = match Config::parse(Path::new("/x/agents.toml"), &text) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let agent = &config.agents["a"];
        let model = &config.models[&agent.model];
        let s = build(
            agent,
            model,
            &SettingsOverlay::default(),
            true,
            vec![],
            |n| format!("mapped_{n}"),
        );
        serde_json::to_value(s).unwrap_or_default()
    }

    #[test]
    fn defaults_match_the_reference_session_update() {
        // The first session.update of ../shared/protocol/tool_calls.client_events.jsonl, tools aside.
        let s = settings("");
        assert_eq!(
            s["audio"],
            json!({"input": {"format": {"rate": 24000, "type": "audio/pcm"},
                             "transcription": {"model": "gpt-4o-mini-transcribe"},
                             "turn_detection": {"type": "semantic_vad", "interrupt_response": true}},
                   "output": {"format": {"rate": 24000, "type": "audio/pcm"}, "voice": "ash"}})
        );
        assert_eq!(s["output_modalities"], json!(["audio"]));
        assert_eq!(s["type"], "realtime");
        assert!(s.get("tool_choice").is_none() && s.get("max_output_tokens").is_none());
    }

    #[test]
    fn agent_keys_reach_the_session_update() {
        let s = settings(
            r#"input_audio_format = "g711_ulaw"
output_audio_format = "g711_alaw"
turn_detection = { type = "server_vad", threshold = 0.6, silence_duration_ms = 300, create_response = false }
transcription_model = "whisper-1"
tool_choice = "calc.add"
max_output_tokens = 512
"#,
        );
        assert_eq!(s["audio"]["input"]["format"], json!({"type": "audio/pcmu"}));
        assert_eq!(
            s["audio"]["output"]["format"],
            json!({"type": "audio/pcma"})
        );
        assert_eq!(
            s["audio"]["input"]["turn_detection"],
            json!({"type": "server_vad", "threshold": 0.6, "silence_duration_ms": 300, "create_response": false})
        );
        assert_eq!(
            s["audio"]["input"]["transcription"],
            json!({"model": "whisper-1"})
        );
        assert_eq!(
            s["tool_choice"],
            json!({"type": "function", "name": "mapped_calc.add"})
        );
        assert_eq!(s["max_output_tokens"], 512);
    }

    #[test]
    fn turned_off_settings_are_sent_as_null() {
        let s = settings(
            "turn_detection = { type = \"none\" }\ntranscription_model = \"none\"\ntool_choice = \"required\"\nmax_output_tokens = \"inf\"\n",
        );
        assert_eq!(s["audio"]["input"]["turn_detection"], Value::Null);
        assert!(s["audio"]["input"].get("turn_detection").is_some());
        assert_eq!(s["audio"]["input"]["transcription"], Value::Null);
        assert_eq!(s["tool_choice"], "required");
        assert_eq!(s["max_output_tokens"], "inf");
    }
}
