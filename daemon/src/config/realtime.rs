//! An agent's realtime session settings: audio formats, turn detection,
//! input transcription, tool choice and output token limit.
//!
//! Unset keys take the reference client's defaults (PCM16 at 24 kHz both
//! ways, `semantic_vad` with `interrupt_response`, `gpt-4o-mini-transcribe`),
//! so an agent that says nothing looks to a model exactly as the reference
//! does; `tool_choice` and `max_output_tokens` are only sent when set.

use serde_spanned::Spanned;

use super::Ctx;
use super::raw::{RawAgent, RawTurnDetection};

/// Audio encoding of input or output audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AudioFormat {
    /// 16-bit little-endian PCM, mono, 24 kHz (`pcm16`).
    #[default]
    Pcm16,
    /// G.711 μ-law, 8 kHz (`g711_ulaw`).
    G711Ulaw,
    /// G.711 A-law, 8 kHz (`g711_alaw`).
    G711Alaw,
}

impl AudioFormat {
    /// Bytes of audio per millisecond in this format.
    pub fn bytes_per_ms(self) -> u64 {
        match self {
            AudioFormat::Pcm16 => 48,
            AudioFormat::G711Ulaw | AudioFormat::G711Alaw => 8,
        }
    }
}

/// How the server decides that the user has finished speaking.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnDetection {
    /// No turn detection: the client commits the input buffer itself.
    None,
    /// Voice activity detection on silence.
    ServerVad {
        threshold: Option<f64>,
        prefix_padding_ms: Option<u32>,
        silence_duration_ms: Option<u32>,
        idle_timeout_ms: Option<u32>,
        create_response: Option<bool>,
        interrupt_response: Option<bool>,
    },
    /// Detection on what the user said.
    SemanticVad {
        eagerness: Option<String>,
        create_response: Option<bool>,
        interrupt_response: Option<bool>,
    },
}

/// Which tool the model may or must call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    None,
    Required,
    /// This tool (`plugin.tool` or a model-visible name) and no other.
    Function(String),
}

/// Limit on the tokens of one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxOutputTokens {
    Inf,
    Limit(u32),
}

/// The realtime settings of one agent, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RealtimeSettings {
    pub input_audio_format: AudioFormat,
    pub output_audio_format: AudioFormat,
    pub turn_detection: TurnDetection,
    /// `None` turns input transcription off (`transcription_model = "none"`).
    pub transcription_model: Option<String>,
    pub tool_choice: Option<ToolChoice>,
    pub max_output_tokens: Option<MaxOutputTokens>,
}

/// Transcription model used when an agent names none (the reference's default).
pub const DEFAULT_TRANSCRIPTION_MODEL: &str = "gpt-4o-mini-transcribe";

impl Default for RealtimeSettings {
    fn default() -> Self {
        RealtimeSettings {
            input_audio_format: AudioFormat::Pcm16,
            output_audio_format: AudioFormat::Pcm16,
            turn_detection: TurnDetection::SemanticVad {
                eagerness: None,
                create_response: None,
                interrupt_response: Some(true),
            },
            transcription_model: Some(DEFAULT_TRANSCRIPTION_MODEL.to_string()),
            tool_choice: None,
            max_output_tokens: None,
        }
    }
}

