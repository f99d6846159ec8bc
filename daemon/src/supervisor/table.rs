//! The session table: every live session and the most recent ended ones
//! (still readable: events, history), in start order.
//!
//! Ended sessions are queued in the order they ended, so dropping the oldest
//! beyond [`KEPT_CLOSED_SESSIONS`] is O(1) per session, whatever the number of
//! live ones.

use std::collections::{BTreeMap, HashSet, VecDeque};

use crate::session::SessionHandle;

/// How many ended sessions stay readable before the oldest go.
pub const KEPT_CLOSED_SESSIONS: usize = 256;

/// Sessions by id, with the order they started in.
#[derive(Default)]
pub struct SessionTable {
    sessions: BTreeMap<String, (u64, SessionHandle)>,
    /// Ended sessions still kept, oldest first.
    ended: VecDeque<String>,
    /// Sessions that ended before they were registered (a start raced its end).
    ended_early: HashSet<String>,
    started: u64,
    ids: u64,
}

impl SessionTable {
    /// A fresh session id: a counter (for people) and a random part (so ids
    /// of a restarted daemon do not repeat).
    pub fn next_id(&mut self) -> String {
        self.ids += 1;
        format!("s{}-{:06x}", self.ids, rand::random::<u32>() & 0xff_ffff)
    }

    /// Add a started session.
    pub fn insert(&mut self, handle: SessionHandle) {
        self.started += 1;
        let id = handle.id.to_string();
        self.sessions.insert(id.clone(), (self.started, handle));
        if self.ended_early.remove(&id) {
            self.ended(&id);
        }
    }

    /// `id` ended: it stays readable until [`KEPT_CLOSED_SESSIONS`] newer ones ended.
    pub fn ended(&mut self, id: &str) {
        if !self.sessions.contains_key(id) {
            self.ended_early.insert(id.to_string());
            return;
        }
        if self.ended.iter().any(|e| e == id) {
            return;
        }
        self.ended.push_back(id.to_string());
        while self.ended.len() > KEPT_CLOSED_SESSIONS {
            if let Some(old) = self.ended.pop_front() {
                self.sessions.remove(&old);
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<SessionHandle> {
        self.sessions.get(id).map(|(_, h)| h.clone())
    }

    /// All sessions, oldest first.
    pub fn all(&self) -> Vec<SessionHandle> {
        let mut all: Vec<_> = self.sessions.values().collect();
        all.sort_by_key(|(n, _)| *n);
        all.into_iter().map(|(_, h)| h.clone()).collect()
    }

    /// Sessions still running.
    pub fn live(&self) -> usize {
        self.sessions.len() - self.ended.len()
    }
}
