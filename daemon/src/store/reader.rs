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

use super::{
    AuditApproval, AuditCall, AuditFilter, GuardrailTrip, JournalItem, JournalSession,
    RememberedAnswer, StoreError,
};
use crate::policy::ToolPattern;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// What the reader thread is asked to do.
pub(super) enum ReadOp {
    Audit {
        filter: AuditFilter,
        reply: Reply<Vec<AuditCall>>,
    },
    Session {
        session: String,
        reply: Reply<Option<JournalSession>>,
    },
    /// Remembered answers with the policy fingerprint each was given under.
    Remembered {
        agent: Option<String>,
        tool: Option<String>,
        reply: Reply<Vec<(RememberedAnswer, String)>>,
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
            ReadOp::Audit { filter, reply } => {
                let _ = reply.send(audit(&mut conn, &filter));
            }
            ReadOp::Session { session, reply } => {
                let _ = reply.send(
                    journal_session(&mut conn, &session)
                        .map_err(|e| StoreError::Query(e.to_string())),
                );
            }
            ReadOp::Remembered { agent, tool, reply } => {
                let _ = reply.send(
                    remembered(&conn, agent.as_deref(), tool.as_deref())
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

fn audit(conn: &mut Connection, filter: &AuditFilter) -> Result<Vec<AuditCall>, StoreError> {
    let pattern = match &filter.tool {
        Some(p) => Some(ToolPattern::parse(p).map_err(StoreError::Query)?),
        None => None,
    };
    audit_rows(conn, filter, pattern.as_ref()).map_err(|e| StoreError::Query(e.to_string()))
}

fn audit_rows(
    conn: &mut Connection,
    filter: &AuditFilter,
    pattern: Option<&ToolPattern>,
) -> rusqlite::Result<Vec<AuditCall>> {
    let tx = conn.transaction()?;
    // Rows stream newest first; a tool pattern is matched here (with the
    // rules' own matcher, which SQL's GLOB is not) until `limit` are found.
    let mut stmt = tx.prepare(
        "SELECT session, call_id, agent, tool, arguments, decision, decided_ms, outcome, output, ended_ms, plugin_hash
         FROM tool_calls WHERE (?1 IS NULL OR session = ?1) AND (?2 IS NULL OR decided_ms >= ?2)
         ORDER BY decided_ms DESC, rowid DESC",
    )?;
    let rows = stmt.query_map(
        params![filter.session, filter.since_ms.map(|t| t as i64)],
        |r| {
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
                plugin_hash: r.get(10)?,
            })
        },
    )?;
    let mut calls = Vec::new();
    for row in rows {
        let call = row?;
        if pattern.is_none_or(|p| p.matches(&call.tool)) {
            calls.push(call);
            if calls.len() >= filter.limit {
                break;
            }
        }
    }
    let mut approvals = tx.prepare(
        "SELECT approved, always, decided_by, reason, latency_ms, time_ms FROM approvals WHERE session = ?1 AND call_id = ?2 ORDER BY rowid",
    )?;
    for call in &mut calls {
        call.approvals = approvals
            .query_map(params![call.session, call.call_id], |r| {
                Ok(AuditApproval {
                    approved: r.get(0)?,
                    always: r.get(1)?,
                    decided_by: r.get(2)?,
                    reason: r.get(3)?,
                    latency_ms: r.get::<_, Option<i64>>(4)?.map(|t| t as u64),
                    time_ms: r.get::<_, i64>(5)? as u64,
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

fn journal_session(conn: &mut Connection, id: &str) -> rusqlite::Result<Option<JournalSession>> {
    use rusqlite::OptionalExtension;
    let tx = conn.transaction()?;
    let found = tx
        .query_row(
            "SELECT agent, model, started_ms, ended_ms, end_reason FROM sessions WHERE id = ?1",
            [id],
            |r| {
                Ok(JournalSession {
                    session: id.to_string(),
                    agent: r.get(0)?,
                    model: r.get(1)?,
                    started_ms: r.get::<_, i64>(2)? as u64,
                    ended_ms: r.get::<_, Option<i64>>(3)?.map(|t| t as u64),
                    end_reason: r.get(4)?,
                    items: Vec::new(),
                    guardrail_trips: Vec::new(),
                })
            },
        )
        .optional()?;
    let Some(mut session) = found else {
        return Ok(None);
    };
    {
        let mut items = tx.prepare(
            "SELECT item_id, role, kind, content, time_ms FROM items WHERE session = ?1 ORDER BY rowid",
        )?;
        session.items = items
            .query_map([id], |r| {
                Ok(JournalItem {
                    item_id: r.get(0)?,
                    role: r.get(1)?,
                    kind: r.get(2)?,
                    content: r.get(3)?,
                    time_ms: r.get::<_, i64>(4)? as u64,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut trips = tx.prepare(
            "SELECT direction, guardrails, message, time_ms FROM guardrail_trips WHERE session = ?1 ORDER BY rowid",
        )?;
        session.guardrail_trips = trips
            .query_map([id], |r| {
                Ok(GuardrailTrip {
                    direction: r.get(0)?,
                    guardrails: r.get(1)?,
                    message: r.get(2)?,
                    time_ms: r.get::<_, i64>(3)? as u64,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
    }
    tx.commit()?;
    Ok(Some(session))
}

fn remembered(
    conn: &Connection,
    agent: Option<&str>,
    tool: Option<&str>,
) -> rusqlite::Result<Vec<(RememberedAnswer, String)>> {
    let mut stmt = conn.prepare(
        "SELECT agent, tool, approve, decided_by, time_ms, policy_hash FROM remembered
         WHERE (?1 IS NULL OR agent = ?1) AND (?2 IS NULL OR tool = ?2) ORDER BY agent, tool",
    )?;
    stmt.query_map(params![agent, tool], |r| {
        Ok((
            RememberedAnswer {
                agent: r.get(0)?,
                tool: r.get(1)?,
                approve: r.get(2)?,
                decided_by: r.get(3)?,
                time_ms: r.get::<_, i64>(4)? as u64,
                current: true,
            },
            r.get(5)?,
        ))
    })?
    .collect()
}
