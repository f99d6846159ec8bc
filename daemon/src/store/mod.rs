//! The journal: an SQLite file (`<state_dir>/journal.sqlite3`) recording each
//! session, every tool call with the decision taken on it, every approval
//! decision and every result — the audit trail an operator reads with
//! `agentctl audit`.
//!
//! One OS thread owns the connection (SQLite writes are blocking I/O and must
//! stay off the async reactor); everyone else holds a cheap [`Journal`] handle
//! and sends it records. [`Journal::record`] resolves once the record is
//! committed, so a session can journal a decision *before* acting on it.
//! Writes that arrive together are committed in one transaction.
//!
//! The file runs in WAL mode with `synchronous = NORMAL`: a committed record
//! survives a daemon crash; a power cut may lose the last few. The schema
//! version lives in `PRAGMA user_version` and is migrated forward on open.

use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

/// Why the journal could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("journal {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("journal write failed: {0}")]
    Write(String),
    #[error("journal query failed: {0}")]
    Query(String),
    #[error("the journal is closed")]
    Closed,
}

/// Current schema version.
const SCHEMA_VERSION: i64 = 1;

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

/// Something worth remembering.
#[derive(Debug, Clone)]
pub enum Record {
    SessionStarted {
        session: String,
        agent: String,
        model: String,
    },
    SessionEnded {
        session: String,
        reason: String,
    },
    /// A tool call and what policy decided: `allow`, `ask`, `deny`, or why else.
    ToolCall {
        session: String,
        call_id: String,
        agent: String,
        tool: String,
        arguments: String,
        decision: String,
    },
    /// A decision on a pending call: by a person, by `always`, or by the timeout.
    Approval {
        session: String,
        call_id: String,
        approved: bool,
        always: bool,
        reason: String,
    },
    /// How a call ended and what the model was told.
    ToolResult {
        session: String,
        call_id: String,
        outcome: String,
        output: String,
    },
}

// Defined once, in the control API crate, because the API carries it.
pub use agentd_api::audit::{AuditApproval, AuditCall};

type Ack = oneshot::Sender<Result<(), StoreError>>;

enum Op {
    Write(Record, u64, Option<Ack>),
    Audit {
        session: Option<String>,
        limit: usize,
        reply: oneshot::Sender<Result<Vec<AuditCall>, StoreError>>,
    },
}

/// A handle to the journal; clone it freely.
#[derive(Clone)]
pub struct Journal {
    ops: std_mpsc::Sender<Op>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Journal")
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Journal {
    /// Open (creating and migrating as needed) the journal at `path`.
    pub fn open(path: &Path) -> Result<Journal, StoreError> {
        let open_err = |reason: String| StoreError::Open {
            path: path.to_path_buf(),
            reason,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| open_err(format!("cannot create its folder: {e}")))?;
        }
        let conn = Connection::open(path).map_err(|e| open_err(e.to_string()))?;
        // Tool arguments may be private: only the daemon's user reads the file.
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        Self::start(conn).map_err(|e| open_err(e.to_string()))
    }

    /// A journal in memory, for tests and for running without a state dir.
    pub fn in_memory() -> Result<Journal, StoreError> {
        let conn = Connection::open_in_memory().map_err(|e| StoreError::Open {
            path: PathBuf::from(":memory:"),
            reason: e.to_string(),
        })?;
        Self::start(conn).map_err(|e| StoreError::Open {
            path: PathBuf::from(":memory:"),
            reason: e.to_string(),
        })
    }

