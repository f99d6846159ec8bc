//! The journal's tables and their migrations.
//!
//! The schema version lives in `PRAGMA user_version`; [`migrate`] brings an
//! older file forward one version at a time, each step in its own
//! transaction, on open (by the writer connection, before the reader
//! connection exists). A version newer than this build's is refused rather
//! than written to with the wrong idea of its tables.
//!
//! - v1: sessions, tool calls with their decision and outcome, approvals.
//! - v2: who decided an approval (`decided_by`, v1's `reason`), the
//!   operator's `reason` and the decision's latency; the plugin content hash
//!   of each call; the final form of each conversation item; guardrail
//!   trips; reloads with the config hash; answers remembered per agent.
//! - v3: phone and browser calls (`calls`): channel, caller, callee, agent,
//!   session, and how the call ended.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

/// Current schema version.
pub(super) const SCHEMA_VERSION: i64 = 3;

/// Version 1, as released: kept verbatim, since a v1 file is what
/// [`MIGRATE_V2`] starts from (and the migration test writes one with it).
pub(super) const SCHEMA_V1: &str = "
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    agent       TEXT NOT NULL,
    model       TEXT NOT NULL,
    started_ms  INTEGER NOT NULL,
    ended_ms    INTEGER,
    end_reason  TEXT
);
CREATE TABLE tool_calls (
    session     TEXT NOT NULL,
    call_id     TEXT NOT NULL,
    agent       TEXT NOT NULL,
    tool        TEXT NOT NULL,
    arguments   TEXT NOT NULL,
    decision    TEXT NOT NULL,
    decided_ms  INTEGER NOT NULL,
    outcome     TEXT,
    output      TEXT,
    ended_ms    INTEGER,
    PRIMARY KEY (session, call_id)
);
CREATE TABLE approvals (
    session     TEXT NOT NULL,
    call_id     TEXT NOT NULL,
    approved    INTEGER NOT NULL,
    always      INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    time_ms     INTEGER NOT NULL
);
CREATE INDEX approvals_by_call ON approvals (session, call_id);
";

/// v1 → v2.
const MIGRATE_V2: &str = "
ALTER TABLE approvals RENAME COLUMN reason TO decided_by;
ALTER TABLE approvals ADD COLUMN reason TEXT;
ALTER TABLE approvals ADD COLUMN latency_ms INTEGER;
ALTER TABLE tool_calls ADD COLUMN plugin_hash TEXT;
CREATE INDEX tool_calls_by_time ON tool_calls (decided_ms);
CREATE INDEX sessions_by_end ON sessions (ended_ms);
CREATE TABLE items (
    session     TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    role        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    content     TEXT NOT NULL,
    time_ms     INTEGER NOT NULL,
    PRIMARY KEY (session, item_id)
);
CREATE TABLE guardrail_trips (
    session     TEXT NOT NULL,
    direction   TEXT NOT NULL,
    guardrails  TEXT NOT NULL,
    message     TEXT NOT NULL,
    time_ms     INTEGER NOT NULL
);
CREATE INDEX guardrail_trips_by_session ON guardrail_trips (session);
CREATE TABLE reloads (
    time_ms     INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE TABLE remembered (
    agent       TEXT NOT NULL,
    tool        TEXT NOT NULL,
    policy_hash TEXT NOT NULL,
    approve     INTEGER NOT NULL,
    decided_by  TEXT NOT NULL,
    time_ms     INTEGER NOT NULL,
    PRIMARY KEY (agent, tool)
);
";

/// v2 → v3: calls.
pub(super) const MIGRATE_V3: &str = "
CREATE TABLE IF NOT EXISTS calls (
    call_id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    caller TEXT,
    callee TEXT,
    agent TEXT,
    session TEXT,
    outcome TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    ended_ms INTEGER
);
";

/// Why a file could not be brought to this build's schema.
fn too_new(version: i64) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
        Some(format!(
            "its schema version is {version}, newer than this agentd's {SCHEMA_VERSION}; use a newer agentd or another state_dir"
        )),
    )
}

pub(super) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(too_new(version));
    }
    let steps: [(i64, &str); 3] = [(1, SCHEMA_V1), (2, MIGRATE_V2), (3, MIGRATE_V3)];
    for (to, sql) in steps {
        if version < to {
            conn.execute_batch(&format!("BEGIN; {sql} PRAGMA user_version = {to}; COMMIT;"))?;
        }
    }
    Ok(())
}

/// The journal's schema version in the file at `path`, if it exists (for diagnostics).
pub fn schema_version(path: &Path) -> Option<i64> {
    let conn = Connection::open(path).ok()?;
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .optional()
        .ok()?
}
