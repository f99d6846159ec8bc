//! The writer: the one connection that changes the journal, on its own OS
//! thread (SQLite writes are blocking I/O).
//!
//! Records that arrive together are committed in one transaction, and each
//! waiting [`super::Journal::record`] is answered once its transaction has
//! committed (or failed). A [`WriteOp::Flush`] is answered once everything
//! sent before it is committed: reads use it to see every record handed to the
//! journal before them, without the read itself ever running on this thread.

use std::sync::mpsc as std_mpsc;

use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use super::{Record, StoreError};

pub(super) type Ack = oneshot::Sender<Result<(), StoreError>>;

/// What the writer thread is asked to do.
pub(super) enum WriteOp {
    /// A record, its time (ms since the epoch), and who waits for the commit.
    Write(Record, u64, Option<Ack>),
    /// Answer once everything sent before is committed.
    Flush(oneshot::Sender<()>),
}

/// The writer thread's loop; ends when every handle is gone.
pub(super) fn run(mut conn: Connection, ops: std_mpsc::Receiver<WriteOp>) {
    while let Ok(first) = ops.recv() {
        // Everything already waiting goes into the same transaction.
        let mut batch = vec![first];
        while let Ok(op) = ops.try_recv() {
            batch.push(op);
        }
        let mut writes = Vec::new();
        for op in batch {
            match op {
                WriteOp::Write(record, time, ack) => writes.push((record, time, ack)),
                WriteOp::Flush(done) => {
                    commit(&mut conn, &mut writes);
                    let _ = done.send(());
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