    fn start(conn: Connection) -> rusqlite::Result<Journal> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&conn)?;
        let (tx, rx) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("agentd-journal".into())
            .spawn(move || writer(conn, rx))
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Journal { ops: tx })
    }

    /// Write a record; resolves once it is committed.
    pub async fn record(&self, record: Record) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.ops
            .send(Op::Write(record, now_ms(), Some(tx)))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Write a record without waiting for the commit (for facts already acted on).
    pub fn record_later(&self, record: Record) {
        if self.ops.send(Op::Write(record, now_ms(), None)).is_err() {
            tracing::error!("journal is closed; a record was lost");
        }
    }

    /// Tool calls, newest first, optionally of one session.
    pub async fn audit(
        &self,
        session: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditCall>, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.ops
            .send(Op::Audit {
                session: session.map(str::to_string),
                limit,
                reply: tx,
            })
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version < 1 {
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA_V1} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))?;
    }
    Ok(())
}

fn writer(mut conn: Connection, ops: std_mpsc::Receiver<Op>) {
    while let Ok(first) = ops.recv() {
        // Everything already waiting goes into the same transaction.
        let mut batch = vec![first];
        while let Ok(op) = ops.try_recv() {
            batch.push(op);
        }
        let mut writes = Vec::new();
        for op in batch {
            match op {
                Op::Write(record, time, ack) => writes.push((record, time, ack)),
                Op::Audit {
                    session,
                    limit,
                    reply,
                } => {
                    // Commit what came before so the answer includes it.
                    commit(&mut conn, &mut writes);
                    let _ = reply.send(
                        audit(&conn, session.as_deref(), limit)
                            .map_err(|e| StoreError::Query(e.to_string())),
                    );
                }
            }
        }
        commit(&mut conn, &mut writes);
    }
}

fn commit(conn: &mut Connection, writes: &mut Vec<(Record, u64, Option<Ack>)>) {
    if writes.is_empty() {
        return;
    }
    let result = (|| -> rusqlite::Result<()> {
        let tx = conn.transaction()?;
        for (record, time, _) in writes.iter() {
            apply(&tx, record, *time)?;
        }
        tx.commit()
    })();
    if let Err(e) = &result {
        tracing::error!(error = %e, records = writes.len(), "journal write failed");
    }
    for (_, _, ack) in writes.drain(..) {
        if let Some(ack) = ack {
            let _ = ack.send(
                result
                    .as_ref()
                    .map(|_| ())
                    .map_err(|e| StoreError::Write(e.to_string())),
            );
        }
    }
}

fn apply(tx: &rusqlite::Transaction<'_>, record: &Record, time: u64) -> rusqlite::Result<()> {
    let time = time as i64;
    match record {
        Record::SessionStarted {
            session,
            agent,
            model,
        } => {
            tx.execute(
                "INSERT OR REPLACE INTO sessions (id, agent, model, started_ms) VALUES (?1, ?2, ?3, ?4)",
                params![session, agent, model, time],
            )?;
        }
        Record::SessionEnded { session, reason } => {
            tx.execute(
                "UPDATE sessions SET ended_ms = ?2, end_reason = ?3 WHERE id = ?1",
                params![session, time, reason],
            )?;
        }
        Record::ToolCall {
            session,
            call_id,
            agent,
            tool,
            arguments,
            decision,
        } => {
            tx.execute(
                "INSERT OR REPLACE INTO tool_calls (session, call_id, agent, tool, arguments, decision, decided_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![session, call_id, agent, tool, arguments, decision, time],
            )?;
        }
        Record::Approval {
            session,
            call_id,
            approved,
            always,
            reason,
        } => {
            tx.execute(
                "INSERT INTO approvals (session, call_id, approved, always, reason, time_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![session, call_id, approved, always, reason, time],
            )?;
        }
        Record::ToolResult {
            session,
            call_id,
            outcome,
            output,
        } => {
            tx.execute(
                "UPDATE tool_calls SET outcome = ?3, output = ?4, ended_ms = ?5 WHERE session = ?1 AND call_id = ?2",
                params![session, call_id, outcome, output, time],
            )?;
        }
    }
    Ok(())
}

