//! Typed events of the OpenAI Realtime API (GA event names).
//!
//! Client events are what agentd (or a client of the built-in model) sends;
//! server events are what the model sends back. Parsing never fails hard:
//! [`parse_server_event`] keeps anything it cannot type as
//! [`ServerEvent::Unknown`] with the raw JSON, so a new or malformed event is
//! logged and surfaced, never fatal.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A conversation item as it travels on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Item {
    Message(MessageItem),
    FunctionCall(FunctionCallItem),
    FunctionCallOutput(FunctionCallOutputItem),
}

impl Item {
    /// The item id, when the server has assigned one.
    pub fn id(&self) -> Option<&str> {
        match self {
            Item::Message(m) => m.id.as_deref(),
            Item::FunctionCall(f) => f.id.as_deref(),
            Item::FunctionCallOutput(o) => o.id.as_deref(),
        }
    }
}

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
    System,
}

/// A message item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub role: Role,
    #[serde(default)]
    pub content: Vec<ContentPart>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// One part of a message's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    InputText {
        #[serde(default)]
        text: Option<String>,
    },
    InputAudio {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audio: Option<String>,
        #[serde(default)]
        transcript: Option<String>,
    },
    InputImage {
        #[serde(default)]
        image_url: Option<String>,
    },
    #[serde(alias = "text")]
    OutputText {
        #[serde(default)]
        text: Option<String>,
    },
    #[serde(alias = "audio")]
    OutputAudio {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audio: Option<String>,
        #[serde(default)]
        transcript: Option<String>,
    },
}

/// A function call the model made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub call_id: String,
    pub name: String,
    #[serde(default)]
    pub arguments: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// The output of a function call, sent back to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallOutputItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub call_id: String,
    pub output: String,
}

/// A function tool as declared in `session.update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionTool {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// Audio format of input or output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AudioFormat {
    #[serde(rename = "audio/pcm")]
    Pcm { rate: u32 },
    #[serde(rename = "audio/pcmu")]
    Pcmu,
    #[serde(rename = "audio/pcma")]
    Pcma,
}

/// `session.audio.input`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<AudioFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcription: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_detection: Option<Value>,
}

/// `session.audio.output`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioOutput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<AudioFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<String>,
}

/// `session.audio`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<AudioInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<AudioOutput>,
}

/// The `session` object of `session.update` (and of `session.created/updated`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionConfig {
    /// Always `"realtime"` in the GA API.
    #[serde(rename = "type", default = "realtime")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_modalities: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<AudioConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<FunctionTool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<Value>,
}

fn realtime() -> String {
    "realtime".to_string()
}

/// Everything a client may send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ClientEvent {
    #[serde(rename = "session.update")]
    SessionUpdate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        session: SessionConfig,
    },
    #[serde(rename = "input_audio_buffer.append")]
    InputAudioBufferAppend {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        /// Base64 audio in the session's input format.
        audio: String,
    },
    #[serde(rename = "input_audio_buffer.commit")]
    InputAudioBufferCommit {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
    },
    #[serde(rename = "input_audio_buffer.clear")]
    InputAudioBufferClear {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
    },
    #[serde(rename = "conversation.item.create")]
    ConversationItemCreate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous_item_id: Option<String>,
        item: Item,
    },
    #[serde(rename = "conversation.item.retrieve")]
    ConversationItemRetrieve {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        item_id: String,
    },
    #[serde(rename = "conversation.item.truncate")]
    ConversationItemTruncate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        item_id: String,
        content_index: u32,
        audio_end_ms: u64,
    },
    #[serde(rename = "conversation.item.delete")]
    ConversationItemDelete {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        item_id: String,
    },
    #[serde(rename = "response.create")]
    ResponseCreate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response: Option<Value>,
    },
    #[serde(rename = "response.cancel")]
    ResponseCancel {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response_id: Option<String>,
    },
    /// WebRTC only: drop the audio the server has buffered for the listener.
    #[serde(rename = "output_audio_buffer.clear")]
    OutputAudioBufferClear {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
    },
}

