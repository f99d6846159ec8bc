//! Scenario mode of the offline model: play a script of server events and
//! wait for expected client events, so a test (or a user reproducing a bug)
//! can replay an exact exchange.
//!
//! The format is the one of the peer benchmark's `mock_realtime_server.py`
//! (`shared/bench/peer-python/scenarios/*.json`), so agentd runs the very
//! scenarios the reference client was captured on:
//!
//! ```text
//! {"name", "vars": {..}, "timeout_s", "expect_timeout_s", "steps": [STEP, ..]}
//! STEP := {"emit": EVENT, "mark"?}                 send EVENT ({{var}}, "{{#var}}" raw JSON,
//!                                                  {"$pcm16_b64": N}; event_id filled in)
//!       | {"expect": TYPE, "match": {"a.b": v}?, "timeout_s"?, "optional"?,
//!          "capture": {"var": "a.b"}?, "defaults": {..}?, "measure"?}
//!                                                  wait for and consume the first queued
//!                                                  client event that matches (order-tolerant)
//!       | {"repeat": N | "{{var}}", "var"?, "steps", "until"?}
//!       | {"foreach": [..], "var"?, "steps", "until"?}
//!       | {"sleep": seconds | "{{var}}"}
//!       | {"close": {"code", "reason"}?}
//! ```
//!
//! agentd adds two things: `{"drop": true}` ends the TCP connection with no
//! close handshake (a dead peer, for reconnect tests), and
//! `"connections": [[STEP, ..], ..]` in place of `"steps"` gives connection
//! *n* its own script (the last one plays for any later connection). A `.jsonl`
//! file is one step per line. `mark`/`measure` are accepted and ignored:
//! timing belongs to benchmarks, not to this server.
//!
//! A failed expect sends an `error` event with code `scenario_failed` and
//! closes with 1011; every connection's outcome and every client event
//! received are kept for the caller ([`ScenarioServer::finished`],
//! [`ScenarioServer::client_events`]).
//!
//! The module is two halves: `script` (the grammar: loading, checking and
//! rendering steps) and `server` (the loopback server that plays them and
//! matches what it receives).

mod script;
mod server;

pub use script::{Scenario, ScenarioError};
pub use server::{ClientRecord, ConnectionResult, ScenarioServer};
