//! `GET /v1/audit`: tool calls from the journal, newest first. The route
//! has already clamped `limit` (see `agentd_api::query::AUDIT_LIMIT_MAX`).

use hyper::{Response, StatusCode};

use crate::control::errors::ApiError;
use crate::control::reply::{self, Body};
use crate::supervisor::Supervisor;

pub async fn audit(
    daemon: &Supervisor,
    session: Option<&str>,
    limit: usize,
) -> Result<Response<Body>, ApiError> {
    let calls = daemon.journal().audit(session, limit).await?;
    Ok(reply::json(StatusCode::OK, &calls))
}