/// The `response` object of `response.created` / `response.done`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub output: Vec<Item>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_details: Option<Value>,
}

/// Token usage of one response; the same type the control API reports a
/// session's totals in.
pub use agentd_api::session::Usage;

/// The `error` object of a server `error` event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub param: Option<String>,
    #[serde(default)]
    pub event_id: Option<String>,
}

/// Location of a delta inside a response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartRef {
    pub response_id: String,
    pub item_id: String,
    #[serde(default)]
    pub output_index: u32,
    #[serde(default)]
    pub content_index: u32,
}

/// Everything a server may send that agentd understands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ServerEvent {
    #[serde(rename = "error")]
    Error { error: ApiError },
    #[serde(rename = "session.created")]
    SessionCreated { session: Value },
    #[serde(rename = "session.updated")]
    SessionUpdated { session: Value },
    #[serde(
        rename = "conversation.item.added",
        alias = "conversation.item.created"
    )]
    ConversationItemAdded {
        #[serde(default)]
        previous_item_id: Option<String>,
        item: Item,
    },
    #[serde(rename = "conversation.item.done")]
    ConversationItemDone {
        #[serde(default)]
        previous_item_id: Option<String>,
        item: Item,
    },
    #[serde(rename = "conversation.item.retrieved")]
    ConversationItemRetrieved { item: Item },
    #[serde(rename = "conversation.item.truncated")]
    ConversationItemTruncated {
        item_id: String,
        content_index: u32,
        audio_end_ms: u64,
    },
    #[serde(rename = "conversation.item.deleted")]
    ConversationItemDeleted { item_id: String },
    #[serde(rename = "conversation.item.input_audio_transcription.delta")]
    InputAudioTranscriptionDelta {
        item_id: String,
        #[serde(default)]
        content_index: u32,
        delta: String,
    },
    #[serde(rename = "conversation.item.input_audio_transcription.completed")]
    InputAudioTranscriptionCompleted {
        item_id: String,
        #[serde(default)]
        content_index: u32,
        transcript: String,
    },
    #[serde(rename = "conversation.item.input_audio_transcription.failed")]
    InputAudioTranscriptionFailed {
        item_id: String,
        #[serde(default)]
        content_index: u32,
        #[serde(default)]
        error: ApiError,
    },
    #[serde(rename = "input_audio_buffer.committed")]
    InputAudioBufferCommitted {
        #[serde(default)]
        previous_item_id: Option<String>,
        item_id: String,
    },
    #[serde(rename = "input_audio_buffer.cleared")]
    InputAudioBufferCleared {},
    /// A keypad digit on a SIP call.
    #[serde(rename = "input_audio_buffer.dtmf_event_received")]
    InputAudioBufferDtmfEventReceived {
        event: String,
        #[serde(default)]
        received_at: Option<u64>,
    },
    #[serde(rename = "input_audio_buffer.speech_started")]
    InputAudioBufferSpeechStarted {
        #[serde(default)]
        audio_start_ms: u64,
        item_id: String,
    },
    #[serde(rename = "input_audio_buffer.speech_stopped")]
    InputAudioBufferSpeechStopped {
        #[serde(default)]
        audio_end_ms: u64,
        item_id: String,
    },
    #[serde(rename = "input_audio_buffer.timeout_triggered")]
    InputAudioBufferTimeoutTriggered {
        #[serde(default)]
        audio_start_ms: u64,
        #[serde(default)]
        audio_end_ms: u64,
        item_id: String,
    },
    #[serde(rename = "response.created")]
    ResponseCreated { response: Response },
    #[serde(rename = "response.done")]
    ResponseDone { response: Response },
    #[serde(rename = "response.output_item.added")]
    ResponseOutputItemAdded {
        response_id: String,
        #[serde(default)]
        output_index: u32,
        item: Item,
    },
    #[serde(rename = "response.output_item.done")]
    ResponseOutputItemDone {
        response_id: String,
        #[serde(default)]
        output_index: u32,
        item: Item,
    },
    #[serde(rename = "response.content_part.added")]
    ResponseContentPartAdded {
        #[serde(flatten)]
        at: PartRef,
        part: Value,
    },
    #[serde(rename = "response.content_part.done")]
    ResponseContentPartDone {
        #[serde(flatten)]
        at: PartRef,
        part: Value,
    },
    #[serde(rename = "response.output_text.delta")]
    ResponseOutputTextDelta {
        #[serde(flatten)]
        at: PartRef,
        delta: String,
    },
    #[serde(rename = "response.output_text.done")]
    ResponseOutputTextDone {
        #[serde(flatten)]
        at: PartRef,
        text: String,
    },
    #[serde(rename = "response.output_audio.delta")]
    ResponseOutputAudioDelta {
        #[serde(flatten)]
        at: PartRef,
        /// Base64 audio.
        delta: String,
    },
    #[serde(rename = "response.output_audio.done")]
    ResponseOutputAudioDone {
        #[serde(flatten)]
        at: PartRef,
    },
    #[serde(rename = "response.output_audio_transcript.delta")]
    ResponseOutputAudioTranscriptDelta {
        #[serde(flatten)]
        at: PartRef,
        delta: String,
    },
    #[serde(rename = "response.output_audio_transcript.done")]
    ResponseOutputAudioTranscriptDone {
        #[serde(flatten)]
        at: PartRef,
        transcript: String,
    },
    #[serde(rename = "response.function_call_arguments.delta")]
    ResponseFunctionCallArgumentsDelta {
        response_id: String,
        item_id: String,
        #[serde(default)]
        output_index: u32,
        call_id: String,
        delta: String,
    },
    #[serde(rename = "response.function_call_arguments.done")]
    ResponseFunctionCallArgumentsDone {
        response_id: String,
        item_id: String,
        #[serde(default)]
        output_index: u32,
        call_id: String,
        #[serde(default)]
        name: Option<String>,
        arguments: String,
    },
    #[serde(rename = "rate_limits.updated")]
    RateLimitsUpdated { rate_limits: Value },
    /// An event agentd does not know or could not parse; kept verbatim.
    #[serde(skip)]
    Unknown { raw: Value, problem: String },
}

