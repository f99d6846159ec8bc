//! The journal's view of tool calls, as `GET /v1/audit` returns them: for
//! each call the decision taken on it, every approval decision, and how it
//! ended. Rows come newest first; a call still running has no outcome yet.

use serde::{Deserialize, Serialize};

/// One tool call as the journal knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// `allow`, `ask` or `deny`, and why, e.g. `ask (policy)`.
    pub decision: String,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditApproval {
    /// Approved (true) or rejected.
    pub approved: bool,
    /// Whether it was given for the rest of the session.
    pub always: bool,
    /// Who decided: `operator`, `timeout`, …
    pub reason: String,
    /// When (ms since the Unix epoch).
    pub time_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As `GET /v1/audit` wrote it: an approved call, and one still running.
    const AUDIT: &str = r#"[{"session":"s1-0a1b2c","call_id":"call_7","agent":"concierge","tool":"calc.multiply","arguments":"{\"a\":4,\"b\":5}","decision":"ask (policy)","decided_ms":1764072000000,"approvals":[{"approved":true,"always":false,"reason":"operator","time_ms":1764072001000}],"outcome":"completed","output":"20","ended_ms":1764072001010},{"session":"s1-0a1b2c","call_id":"call_8","agent":"concierge","tool":"calc.add","arguments":"{}","decision":"allow (policy)","decided_ms":1764072002000,"approvals":[],"outcome":null,"output":null,"ended_ms":null}]"#;

    #[test]
    fn audit_rows_round_trip() {
        let calls: Vec<AuditCall> = serde_json::from_str(AUDIT).unwrap();
        assert!(calls[0].approvals[0].approved);
        assert_eq!(calls[1].outcome, None);
        assert_eq!(serde_json::to_string(&calls).unwrap(), AUDIT);
    }
}
