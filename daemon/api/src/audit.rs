//! The journal's view of tool calls, as `GET /v1/audit` returns them: for
//! each call the decision taken on it, every approval decision, and how it
//! ended. Rows come newest first; a call still running has no outcome yet.
//! Also the journal's other records: a closed session's conversation
//! (`GET /v1/journal/sessions/{id}/history`) and the answers remembered per
//! agent (`GET /v1/approvals/remembered`).

use serde::{Deserialize, Serialize};

/// One tool call as the journal knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditCall {
    /// The session that made it.
    pub session: String,
    /// The model's id for the call.
    pub call_id: String,
    /// The agent that called it.
    pub agent: String,
    /// `plugin.tool`.
    pub tool: String,
    /// The arguments as the model sent them (a JSON text).
    pub arguments: String,
    /// `allow`, `ask` or `deny`, and why, e.g. `ask (policy rule 1)`;
    /// `refused (…)` when the arguments did not match the tool's schema.
    pub decision: String,
    /// Hex SHA-256 of the plugin component that ran (or would have run) it;
    /// absent in journals written before v2.
    #[serde(default)]
    pub plugin_hash: Option<String>,
    /// When the decision was committed (ms since the Unix epoch).
    pub decided_ms: u64,
    /// Decisions of people (or of the timeout), in order.
    pub approvals: Vec<AuditApproval>,
    /// `completed`, `failed` or `rejected`; absent while it runs.
    pub outcome: Option<String>,
    /// What the model was told.
    pub output: Option<String>,
    /// When it ended (ms since the Unix epoch).
    pub ended_ms: Option<u64>,
}

/// One approval decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditApproval {
    /// Approved (true) or rejected.
    pub approved: bool,
    /// Whether it was given for the rest of the session.
    pub always: bool,
    /// Who decided: `uid:1000 (alice)`, `token:ops`, `timeout`, `policy`
    /// (an answer remembered for the agent).
    pub decided_by: String,
    /// The reason the person gave (`--reason`), if any.
    #[serde(default)]
    pub reason: Option<String>,
    /// How long the call had waited for this decision (ms); absent before v2.
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// When (ms since the Unix epoch).
    pub time_ms: u64,
}

/// One item of a session's conversation in its final form, from the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct JournalItem {
    /// The item's id.
    pub item_id: String,
    /// `user`, `assistant`, `system`, or `tool` for function calls and outputs.
    pub role: String,
    /// `message`, `function_call` or `function_call_output`.
    pub kind: String,
    /// The item as the session last knew it (a JSON text).
    pub content: String,
    /// When it was recorded (ms since the Unix epoch).
    pub time_ms: u64,
}

/// A session's record in the journal, with its conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct JournalSession {
    /// The session id.
    pub session: String,
    /// The agent it started with.
    pub agent: String,
    /// Its model.
    pub model: String,
    /// When it started and ended (ms since the Unix epoch).
    pub started_ms: u64,
    /// Absent if the daemon stopped before the session ended.
    pub ended_ms: Option<u64>,
    /// Why it ended.
    pub end_reason: Option<String>,
    /// Its items, in conversation order.
    pub items: Vec<JournalItem>,
    /// Guardrail trips during it, oldest first: `(direction, guardrails, message)`.
    pub guardrail_trips: Vec<GuardrailTrip>,
}

/// A guardrail that tripped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GuardrailTrip {
    /// `input`, `output` or `tool_call`.
    pub direction: String,
    /// The guardrails that tripped, comma-separated.
    pub guardrails: String,
    /// What they judged.
    pub message: String,
    /// When (ms since the Unix epoch).
    pub time_ms: u64,
}

/// An approval remembered for an agent (`agentctl approve --always --remember agent`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RememberedAnswer {
    /// The agent it applies to, in every session.
    pub agent: String,
    /// `plugin.tool`.
    pub tool: String,
    /// Approve (true) or reject.
    pub approve: bool,
    /// Who gave it.
    pub decided_by: String,
    /// When (ms since the Unix epoch).
    pub time_ms: u64,
    /// Whether the agent's policy is still the one it was given under; a
    /// stale answer is never used (`agentctl approvals forget` removes it).
    pub current: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As `GET /v1/audit` wrote it: an approved call, and one still running.
    const AUDIT: &str = r#"[{"session":"s1-0a1b2c","call_id":"call_7","agent":"concierge","tool":"calc.multiply","arguments":"{\"a\":4,\"b\":5}","decision":"ask (policy rule 1)","plugin_hash":"ab12","decided_ms":1764072000000,"approvals":[{"approved":true,"always":false,"decided_by":"uid:1000 (alice)","reason":"checked the invoice","latency_ms":1000,"time_ms":1764072001000}],"outcome":"completed","output":"20","ended_ms":1764072001010},{"session":"s1-0a1b2c","call_id":"call_8","agent":"concierge","tool":"calc.add","arguments":"{}","decision":"allow (policy default)","plugin_hash":null,"decided_ms":1764072002000,"approvals":[],"outcome":null,"output":null,"ended_ms":null}]"#;

    #[test]
    fn audit_rows_round_trip() {
        let calls: Vec<AuditCall> = serde_json::from_str(AUDIT).unwrap();
        assert!(calls[0].approvals[0].approved);
        assert_eq!(calls[1].outcome, None);
        assert_eq!(serde_json::to_string(&calls).unwrap(), AUDIT);
    }
}
