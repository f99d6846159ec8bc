//! What a session's subscribers see: [`SessionEvent`]s, each wrapped in an
//! [`Envelope`] that gives it its place in the session's stream.
//!
//! Every event of a session gets the next sequence number, from 1, without
//! gaps. An event stream (`GET /v1/sessions/{id}/events`) is one JSON value
//! per line; a line is a [`StreamItem`]: an event, or an [`EventsLost`] line
//! naming a range the subscriber can no longer get (the daemon keeps a
//! bounded log), so a stream never skips silently.

use std::sync::Arc;

use serde::de::Error as _;
use serde::ser::SerializeStruct as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// How a tool call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolOutcome {
    /// The tool ran and returned output.
    Completed,
    /// The tool ran and failed (error, trap, timeout, cap); the output says why.
    Failed,
    /// A person, a policy or a guardrail refused the call.
    Rejected,
}

impl ToolOutcome {
    /// The snake_case name used in events and the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolOutcome::Completed => "completed",
            ToolOutcome::Failed => "failed",
            ToolOutcome::Rejected => "rejected",
        }
    }
}

/// Which way text was going when a guardrail tripped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The model's output (its transcript or text).
    Output,
    /// The user's input (text, or an input-audio transcript).
    Input,
    /// A tool call's name and arguments, before it runs.
    ToolCall,
}

impl Direction {
    /// The snake_case name used in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Output => "output",
            Direction::Input => "input",
            Direction::ToolCall => "tool_call",
        }
    }
}

