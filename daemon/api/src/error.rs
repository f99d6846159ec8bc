//! The one JSON shape of every error reply: `{"error": {"code", "message"}}`,
//! sent with a matching HTTP status. `code` is a stable snake_case word a
//! script can match on; `message` is for people and names what was wrong.

use serde::{Deserialize, Serialize};

/// Every error response: `{"error": {"code": …, "message": …}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ErrorDetail {
    /// A stable snake_case word, e.g. `not_found`, `session_ended`.
    pub code: String,
    /// What was wrong and where, for people.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_round_trip() {
        let text = r#"{"error":{"code":"not_found","message":"no session `s9`"}}"#;
        let body: ErrorBody = serde_json::from_str(text).unwrap();
        assert_eq!(body.error.code, "not_found");
        assert_eq!(serde_json::to_string(&body).unwrap(), text);
    }
}