/// One server message as it came, as JSON text on one line: what
/// `raw_model_event` carries. Kept as text, not as a parsed [`Value`], so an
/// event is parsed once (to its [`ServerEvent`]) and its raw form is written
/// to subscribers as it is, without building a tree or re-escaping its
/// strings (a base64 audio chunk is most of an audio event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent(Box<str>);

impl RawEvent {
    /// `text`, known to be one JSON value. Line breaks outside strings are
    /// whitespace (inside a JSON string they cannot appear unescaped), so
    /// they become spaces: the value stays the same and fits on one line.
    fn verbatim(text: &str) -> RawEvent {
        // Two memchr scans: much faster than one scan for either character.
        if text.contains('\n') || text.contains('\r') {
            RawEvent(text.replace(['\n', '\r'], " ").into_boxed_str())
        } else {
            RawEvent(Box::from(text))
        }
    }

    /// A JSON string holding `text` (for a message that is not JSON).
    fn string(text: &str) -> RawEvent {
        let shown: String = text.chars().take(256).collect();
        RawEvent(Value::String(shown).to_string().into_boxed_str())
    }

    /// The JSON text, one line.
    pub fn json(&self) -> &str {
        &self.0
    }

    /// The message as a [`Value`] (parsed now; for tests and rare paths).
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }
}

