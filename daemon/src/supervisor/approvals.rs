//! The daemon-wide index of calls waiting for a person: `call_id` → the
//! executor holding it, so a decision finds its session in O(1) and goes
//! straight to that session's executor.
//!
//! Executors report each call as it starts and stops waiting
//! ([`crate::session::Notice`]); a session's end drops whatever it left. Call
//! ids come from the model and are unique within a session, not necessarily
//! across sessions: an id pending in two sessions is ambiguous and the caller
//! is asked to name the session.

use std::collections::HashMap;
use std::sync::Arc;

use crate::session::ExecutorHandle;

/// Why no executor could be picked for a call id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("no session has a pending tool call `{0}`")]
    Unknown(String),
    #[error("tool call `{call_id}` is pending in several sessions ({}); name the session", sessions.join(", "))]
    Ambiguous {
        call_id: String,
        sessions: Vec<String>,
    },
}

/// Pending calls by id.
#[derive(Default)]
pub struct ApprovalIndex {
    by_call: HashMap<String, Vec<(Arc<str>, ExecutorHandle)>>,
}

impl ApprovalIndex {
    /// `call_id` waits in `session`, decided through `executor`.
    pub fn pending(&mut self, call_id: String, session: Arc<str>, executor: ExecutorHandle) {
        let holders = self.by_call.entry(call_id).or_default();
        holders.retain(|(s, _)| *s != session);
        holders.push((session, executor));
    }

    /// `call_id` no longer waits in `session`.
    pub fn settled(&mut self, call_id: &str, session: &str) {
        if let Some(holders) = self.by_call.get_mut(call_id) {
            holders.retain(|(s, _)| &**s != session);
            if holders.is_empty() {
                self.by_call.remove(call_id);
            }
        }
    }

    /// `session` ended: nothing of it waits any more.
    pub fn session_ended(&mut self, session: &str) {
        self.by_call.retain(|_, holders| {
            holders.retain(|(s, _)| &**s != session);
            !holders.is_empty()
        });
    }

    /// The executor holding `call_id`.
    pub fn find(&self, call_id: &str) -> Result<ExecutorHandle, LookupError> {
        match self.by_call.get(call_id).map(Vec::as_slice) {
            None | Some([]) => Err(LookupError::Unknown(call_id.to_string())),
            Some([(_, executor)]) => Ok(executor.clone()),
            Some(many) => Err(LookupError::Ambiguous {
                call_id: call_id.to_string(),
                sessions: many.iter().map(|(s, _)| s.to_string()).collect(),
            }),
        }
    }

    /// The executors holding at least one pending call, one per session, so
    /// the daemon-wide list asks only those (and none of the idle sessions).
    pub fn holders(&self) -> Vec<ExecutorHandle> {
        let mut seen = std::collections::HashSet::new();
        self.by_call
            .values()
            .flatten()
            .filter(|(s, _)| seen.insert(s.clone()))
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// How many calls wait, daemon-wide.
    pub fn len(&self) -> usize {
        self.by_call.values().map(Vec::len).sum()
    }

    /// Whether no call waits.
    pub fn is_empty(&self) -> bool {
        self.by_call.is_empty()
    }
}