/// What subscribers see; `type` on the wire is the variant's snake_case name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SessionEvent {
    /// A response starts.
    AgentStart {
        /// The agent answering.
        agent: String,
    },
    /// A response ended.
    AgentEnd {
        /// The agent that answered.
        agent: String,
    },
    /// The model called a handoff tool; the session now runs `to`.
    Handoff {
        /// The agent handing off.
        from: String,
        /// The agent taking over.
        to: String,
    },
    /// A tool call starts running.
    ToolStart {
        /// The agent that called it.
        agent: String,
        /// `plugin.tool`.
        tool: String,
        /// The model's id for the call.
        call_id: String,
        /// The arguments as the model sent them (a JSON text).
        arguments: String,
    },
    /// A tool call finished, failed or was refused.
    ToolEnd {
        /// The agent that called it.
        agent: String,
        /// `plugin.tool`.
        tool: String,
        /// The model's id for the call.
        call_id: String,
        /// The arguments as the model sent them (a JSON text).
        arguments: String,
        /// What the model is told.
        output: String,
        /// How it ended.
        outcome: ToolOutcome,
    },
    /// A tool call waits for `agentctl approve` or `reject`.
    ToolApprovalRequired {
        /// The agent that called it.
        agent: String,
        /// `plugin.tool`.
        tool: String,
        /// The model's id for the call; what the approval names.
        call_id: String,
        /// The arguments as the model sent them (a JSON text).
        arguments: String,
    },
    /// A chunk of output audio.
    Audio {
        /// The assistant item it belongs to.
        item_id: String,
        /// The content part of that item.
        content_index: u32,
        /// The response producing it.
        response_id: String,
        /// Base64 audio in the session's output format.
        audio: String,
    },
    /// Playback of an item was cut (barge-in); no more audio follows for it.
    AudioInterrupted {
        /// The interrupted item.
        item_id: String,
        /// The content part of that item.
        content_index: u32,
    },
    /// An item's audio is complete.
    AudioEnd {
        /// The item.
        item_id: String,
        /// The content part of that item.
        content_index: u32,
    },
    /// A piece of the assistant's transcript or text, for live captions.
    TranscriptDelta {
        /// The item it belongs to.
        item_id: String,
        /// The response producing it.
        response_id: String,
        /// The new text.
        delta: String,
    },
    /// An item joined the conversation.
    HistoryAdded {
        /// The item, as a Realtime protocol conversation item.
        item: Value,
        /// Items in the conversation now.
        history_len: usize,
    },
    /// An item of the conversation changed (e.g. its transcript arrived).
    HistoryUpdated {
        /// The item, as a Realtime protocol conversation item.
        item: Value,
        /// Items in the conversation now.
        history_len: usize,
    },
    /// An item left the conversation.
    HistoryDeleted {
        /// The item's id.
        item_id: String,
        /// Items in the conversation now.
        history_len: usize,
    },
    /// A guardrail stopped output, input or a tool call.
    GuardrailTripped {
        /// What it was judging.
        direction: Direction,
        /// The guardrails that tripped, as `plugin.guardrail`.
        guardrails: Vec<String>,
        /// The text they judged.
        message: String,
    },
    /// The model's input-audio timeout fired.
    InputAudioTimeoutTriggered,
    /// A keypad digit pressed on a phone call.
    Dtmf {
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: String,
        /// When the provider received it (Unix seconds).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        received_at: Option<u64>,
    },
    /// A model error, an unknown tool, an internal failure.
    Error {
        /// A stable word, when there is one (e.g. `model_reconnect_failed`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        /// What happened.
        message: String,
    },
    /// An event from the model, verbatim, before anything derived from it.
    RawModelEvent {
        /// The model's event.
        data: Value,
    },
    /// The last event of a session.
    SessionClosed {
        /// Why it closed.
        reason: String,
    },
    /// The model connection is up (`connected`) or being re-established
    /// (`reconnecting`, with the attempt number and why it was lost).
    ConnectionStatus {
        /// `connected` or `reconnecting`.
        status: String,
        /// Which reconnect attempt this is.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempt: Option<u32>,
        /// Why the connection was lost.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

impl SessionEvent {
    /// The event's `type` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            SessionEvent::AgentStart { .. } => "agent_start",
            SessionEvent::AgentEnd { .. } => "agent_end",
            SessionEvent::Handoff { .. } => "handoff",
            SessionEvent::ToolStart { .. } => "tool_start",
            SessionEvent::ToolEnd { .. } => "tool_end",
            SessionEvent::ToolApprovalRequired { .. } => "tool_approval_required",
            SessionEvent::Audio { .. } => "audio",
            SessionEvent::AudioInterrupted { .. } => "audio_interrupted",
            SessionEvent::AudioEnd { .. } => "audio_end",
            SessionEvent::TranscriptDelta { .. } => "transcript_delta",
            SessionEvent::HistoryAdded { .. } => "history_added",
            SessionEvent::HistoryUpdated { .. } => "history_updated",
            SessionEvent::HistoryDeleted { .. } => "history_deleted",
            SessionEvent::GuardrailTripped { .. } => "guardrail_tripped",
            SessionEvent::InputAudioTimeoutTriggered => "input_audio_timeout_triggered",
            SessionEvent::Dtmf { .. } => "dtmf",
            SessionEvent::Error { .. } => "error",
            SessionEvent::RawModelEvent { .. } => "raw_model_event",
            SessionEvent::SessionClosed { .. } => "session_closed",
            SessionEvent::ConnectionStatus { .. } => "connection_status",
        }
    }
}

/// An event with its place in the session's stream; on the wire the event's
/// fields (and its `type`) sit beside `seq`, `session` and `time_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Envelope {
    /// Per session, from 1, no gaps.
    pub seq: u64,
    /// The session's id.
    pub session: Arc<str>,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The event.
    #[serde(flatten)]
    pub event: SessionEvent,
}

/// The `type` of an [`EventsLost`] line.
pub const EVENTS_LOST: &str = "events_lost";

/// Events `first..=last` of `session` are no longer kept: the subscriber
/// asked for them, or fell behind to them, too late. On the wire:
/// `{"type": "events_lost", "session", "first", "last"}` (no `seq`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EventsLost {
    /// The session's id.
    pub session: String,
    /// The first sequence number missed.
    pub first: u64,
    /// The last sequence number missed.
    pub last: u64,
}

impl EventsLost {
    /// The gap between the last event a subscriber got (`last_seen`, 0 for
    /// none) and the next one it gets, if they are not consecutive.
    pub fn between(session: &str, last_seen: u64, next: u64) -> Option<EventsLost> {
        (next > last_seen + 1).then(|| EventsLost {
            session: session.to_string(),
            first: last_seen + 1,
            last: next - 1,
        })
    }
}