impl Ctx<'_> {
    pub(super) fn realtime_settings(&mut self, a: &RawAgent) -> RealtimeSettings {
        let mut out = RealtimeSettings::default();
        if let Some(f) = &a.input_audio_format {
            out.input_audio_format = self.audio_format(f);
        }
        if let Some(f) = &a.output_audio_format {
            out.output_audio_format = self.audio_format(f);
        }
        if let Some(t) = &a.turn_detection {
            out.turn_detection = self.turn_detection(t);
        }
        if let Some(m) = &a.transcription_model {
            let v = m.get_ref().trim();
            if v.is_empty() {
                self.error(
                    m,
                    "transcription_model is empty; use \"none\" to turn input transcription off",
                );
            }
            out.transcription_model = (v != "none").then(|| v.to_string());
        }
        if let Some(c) = &a.tool_choice {
            out.tool_choice = Some(match c.get_ref().as_str() {
                "auto" => ToolChoice::Auto,
                "none" => ToolChoice::None,
                "required" => ToolChoice::Required,
                other => {
                    let valid = other.split_once('.').map_or_else(
                        || super::is_valid_name(other),
                        |(p, t)| super::is_valid_name(p) && super::is_valid_name(t),
                    );
                    if !valid {
                        self.error(
                            c,
                            format!("tool_choice `{other}` must be `auto`, `none`, `required` or one tool such as `calc.add`"),
                        );
                    }
                    ToolChoice::Function(other.to_string())
                }
            });
        }
        if let Some(m) = &a.max_output_tokens {
            out.max_output_tokens = self.max_output_tokens(m);
        }
        out
    }

    fn audio_format(&mut self, f: &Spanned<String>) -> AudioFormat {
        match f.get_ref().as_str() {
            "pcm16" => AudioFormat::Pcm16,
            "g711_ulaw" => AudioFormat::G711Ulaw,
            "g711_alaw" => AudioFormat::G711Alaw,
            other => {
                self.error(
                    f,
                    format!("unknown audio format `{other}`; expected `pcm16`, `g711_ulaw` or `g711_alaw`"),
                );
                AudioFormat::Pcm16
            }
        }
    }

    fn turn_detection(&mut self, t: &Spanned<RawTurnDetection>) -> TurnDetection {
        let r = t.get_ref();
        let vad_only = [
            ("threshold", r.threshold.is_some()),
            ("prefix_padding_ms", r.prefix_padding_ms.is_some()),
            ("silence_duration_ms", r.silence_duration_ms.is_some()),
            ("idle_timeout_ms", r.idle_timeout_ms.is_some()),
        ];
        let misplaced = |kind: &str, keys: &[(&str, bool)]| -> Vec<String> {
            keys.iter()
                .filter(|(_, set)| *set)
                .map(|(k, _)| format!("`{k}` does not apply to turn detection `{kind}`"))
                .collect()
        };
        match r.kind.get_ref().as_str() {
            "none" => {
                let mut keys = vad_only.to_vec();
                keys.extend([
                    ("eagerness", r.eagerness.is_some()),
                    ("create_response", r.create_response.is_some()),
                    ("interrupt_response", r.interrupt_response.is_some()),
                ]);
                for m in misplaced("none", &keys) {
                    self.error(t, m);
                }
                TurnDetection::None
            }
            "server_vad" => {
                for m in misplaced("server_vad", &[("eagerness", r.eagerness.is_some())]) {
                    self.error(t, m);
                }
                if let Some(th) = r.threshold
                    && !(0.0..=1.0).contains(&th)
                {
                    self.error(t, format!("threshold {th} must be between 0.0 and 1.0"));
                }
                TurnDetection::ServerVad {
                    threshold: r.threshold,
                    prefix_padding_ms: r.prefix_padding_ms,
                    silence_duration_ms: r.silence_duration_ms,
                    idle_timeout_ms: r.idle_timeout_ms,
                    create_response: r.create_response,
                    interrupt_response: r.interrupt_response,
                }
            }
            "semantic_vad" => {
                for m in misplaced("semantic_vad", &vad_only) {
                    self.error(t, m);
                }
                if let Some(e) = &r.eagerness
                    && !["low", "medium", "high", "auto"].contains(&e.get_ref().as_str())
                {
                    self.error(
                        e,
                        format!(
                            "eagerness `{}` must be `low`, `medium`, `high` or `auto`",
                            e.get_ref()
                        ),
                    );
                }
                TurnDetection::SemanticVad {
                    eagerness: r.eagerness.as_ref().map(|e| e.get_ref().clone()),
                    create_response: r.create_response,
                    interrupt_response: r.interrupt_response,
                }
            }
            other => {
                self.error(
                    &r.kind,
                    format!("unknown turn detection `{other}`; expected `server_vad`, `semantic_vad` or `none`"),
                );
                TurnDetection::None
            }
        }
    }

    fn max_output_tokens(&mut self, m: &Spanned<toml::Value>) -> Option<MaxOutputTokens> {
        match m.get_ref() {
            toml::Value::String(s) if s == "inf" => Some(MaxOutputTokens::Inf),
            toml::Value::Integer(n) if (1..=4096).contains(n) => {
                Some(MaxOutputTokens::Limit(*n as u32))
            }
            _ => {
                self.error(
                    m,
                    "max_output_tokens must be an integer from 1 to 4096, or \"inf\"",
                );
                None
            }
        }
    }
}
