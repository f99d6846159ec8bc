//! Guardrails as the session runs them: off the session task, each verdict
//! coming back as a value.
//!
//! - **Input** text passes the agent's input guardrails in [`input_pipeline`],
//!   one message at a time so messages reach the model in the order they were
//!   sent; a trip keeps the message from the model.
//! - **Output** guardrails run on each item's transcript every
//!   `debounce_text_length` characters ([`Transcripts`] keeps the running text
//!   and its length, so the check is linear in what arrived); a trip cancels
//!   the response, at most once per response.
//! - **Input transcripts** (committed audio) are checked when they complete; a
//!   trip cancels the reply and deletes the item.
//! - Tool guardrails are the executor's ([`super::executor`]).
//!
//! A guardrail that fails (traps, times out) is logged and skipped.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::events::{Direction, EventBus, SessionEvent};
use crate::catalog::AgentGuardrail;
use crate::plugin::{CallInfo, GuardrailSubject};
use crate::realtime::client::ModelCommand;
use crate::realtime::protocol::ContentPart;

/// One guardrail that tripped, and why.
#[derive(Debug, Clone)]
pub(super) struct Trip {
    pub guardrail: String,
    pub reason: Option<String>,
}

/// Ask each guardrail in turn; ones that fail are logged and skipped.
pub(super) async fn check_all(
    guardrails: &[AgentGuardrail],
    subject: &GuardrailSubject,
    info: &CallInfo,
) -> Vec<Trip> {
    let mut tripped = Vec::new();
    for g in guardrails {
        match g.plugin.check_guardrail(&g.name, subject, info).await {
            Ok(v) if v.tripwire => tripped.push(Trip {
                guardrail: g.qualified.clone(),
                reason: v.reason,
            }),
            Ok(_) => {}
            Err(e) => tracing::warn!(
                session = %info.session_id,
                guardrail = %g.qualified,
                call_id = %info.call_id,
                error = %e,
                "guardrail failed; skipped"
            ),
        }
    }
    tripped
}

/// The qualified names of the guardrails that tripped.
pub(super) fn names(trips: &[Trip]) -> Vec<String> {
    trips.iter().map(|t| t.guardrail.clone()).collect()
}

/// What the model is told when tool guardrails block a call: their reasons.
pub(super) fn blocked_message(trips: &[Trip]) -> String {
    let reasons: Vec<String> = trips
        .iter()
        .map(|t| match &t.reason {
            Some(r) => format!("{}: {r}", t.guardrail),
            None => t.guardrail.clone(),
        })
        .collect();
    format!("Tool call blocked by guardrail {}", reasons.join("; "))
}

/// One user message on its way to the model, with the guardrails it must pass.
pub(super) struct Input {
    pub content: Vec<ContentPart>,
    pub guardrails: Vec<AgentGuardrail>,
    pub info: CallInfo,
}

/// Runs input guardrails off the session task, one message at a time so
/// messages reach the model in the order they were sent.
pub(super) async fn input_pipeline(
    session: Arc<str>,
    bus: Arc<EventBus>,
    to_model: mpsc::UnboundedSender<ModelCommand>,
    mut inputs: mpsc::UnboundedReceiver<Input>,
) {
    while let Some(input) = inputs.recv().await {
        if !input.guardrails.is_empty() {
            let text = input_text(&input.content);
            let subject = GuardrailSubject::InputText(text.clone());
            let tripped = check_all(&input.guardrails, &subject, &input.info).await;
            if !tripped.is_empty() {
                tracing::info!(session = %session, guardrails = ?names(&tripped), "input guardrail tripped; message not sent");
                bus.publish(SessionEvent::GuardrailTripped {
                    direction: Direction::Input,
                    guardrails: names(&tripped),
                    message: text,
                });
                continue;
            }
        }
        let _ = to_model.send(ModelCommand::UserInput(input.content));
    }
}

/// The text parts of a user message, joined.
fn input_text(content: &[ContentPart]) -> String {
    content
        .iter()
        .filter_map(|p| match p {
            ContentPart::InputText { text } => text.as_deref(),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a guardrail check was for.
pub(super) enum Purpose {
    /// Output text of a response: trip cancels it.
    Output { response_id: String },
    /// A finished input-audio transcript: trip cancels the reply and drops the item.
    InputTranscript { item_id: String },
}

/// A finished check.
pub(super) struct Verdict {
    pub purpose: Purpose,
    pub text: String,
    pub tripped: Vec<Trip>,
}

/// The session's guardrail checks in flight.
#[derive(Default)]
pub(super) struct Checks {
    tasks: JoinSet<Verdict>,
}

impl Checks {
    /// Run `guardrails` on `text` off the session task; the verdict comes back from [`Checks::next`].
    pub fn spawn(
        &mut self,
        guardrails: Vec<AgentGuardrail>,
        subject: GuardrailSubject,
        text: String,
        purpose: Purpose,
        info: CallInfo,
    ) {
        if guardrails.is_empty() {
            return;
        }
        self.tasks.spawn(async move {
            let tripped = check_all(&guardrails, &subject, &info).await;
            Verdict {
                purpose,
                text,
                tripped,
            }
        });
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The next verdict (pending forever when none is in flight).
    pub async fn next(&mut self) -> Option<Result<Verdict, tokio::task::JoinError>> {
        self.tasks.join_next().await
    }

    pub async fn shutdown(&mut self) {
        self.tasks.shutdown().await;
    }
}

/// One item's transcript in the current response.
#[derive(Default)]
struct Transcript {
    text: String,
    /// `text.chars().count()`, kept as it grows instead of recounted.
    chars: usize,
    /// Output-guardrail runs so far on this item.
    runs: usize,
}

/// Transcripts of the current response's items, for output guardrails.
#[derive(Default)]
pub(super) struct Transcripts {
    items: HashMap<String, Transcript>,
}

impl Transcripts {
    /// Append `delta` to `item_id`'s transcript. Returns the text so far, and
    /// whether it has crossed the next multiple of `debounce` characters (the
    /// output guardrails' turn).
    pub fn push(&mut self, item_id: &str, delta: &str, debounce: usize) -> (&str, bool) {
        let t = self.items.entry(item_id.to_string()).or_default();
        t.text.push_str(delta);
        t.chars += delta.chars().count();
        let due = t.chars >= (t.runs + 1) * debounce.max(1);
        if due {
            t.runs += 1;
        }
        (&t.text, due)
    }

    /// The response ended: the next one starts from nothing.
    pub fn clear(&mut self) {
        self.items.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guardrails_are_due_every_debounce_characters() {
        let mut t = Transcripts::default();
        let due: Vec<bool> = ["abcd", "é", "fgh", "ij", "k"]
            .iter()
            .map(|d| t.push("m1", d, 5).1)
            .collect();
        // 4, 5 (é is one character), 8, 10, 11 characters.
        assert_eq!(due, [false, true, false, true, false]);
        assert_eq!(t.push("m1", "", 5).0, "abcdéfghijk");
        // Items count separately; a new response starts over.
        assert!(!t.push("m2", "xy", 5).1);
        t.clear();
        assert_eq!(t.push("m1", "z", 5).0, "z");
    }

    #[test]
    fn blocked_message_names_each_guardrail_and_reason() {
        let trips = [
            Trip {
                guardrail: "a.x".into(),
                reason: Some("no".into()),
            },
            Trip {
                guardrail: "b.y".into(),
                reason: None,
            },
        ];
        assert_eq!(
            blocked_message(&trips),
            "Tool call blocked by guardrail a.x: no; b.y"
        );
        assert_eq!(names(&trips), ["a.x", "b.y"]);
    }
}