impl Serialize for EventsLost {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("EventsLost", 4)?;
        st.serialize_field("type", EVENTS_LOST)?;
        st.serialize_field("session", &self.session)?;
        st.serialize_field("first", &self.first)?;
        st.serialize_field("last", &self.last)?;
        st.end()
    }
}

impl schemars::JsonSchema for EventsLost {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EventsLost".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Events `first..=last` of `session` are no longer kept (no `seq`).",
            "type": "object",
            "required": ["type", "session", "first", "last"],
            "properties": {
                "type": { "const": EVENTS_LOST },
                "session": { "type": "string" },
                "first": { "type": "integer", "minimum": 0 },
                "last": { "type": "integer", "minimum": 0 }
            }
        })
    }
}

/// One line of an event stream.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    /// The next event.
    Event(Envelope),
    /// A range of events the subscriber missed.
    Lost(EventsLost),
}

impl StreamItem {
    /// The `type` of the line.
    pub fn kind(&self) -> &'static str {
        match self {
            StreamItem::Event(env) => env.event.kind(),
            StreamItem::Lost(_) => EVENTS_LOST,
        }
    }
}

impl schemars::JsonSchema for StreamItem {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StreamItem".into()
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "One line of an event stream: an event, or a range of events missed.",
            "oneOf": [g.subschema_for::<Envelope>(), g.subschema_for::<EventsLost>()]
        })
    }
}