fn audit(
    conn: &Connection,
    session: Option<&str>,
    limit: usize,
) -> rusqlite::Result<Vec<AuditCall>> {
    let mut stmt = conn.prepare(
        "SELECT session, call_id, agent, tool, arguments, decision, decided_ms, outcome, output, ended_ms
         FROM tool_calls WHERE (?1 IS NULL OR session = ?1)
         ORDER BY decided_ms DESC, rowid DESC LIMIT ?2",
    )?;
    let mut calls: Vec<AuditCall> = stmt
        .query_map(params![session, limit as i64], |r| {
            Ok(AuditCall {
                session: r.get(0)?,
                call_id: r.get(1)?,
                agent: r.get(2)?,
                tool: r.get(3)?,
                arguments: r.get(4)?,
                decision: r.get(5)?,
                decided_ms: r.get::<_, i64>(6)? as u64,
                approvals: Vec::new(),
                outcome: r.get(7)?,
                output: r.get(8)?,
                ended_ms: r.get::<_, Option<i64>>(9)?.map(|t| t as u64),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut approvals = conn.prepare(
        "SELECT approved, always, reason, time_ms FROM approvals WHERE session = ?1 AND call_id = ?2 ORDER BY rowid",
    )?;
    for call in &mut calls {
        call.approvals = approvals
            .query_map(params![call.session, call.call_id], |r| {
                Ok(AuditApproval {
                    approved: r.get(0)?,
                    always: r.get(1)?,
                    reason: r.get(2)?,
                    time_ms: r.get::<_, i64>(3)? as u64,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(calls)
}

/// The journal's schema version in the file at `path`, if it exists (for diagnostics).
pub fn schema_version(path: &Path) -> Option<i64> {
    let conn = Connection::open(path).ok()?;
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .optional()
        .ok()?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(session: &str, call_id: &str, decision: &str) -> Record {
        Record::ToolCall {
            session: session.into(),
            call_id: call_id.into(),
            agent: "a".into(),
            tool: "calc.add".into(),
            arguments: "{}".into(),
            decision: decision.into(),
        }
    }

    #[tokio::test]
    async fn records_a_call_its_approvals_and_its_result() {
        let j = Journal::in_memory().unwrap();
        j.record(Record::SessionStarted {
            session: "s1".into(),
            agent: "a".into(),
            model: "default".into(),
        })
        .await
        .unwrap();
        j.record(call("s1", "c1", "ask")).await.unwrap();
        j.record(Record::Approval {
            session: "s1".into(),
            call_id: "c1".into(),
            approved: true,
            always: false,
            reason: "operator".into(),
        })
        .await
        .unwrap();
        j.record_later(Record::ToolResult {
            session: "s1".into(),
            call_id: "c1".into(),
            outcome: "completed".into(),
            output: "5".into(),
        });
        j.record(call("s2", "c9", "allow")).await.unwrap();
        let all = j.audit(None, 10).await.unwrap();
        assert_eq!(all.len(), 2);
        let s1 = j.audit(Some("s1"), 10).await.unwrap();
        assert_eq!(s1.len(), 1);
        let c = &s1[0];
        assert_eq!(
            (
                c.decision.as_str(),
                c.outcome.as_deref(),
                c.output.as_deref()
            ),
            ("ask", Some("completed"), Some("5"))
        );
        assert_eq!(c.approvals.len(), 1);
        assert!(c.approvals[0].approved);
        assert_eq!(c.approvals[0].reason, "operator");
    }

    #[tokio::test]
    async fn a_file_journal_survives_reopening_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("journal.sqlite3");
        {
            let j = Journal::open(&path).unwrap();
            j.record(call("s1", "c1", "allow")).await.unwrap();
        }
        assert_eq!(schema_version(&path), Some(SCHEMA_VERSION));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.audit(Some("s1"), 10).await.unwrap().len(), 1);
    }

    #[test]
    fn an_unopenable_path_is_a_clear_error() {
        let err =
            Journal::open(Path::new("/proc/agentd-cannot-be-here/journal.sqlite3")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("journal /proc/agentd-cannot-be-here/journal.sqlite3:"),
            "{err}"
        );
    }
}