/// Parse one server message, once. Never fails: what cannot be typed comes
/// back as [`ServerEvent::Unknown`] with the reason.
pub fn parse_server_event(text: &str) -> (RawEvent, ServerEvent) {
    if let Ok(ev) = serde_json::from_str::<ServerEvent>(text) {
        return (RawEvent::verbatim(text), ev);
    }
    // Not one of ours (or malformed): parse it as a tree to say why.
    let raw: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return (
                RawEvent::string(text),
                ServerEvent::Unknown {
                    raw: Value::Null,
                    problem: format!("not JSON: {e}"),
                },
            );
        }
    };
    let problem = match ServerEvent::deserialize(&raw) {
        // Typed from the tree after all (the text had something only the
        // direct parse refuses): keep it.
        Ok(ev) => return (RawEvent::verbatim(text), ev),
        Err(e) => {
            let kind = raw.get("type").and_then(Value::as_str).unwrap_or("<none>");
            format!("event `{kind}`: {e}")
        }
    };
    (
        RawEvent::verbatim(text),
        ServerEvent::Unknown { raw, problem },
    )
}

impl ClientEvent {
    /// The event's `type` on the wire, without serializing it.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientEvent::SessionUpdate { .. } => "session.update",
            ClientEvent::InputAudioBufferAppend { .. } => "input_audio_buffer.append",
            ClientEvent::InputAudioBufferCommit { .. } => "input_audio_buffer.commit",
            ClientEvent::InputAudioBufferClear { .. } => "input_audio_buffer.clear",
            ClientEvent::ConversationItemCreate { .. } => "conversation.item.create",
            ClientEvent::ConversationItemRetrieve { .. } => "conversation.item.retrieve",
            ClientEvent::ConversationItemTruncate { .. } => "conversation.item.truncate",
            ClientEvent::ConversationItemDelete { .. } => "conversation.item.delete",
            ClientEvent::ResponseCreate { .. } => "response.create",
            ClientEvent::ResponseCancel { .. } => "response.cancel",
            ClientEvent::OutputAudioBufferClear { .. } => "output_audio_buffer.clear",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn client_events_serialize_as_the_reference_sends_them() {
        let ev = ClientEvent::ConversationItemCreate {
            event_id: None,
            previous_item_id: None,
            item: Item::FunctionCallOutput(FunctionCallOutputItem {
                id: None,
                call_id: "call_0".into(),
                output: "1".into(),
            }),
        };
        assert_eq!(
            serde_json::to_value(&ev).unwrap(),
            json!({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": "call_0", "output": "1"}})
        );
        let ev = ClientEvent::ResponseCreate {
            event_id: None,
            response: None,
        };
        assert_eq!(
            serde_json::to_value(&ev).unwrap(),
            json!({"type": "response.create"})
        );
    }

    #[test]
    fn every_captured_server_event_parses() {
        // The reference captures hold one of each event a scenario produces.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/protocol");
        let Ok(entries) = std::fs::read_dir(dir) else {
            return; // shared/ is not beside the checkout
        };
        let mut seen = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.to_string_lossy().ends_with(".server_sample.jsonl") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for line in text.lines().filter(|l| !l.starts_with("{\"_note\"")) {
                let (_, ev) = parse_server_event(line);
                if let ServerEvent::Unknown { problem, .. } = ev {
                    // Elided base64 in captures is not an error of ours.
                    assert!(
                        problem.contains("unknown variant"),
                        "{}: {problem}",
                        path.display()
                    );
                }
                seen += 1;
            }
        }
        assert!(seen > 100);
    }

    const SERVER_FIXTURES: &str = include_str!("../../tests-data/realtime/server_events.jsonl");
    const CLIENT_FIXTURES: &str = include_str!("../../tests-data/realtime/client_events.jsonl");

    /// Every field `ours` has, `theirs` has with the same value (a `null` of
    /// ours may stand for a field left out).
    fn is_subset(ours: &Value, theirs: &Value, path: &str) -> Result<(), String> {
        match (ours, theirs) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in a {
                    match b.get(k) {
                        Some(w) => is_subset(v, w, &format!("{path}.{k}"))?,
                        None if v.is_null() => {}
                        None => return Err(format!("{path}.{k} is not in the fixture")),
                    }
                }
                Ok(())
            }
            (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
                .iter()
                .zip(b)
                .enumerate()
                .try_for_each(|(i, (v, w))| is_subset(v, w, &format!("{path}[{i}]"))),
            (a, b) if a == b => Ok(()),
            (a, b) => Err(format!("{path}: {a} != {b}")),
        }
    }