impl Serialize for StreamItem {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            StreamItem::Event(env) => env.serialize(s),
            StreamItem::Lost(lost) => lost.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for StreamItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The line's `type` decides what it is; an untagged enum would only
        // say "did not match any variant" when an event is malformed.
        let v = Value::deserialize(d)?;
        if v.get("type").and_then(Value::as_str) == Some(EVENTS_LOST) {
            EventsLost::deserialize(v)
                .map(StreamItem::Lost)
                .map_err(D::Error::custom)
        } else {
            Envelope::deserialize(v)
                .map(StreamItem::Event)
                .map_err(D::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as `GET /v1/sessions/{id}/events` wrote them, one per event type.
    const LINES: &[&str] = &[
        r#"{"seq":1,"session":"s1","time_ms":1764072000000,"type":"connection_status","status":"connected"}"#,
        r#"{"seq":2,"session":"s1","time_ms":1764072000001,"type":"connection_status","status":"reconnecting","attempt":2,"reason":"model went silent"}"#,
        r#"{"seq":3,"session":"s1","time_ms":1764072000002,"type":"history_added","item":{"content":[{"text":"call calc.add {}","type":"input_text"}],"id":"u1","role":"user","type":"message"},"history_len":1}"#,
        r#"{"seq":4,"session":"s1","time_ms":1764072000003,"type":"history_updated","item":{"id":"u1","type":"message"},"history_len":1}"#,
        r#"{"seq":5,"session":"s1","time_ms":1764072000004,"type":"history_deleted","item_id":"u1","history_len":0}"#,
        r#"{"seq":6,"session":"s1","time_ms":1764072000005,"type":"agent_start","agent":"concierge"}"#,
        r#"{"seq":7,"session":"s1","time_ms":1764072000006,"type":"tool_approval_required","agent":"concierge","tool":"calc.multiply","call_id":"call_1","arguments":"{\"a\":4,\"b\":5}"}"#,
        r#"{"seq":8,"session":"s1","time_ms":1764072000007,"type":"tool_start","agent":"concierge","tool":"calc.multiply","call_id":"call_1","arguments":"{\"a\":4,\"b\":5}"}"#,
        r#"{"seq":9,"session":"s1","time_ms":1764072000008,"type":"tool_end","agent":"concierge","tool":"calc.multiply","call_id":"call_1","arguments":"{\"a\":4,\"b\":5}","output":"20","outcome":"completed"}"#,
        r#"{"seq":10,"session":"s1","time_ms":1764072000009,"type":"handoff","from":"concierge","to":"billing"}"#,
        r#"{"seq":11,"session":"s1","time_ms":1764072000010,"type":"audio","item_id":"a1","content_index":0,"response_id":"r1","audio":"AAAA"}"#,
        r#"{"seq":12,"session":"s1","time_ms":1764072000011,"type":"transcript_delta","item_id":"a1","response_id":"r1","delta":"The "}"#,
        r#"{"seq":13,"session":"s1","time_ms":1764072000012,"type":"audio_interrupted","item_id":"a1","content_index":0}"#,
        r#"{"seq":14,"session":"s1","time_ms":1764072000013,"type":"audio_end","item_id":"a1","content_index":0}"#,
        r#"{"seq":15,"session":"s1","time_ms":1764072000014,"type":"guardrail_tripped","direction":"tool_call","guardrails":["blocklist.blocklist"],"message":"rm -rf"}"#,
        r#"{"seq":16,"session":"s1","time_ms":1764072000015,"type":"input_audio_timeout_triggered"}"#,
        r#"{"seq":17,"session":"s1","time_ms":1764072000016,"type":"error","code":"unknown_tool","message":"no tool `x`"}"#,
        r#"{"seq":18,"session":"s1","time_ms":1764072000017,"type":"error","message":"no code"}"#,
        r#"{"seq":19,"session":"s1","time_ms":1764072000018,"type":"raw_model_event","data":{"response":{"id":"r1"},"type":"response.created"}}"#,
        r#"{"seq":20,"session":"s1","time_ms":1764072000019,"type":"agent_end","agent":"billing"}"#,
        r#"{"seq":21,"session":"s1","time_ms":1764072000020,"type":"session_closed","reason":"closed by the control API"}"#,
        r#"{"type":"events_lost","session":"s1","first":22,"last":40}"#,
    ];

    #[test]
    fn every_stream_line_round_trips() {
        for line in LINES {
            let item: StreamItem =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            let kind: Value = serde_json::from_str::<Value>(line).unwrap()["type"].clone();
            assert_eq!(item.kind(), kind, "{line}");
            assert_eq!(&serde_json::to_string(&item).unwrap(), line);
        }
    }

    #[test]
    fn envelopes_deserialize_with_their_flattened_event() {
        let env: Envelope = serde_json::from_str(LINES[8]).unwrap();
        assert_eq!(env.seq, 9);
        assert_eq!(&*env.session, "s1");
        assert_eq!(
            env.event,
            SessionEvent::ToolEnd {
                agent: "concierge".into(),
                tool: "calc.multiply".into(),
                call_id: "call_1".into(),
                arguments: r#"{"a":4,"b":5}"#.into(),
                output: "20".into(),
                outcome: ToolOutcome::Completed,
            }
        );
    }

    #[test]
    fn a_malformed_event_is_an_error_naming_the_problem() {
        let e = serde_json::from_str::<StreamItem>(
            r#"{"seq":1,"session":"s","time_ms":0,"type":"tool_end","agent":"a"}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("missing field `tool`"), "{e}");
        let e = serde_json::from_str::<StreamItem>(
            r#"{"seq":1,"session":"s","time_ms":0,"type":"no_such_event"}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("no_such_event"), "{e}");
    }

    #[test]
    fn a_gap_in_sequence_numbers_is_named() {
        assert_eq!(EventsLost::between("s", 4, 5), None);
        assert_eq!(EventsLost::between("s", 0, 1), None);
        assert_eq!(
            EventsLost::between("s", 4, 10),
            Some(EventsLost {
                session: "s".into(),
                first: 5,
                last: 9
            })
        );
    }

    #[test]
    fn enum_names_match_their_serialized_form() {
        for o in [
            ToolOutcome::Completed,
            ToolOutcome::Failed,
            ToolOutcome::Rejected,
        ] {
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
        for d in [Direction::Output, Direction::Input, Direction::ToolCall] {
            assert_eq!(serde_json::to_value(d).unwrap(), d.as_str());
        }
    }
}
