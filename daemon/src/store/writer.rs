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

use super::{Pruned, Record, Retention, StoreError};

pub(super) type Ack = oneshot::Sender<Result<(), StoreError>>;

/// What the writer thread is asked to do.
pub(super) enum WriteOp {
    /// A record, its time (ms since the epoch), and who waits for the commit.
    Write(Record, u64, Option<Ack>),
    /// Answer once everything sent before is committed.
    Flush(oneshot::Sender<()>),
    /// Prune past the retention, in small transactions.
    Prune(Retention, oneshot::Sender<Result<Pruned, StoreError>>),
}

/// Sessions removed per pruning transaction: small, so records waiting on
/// the writer are committed between two of them.
const PRUNE_BATCH: i64 = 200;

/// The writer thread's loop; ends when every handle is gone.
pub(super) fn run(mut conn: Connection, ops: std_mpsc::Receiver<WriteOp>) {
    while let Ok(first) = ops.recv() {
        // Everything already waiting goes into the same transaction.
        let mut batch = vec![first];
        while let Ok(op) = ops.try_recv() {
            batch.push(op);
        }
        crate::metrics::metrics()
            .journal_queue
            .dec_by(batch.len() as i64);
        let mut writes = Vec::new();
        let mut prunes = Vec::new();
        for op in batch {
            match op {
                WriteOp::Write(record, time, ack) => writes.push((record, time, ack)),
                WriteOp::Flush(done) => {
                    commit(&mut conn, &mut writes);
                    let _ = done.send(());
                }
                WriteOp::Prune(retention, reply) => prunes.push((retention, reply)),
            }
        }
        commit(&mut conn, &mut writes);
        for (retention, reply) in prunes {
            let _ = reply.send(prune(&mut conn, retention, &ops));
        }
    }
}

