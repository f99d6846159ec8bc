//! An agent's realtime session settings: audio formats, turn detection,
//! input transcription, tool choice and output token limit.
//!
//! Unset keys take the reference client's defaults (PCM16 at 24 kHz both
//! ways, `semantic_vad` with `interrupt_response`, `gpt-4o-mini-transcribe`),
//! so an agent that says nothing looks to a model exactly as the reference
//! does; `tool_choice` and `max_output_tokens` are only sent when set.

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
