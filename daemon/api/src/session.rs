//! A session as `GET /v1/sessions/{id}` shows it: who it runs, what waits
//! for a person, what it has used. A snapshot, taken by the session's own
//! task; it is stale as soon as it is sent.

use serde::{Deserialize, Serialize};

/// Token usage, summed over a session's responses (and, on the wire to the
/// model, the usage of one response).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Usage {
    /// Input plus output tokens.
    #[serde(default)]
    pub total_tokens: u64,
    /// Tokens the model read.
    #[serde(default)]
    pub input_tokens: u64,
    /// Tokens the model wrote.
    #[serde(default)]
    pub output_tokens: u64,
}

/// A tool call held for a person's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PendingApproval {
    /// The model's id for the call; what `POST /v1/approvals/{call_id}` takes.
    pub call_id: String,
    /// `plugin.tool`.
    pub tool: String,
    /// The agent that called it.
    pub agent: String,
    /// The arguments as the model sent them (a JSON text).
    pub arguments: String,
    /// Milliseconds since the Unix epoch when its timeout settles it unanswered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<u64>,
    /// Milliseconds since the Unix epoch since when it waits.
    #[serde(default)]
    pub since_ms: u64,
    /// The session holding it (in the daemon-wide list, `GET /v1/approvals`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

/// A snapshot of a session for `agentctl sessions` and `session show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionStatus {
    /// The session's id.
    pub id: String,
    /// The agent it runs now (a handoff changes it).
    pub agent: String,
    /// The model the agent talks to.
    pub model: String,
    /// When it started (ms since the Unix epoch).
    pub created_ms: u64,
    /// Items in the conversation.
    pub history_len: usize,
    /// Tool calls waiting for a person, by `call_id`.
    pub pending_approvals: Vec<PendingApproval>,
    /// Tool calls running now.
    pub running_tools: usize,
    /// Tokens used so far.
    pub usage: Usage,
    /// Responses the model finished.
    pub responses: u64,
    /// Sequence number of its latest event.
    pub last_seq: u64,
    /// Output audio of interrupted responses that arrived after the interrupt
    /// and was dropped rather than delivered.
    pub dropped_audio_bytes: u64,
    /// The phone or browser call this session drives, if it drives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<CallStatus>,
}

/// A phone (SIP) or browser (WebRTC) call, as its session and the calls
/// list show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CallStatus {
    /// `sip` or `webrtc`.
    pub channel: String,
    /// The provider's id for the call.
    pub call_id: String,
    /// The caller's number (the `From` user part) on SIP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    /// The number called (the `To` user part) on SIP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callee: Option<String>,
    /// The agent that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The session driving it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// `accepted`, `rejected 486`, `transferred to tel:…`, `hung up by …`.
    pub outcome: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As `GET /v1/sessions/{id}` wrote it for a session waiting on an approval.
    const STATUS: &str = r#"{"id":"s1-0a1b2c","agent":"concierge","model":"default","created_ms":1764072000000,"history_len":3,"pending_approvals":[{"call_id":"call_7","tool":"calc.multiply","agent":"concierge","arguments":"{\"a\":4,\"b\":5}","expires_ms":1764072060000,"since_ms":1764072000500,"session":"s1-0a1b2c"}],"running_tools":0,"usage":{"total_tokens":42,"input_tokens":30,"output_tokens":12},"responses":1,"last_seq":17,"dropped_audio_bytes":0}"#;

    #[test]
    fn status_round_trips() {
        let st: SessionStatus = serde_json::from_str(STATUS).unwrap();
        assert_eq!(st.pending_approvals[0].expires_ms, Some(1_764_072_060_000));
        assert_eq!(st.usage.total_tokens, 42);
        assert_eq!(serde_json::to_string(&st).unwrap(), STATUS);
    }

    #[test]
    fn an_approval_without_a_deadline_omits_it() {
        let p = PendingApproval {
            call_id: "c".into(),
            tool: "calc.add".into(),
            agent: "a".into(),
            arguments: "{}".into(),
            expires_ms: None,
            since_ms: 1,
            session: None,
        };
        let text = serde_json::to_string(&p).unwrap();
        assert!(
            !text.contains("expires_ms") && !text.contains("session"),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<PendingApproval>(&text).unwrap(), p);
    }

    #[test]
    fn usage_fields_default_to_zero() {
        let u: Usage = serde_json::from_str(r#"{"total_tokens":5}"#).unwrap();
        assert_eq!(
            u,
            Usage {
                total_tokens: 5,
                ..Usage::default()
            }
        );
    }
}
