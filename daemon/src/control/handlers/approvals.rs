//! `POST /v1/approvals/{call_id}`: a person's decision on a held tool call,
//! addressed by call id (the session is found when not given).

use hyper::{Response, StatusCode};

use super::session;
use crate::control::errors::ApiError;
use crate::control::reply::{self, Body};
use crate::daemon::Daemon;
use agentd_api::requests::Decision;
use agentd_api::responses::Decided;

pub async fn decide(
    daemon: &Daemon,
    call_id: String,
    body: Decision,
) -> Result<Response<Body>, ApiError> {
    let h = match &body.session {
        Some(id) => session(daemon, id)?,
        None => daemon.find_pending(&call_id).await.ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_call",
                format!("no session has a pending tool call `{call_id}`"),
            )
        })?,
    };
    h.decide(&call_id, body.approve, body.always).await?;
    Ok(reply::json(
        StatusCode::OK,
        &Decided {
            session: h.id.to_string(),
            call_id,
            approved: body.approve,
        },
    ))
}