    #[test]
    fn every_ga_server_event_round_trips() {
        let mut types = std::collections::BTreeSet::new();
        for line in SERVER_FIXTURES.lines() {
            let (raw, ev) = parse_server_event(line);
            let raw = raw.value();
            assert!(!matches!(ev, ServerEvent::Unknown { .. }), "{ev:?}");
            let kind = raw["type"].as_str().unwrap_or_default();
            types.insert(kind.to_string());
            let back = serde_json::to_value(&ev).unwrap();
            // Same type, nothing invented, nothing changed.
            assert_eq!(back["type"], raw["type"]);
            if let Err(e) = is_subset(&back, &raw, kind) {
                panic!("{e}");
            }
            let again: ServerEvent = serde_json::from_value(back).unwrap();
            assert_eq!(again, ev, "{kind}");
        }
        let wanted = [
            "error",
            "session.created",
            "session.updated",
            "conversation.item.added",
            "conversation.item.done",
            "conversation.item.retrieved",
            "conversation.item.truncated",
            "conversation.item.deleted",
            "conversation.item.input_audio_transcription.delta",
            "conversation.item.input_audio_transcription.completed",
            "conversation.item.input_audio_transcription.failed",
            "input_audio_buffer.committed",
            "input_audio_buffer.cleared",
            "input_audio_buffer.speech_started",
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.timeout_triggered",
            "response.created",
            "response.done",
            "response.output_item.added",
            "response.output_item.done",
            "response.content_part.added",
            "response.content_part.done",
            "response.output_text.delta",
            "response.output_text.done",
            "response.output_audio.delta",
            "response.output_audio.done",
            "response.output_audio_transcript.delta",
            "response.output_audio_transcript.done",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "rate_limits.updated",
        ];
        let wanted: std::collections::BTreeSet<String> =
            wanted.iter().map(|s| s.to_string()).collect();
        assert_eq!(types, wanted);
    }

    #[test]
    fn every_ga_client_event_round_trips_exactly() {
        let mut types = std::collections::BTreeSet::new();
        for line in CLIENT_FIXTURES.lines() {
            let raw: Value = serde_json::from_str(line).unwrap();
            let ev: ClientEvent = match serde_json::from_value(raw.clone()) {
                Ok(ev) => ev,
                Err(e) => panic!("{line}: {e}"),
            };
            assert_eq!(serde_json::to_value(&ev).unwrap(), raw);
            assert_eq!(ev.kind(), raw["type"], "{line}");
            types.insert(raw["type"].as_str().unwrap_or_default().to_string());
        }
        assert_eq!(types.len(), 10, "{types:?}");
    }

    #[test]
    fn unknown_server_events_are_kept_verbatim() {
        let (raw, ev) =
            parse_server_event(r#"{"type":"output_audio_buffer.started","response_id":"r"}"#);
        match ev {
            ServerEvent::Unknown { raw: kept, problem } => {
                assert_eq!(kept, raw.value());
                assert!(problem.contains("unknown variant"), "{problem}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_events_are_kept_not_fatal() {
        let (_, ev) = parse_server_event("{not json");
        assert!(matches!(ev, ServerEvent::Unknown { .. }));
        let (raw, ev) = parse_server_event(r#"{"type":"response.done","response":7}"#);
        assert_eq!(raw.value()["type"], "response.done");
        match ev {
            ServerEvent::Unknown { problem, .. } => {
                assert!(problem.starts_with("event `response.done`"), "{problem}")
            }
            other => panic!("{other:?}"),
        }
    }
}
