//! `GET /v1/audit`: tool calls from the journal, newest first, filtered by
//! session, tool pattern and time. The route has already clamped `limit`
//! (see `agentd_api::query::AUDIT_LIMIT_MAX`). And `GET
//! /v1/journal/sessions/{id}`: one session's record and final conversation.

use hyper::{Response, StatusCode};

use crate::control::errors::ApiError;
use crate::control::reply::{self, Body};
use crate::store::AuditFilter;
use crate::supervisor::Supervisor;

pub async fn audit(daemon: &Supervisor, filter: AuditFilter) -> Result<Response<Body>, ApiError> {
    if let Some(p) = &filter.tool {
        crate::policy::ToolPattern::parse(p)
            .map_err(|e| ApiError::bad_request(format!("tool: {e}")))?;
    }
    let calls = daemon.journal().audit(filter).await?;
    Ok(reply::json(StatusCode::OK, &calls))
}

/// `GET /v1/journal/sessions/{id}`: a session as the journal has it, with
/// its conversation — also for sessions long closed, or from before a restart.
pub async fn journal_session(daemon: &Supervisor, id: &str) -> Result<Response<Body>, ApiError> {
    match daemon.journal().session(id).await? {
        Some(s) => Ok(reply::json(StatusCode::OK, &s)),
        None => Err(ApiError::not_found(format!(
            "the journal has no session `{id}`"
        ))),
    }
}