fn commit(conn: &mut Connection, writes: &mut Vec<(Record, u64, Option<Ack>)>) {
    if writes.is_empty() {
        return;
    }
    let started = std::time::Instant::now();
    let result = (|| -> rusqlite::Result<()> {
        let tx = conn.transaction()?;
        for (record, time, _) in writes.iter() {
            apply(&tx, record, *time)?;
        }
        tx.commit()
    })();
    crate::metrics::metrics()
        .journal_write
        .observe(started.elapsed().as_secs_f64());
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
        Record::Call {
            call_id,
            channel,
            caller,
            callee,
            agent,
            session,
            outcome,
            ended,
        } => {
            let ended_ms = ended.then_some(time);
            tx.execute(
                "INSERT INTO calls (call_id, channel, caller, callee, agent, session, outcome, started_ms, ended_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT(call_id) DO UPDATE SET
                   agent = COALESCE(excluded.agent, agent),
                   session = COALESCE(excluded.session, session),
                   outcome = excluded.outcome,
                   ended_ms = COALESCE(excluded.ended_ms, ended_ms)",
                params![call_id, channel, caller, callee, agent, session, outcome, time, ended_ms],
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
            plugin_hash,
        } => {
            tx.execute(
                "INSERT OR REPLACE INTO tool_calls (session, call_id, agent, tool, arguments, decision, decided_ms, plugin_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![session, call_id, agent, tool, arguments, decision, time, plugin_hash],
            )?;
        }
        Record::Approval {
            session,
            call_id,
            approved,
            always,
            decided_by,
            reason,
            latency_ms,
        } => {
            tx.execute(
                "INSERT INTO approvals (session, call_id, approved, always, decided_by, reason, latency_ms, time_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![session, call_id, approved, always, decided_by, reason, *latency_ms as i64, time],
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
        Record::Item {
            session,
            item_id,
            role,
            kind,
            content,
        } => {
            tx.execute(
                "INSERT OR REPLACE INTO items (session, item_id, role, kind, content, time_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![session, item_id, role, kind, content, time],
            )?;
        }
        Record::GuardrailTrip {
            session,
            direction,
            guardrails,
            message,
        } => {
            tx.execute(
                "INSERT INTO guardrail_trips (session, direction, guardrails, message, time_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![session, direction, guardrails, message, time],
            )?;
        }
        Record::Reload {
            outcome,
            config_hash,
            detail,
        } => {
            tx.execute(
                "INSERT INTO reloads (time_ms, outcome, config_hash, detail) VALUES (?1, ?2, ?3, ?4)",
                params![time, outcome, config_hash, detail],
            )?;
        }
        Record::Remember {
            agent,
            tool,
            policy_hash,
            approve,
            decided_by,
        } => {
            tx.execute(
                "INSERT OR REPLACE INTO remembered (agent, tool, policy_hash, approve, decided_by, time_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![agent, tool, policy_hash, approve, decided_by, time],
            )?;
        }
        Record::Forget { agent, tool } => {
            tx.execute(
                "DELETE FROM remembered WHERE agent = ?1 AND (?2 IS NULL OR tool = ?2)",
                params![agent, tool],
            )?;
        }
    }
    Ok(())
}

/// Bytes of data in the file (pages in use, not free ones).
fn used_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
    let free: i64 = conn.pragma_query_value(None, "freelist_count", |r| r.get(0))?;
    let size: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
    Ok(((pages - free).max(0) * size) as u64)
}

/// Remove ended sessions (oldest first) with their calls, approvals, items
/// and trips: those ended before `max_age`, then more while the data is over
/// `max_size`. Live sessions (no end) are never pruned. Between batches,
/// records that arrived meanwhile are committed first.
fn prune(
    conn: &mut Connection,
    retention: Retention,
    ops: &std_mpsc::Receiver<WriteOp>,
) -> Result<Pruned, StoreError> {
    let err = |e: rusqlite::Error| StoreError::Write(format!("pruning: {e}"));
    let mut pruned = Pruned {
        bytes_before: used_bytes(conn).map_err(err)?,
        ..Pruned::default()
    };
    let cutoff = retention
        .max_age
        .map(|age| super::now_ms().saturating_sub(age.as_millis() as u64) as i64);
    loop {
        let over_size = match retention.max_size {
            Some(max) => used_bytes(conn).map_err(err)? > max,
            None => false,
        };
        let tx = conn.transaction().map_err(err)?;
        let ids: Vec<String> = {
            let mut stmt = tx
                .prepare(
                    "SELECT id FROM sessions WHERE ended_ms IS NOT NULL
                     AND (?1 OR (?2 IS NOT NULL AND ended_ms < ?2))
                     ORDER BY ended_ms LIMIT ?3",
                )
                .map_err(err)?;
            stmt.query_map(params![over_size, cutoff, PRUNE_BATCH], |r| r.get(0))
                .map_err(err)?
                .collect::<rusqlite::Result<_>>()
                .map_err(err)?
        };
        if ids.is_empty() {
            break;
        }
        for id in &ids {
            for table in ["tool_calls", "approvals", "items", "guardrail_trips"] {
                tx.execute(&format!("DELETE FROM {table} WHERE session = ?1"), [id])
                    .map_err(err)?;
            }
            tx.execute("DELETE FROM sessions WHERE id = ?1", [id])
                .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        pruned.sessions += ids.len();
        // Whatever waits gets committed before the next batch.
        let mut waiting = Vec::new();
        while let Ok(op) = ops.try_recv() {
            crate::metrics::metrics().journal_queue.dec();
            match op {
                WriteOp::Write(record, time, ack) => waiting.push((record, time, ack)),
                WriteOp::Flush(done) => {
                    commit(conn, &mut waiting);
                    let _ = done.send(());
                }
                WriteOp::Prune(_, reply) => {
                    // One pruning at a time; this one covers it.
                    let _ = reply.send(Ok(Pruned::default()));
                }
            }
        }
        commit(conn, &mut waiting);
    }
    pruned.bytes_after = used_bytes(conn).map_err(err)?;
    Ok(pruned)
}
