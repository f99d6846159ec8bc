//! The reader: a read-only connection of its own, on its own OS thread, that
//! answers audit queries.
//!
//! A read never runs on the writer's thread, so however large it is, the
//! writer — which tool calls wait on before they act — is never held up by
//! it; WAL lets this connection read a consistent snapshot while the writer
//! commits. Each query runs in one read transaction (its calls and their
//! approvals come from the same snapshot), begun only once the request
//! arrives, so it sees every commit that came before the request (see
//! [`super::Journal::audit`] for how that covers all earlier records).

use std::sync::mpsc as std_mpsc;

use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use super::{AuditApproval, AuditCall, StoreError};

/// What the reader thread is asked to do.
pub(super) enum ReadOp {
    Audit {
        session: Option<String>,
        limit: usize,
        reply: oneshot::Sender<Result<Vec<AuditCall>, StoreError>>,
    },
    /// Tests: hold a read transaction open (signal `held` once it has read)
    /// until `release` is signalled or dropped.
    #[cfg(test)]
    Hold {
        held: oneshot::Sender<()>,
        release: std_mpsc::Receiver<()>,
    },
}

/// The reader thread's loop; ends when every handle is gone.
pub(super) fn run(mut conn: Connection, ops: std_mpsc::Receiver<ReadOp>) {
    while let Ok(op) = ops.recv() {
        match op {
            ReadOp::Audit {
                session,
                limit,
                reply,
            } => {
                let _ = reply.send(
                    audit(&mut conn, session.as_deref(), limit)
                        .map_err(|e| StoreError::Query(e.to_string())),
                );
            }
            #[cfg(test)]
            ReadOp::Hold { held, release } => {
                if let Ok(tx) = conn.transaction() {
                    let _ = tx.query_row("SELECT count(*) FROM tool_calls", [], |r| {
                        r.get::<_, i64>(0)
                    });
                    let _ = held.send(());
                    let _ = release.recv();
                }
            }
        }
    }
}

fn audit(
    conn: &mut Connection,
    session: Option<&str>,
    limit: usize,
) -> rusqlite::Result<Vec<AuditCall>> {
    let tx = conn.transaction()?;
    let mut stmt = tx.prepare(
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
    let mut approvals = tx.prepare(
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
    drop(approvals);
    drop(stmt);
    // Ending the (read-only) transaction releases its snapshot.
    tx.commit()?;
    Ok(calls)
}
