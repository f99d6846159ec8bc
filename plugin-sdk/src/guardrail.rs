//! What a guardrail judges and what it answers.

/// What a guardrail is asked to judge; mirrors the WIT `subject` variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// Text the model produced (transcript or text output), accumulated so far.
    OutputText(String),
    /// Text a user sent or said.
    InputText(String),
    /// A proposed tool call, before it runs.
    ToolCall {
        /// The tool's name.
        tool: String,
        /// Its arguments, as the JSON text the model produced.
        arguments_json: String,
    },
}

impl Subject {
    /// The text to inspect: the output or input text, or a tool call's arguments JSON.
    pub fn text(&self) -> &str {
        match self {
            Subject::OutputText(text) | Subject::InputText(text) => text,
            Subject::ToolCall { arguments_json, .. } => arguments_json,
        }
    }
}

/// A guardrail's answer: pass, or trip (stop the text or the call) with a reason.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// True stops the text or the call.
    pub tripwire: bool,
    /// Why, for people and (for tool calls) for the model.
    pub reason: Option<String>,
}

impl Verdict {
    /// Let the subject through.
    pub fn pass() -> Self {
        Self {
            tripwire: false,
            reason: None,
        }
    }

    /// Stop the subject, saying why.
    pub fn trip(reason: impl Into<String>) -> Self {
        Self {
            tripwire: true,
            reason: Some(reason.into()),
        }
    }

    /// Whether this verdict stops the subject.
    pub fn is_tripped(&self) -> bool {
        self.tripwire
    }
}

/// What a `#[guardrail]` function may return: a [`Verdict`], or a
/// `Result<Verdict, E>` whose error says the guardrail could not judge. The
/// host treats an error as a trip (fails closed) and logs it (contract 0.2).
pub trait IntoVerdict {
    /// The verdict, or the error text.
    fn into_verdict(self) -> Result<Verdict, String>;
}

impl IntoVerdict for Verdict {
    fn into_verdict(self) -> Result<Verdict, String> {
        Ok(self)
    }
}

impl<E: std::fmt::Display> IntoVerdict for Result<Verdict, E> {
    fn into_verdict(self) -> Result<Verdict, String> {
        self.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_text() {
        assert_eq!(Subject::OutputText("out".into()).text(), "out");
        assert_eq!(Subject::InputText("in".into()).text(), "in");
        let call = Subject::ToolCall {
            tool: "add".into(),
            arguments_json: r#"{"a":1}"#.into(),
        };
        assert_eq!(call.text(), r#"{"a":1}"#);
    }

    #[test]
    fn verdicts() {
        assert_eq!(
            Verdict::pass(),
            Verdict {
                tripwire: false,
                reason: None
            }
        );
        let trip = Verdict::trip("no");
        assert!(trip.is_tripped());
        assert_eq!(trip.reason.as_deref(), Some("no"));
    }
}
