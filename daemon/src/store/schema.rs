//! The journal's tables and their migrations.
//!
//! The schema version lives in `PRAGMA user_version`; [`migrate`] brings an
//! older file forward in one transaction on open (by the writer connection,
//! before the reader connection exists). A version newer than this build's is
//! left alone.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

/// Current schema version.
pub(super) const SCHEMA_VERSION: i64 = 1;

const SCHEMA_V1: &str = "
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

pub(super) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version < 1 {
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA_V1} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))?;
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
