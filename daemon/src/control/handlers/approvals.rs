//! `POST /v1/approvals/{call_id}`: a person's decision on a held tool call,
//! addressed by call id (the session is found when not given).

use hyper::{Response, StatusCode};

use super::session;
use crate::control::errors::ApiError;
use crate::control::reply::{self, Body};
use crate::supervisor::{LookupError, Supervisor};
use agentd_api::Identity;
use agentd_api::requests::Decision;
use agentd_api::responses::Decided;

pub async fn decide(
    daemon: &Supervisor,
    who: &Identity,
    call_id: String,
    body: Decision,
) -> Result<Response<Body>, ApiError> {
    // Through the supervisor's index straight to the session's executor: a
    // busy session never delays a decision.
    let executor = match &body.session {
        Some(id) => session(daemon, id).await?.executor(),
        None => daemon.pending_call(&call_id).await.map_err(|e| match e {
            LookupError::Unknown(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_call", e.to_string())
            }
            LookupError::Ambiguous { .. } => {
                ApiError::new(StatusCode::CONFLICT, "ambiguous_call", e.to_string())
            }
        })?,
    };
    executor
        .decide(&call_id, body.approve, body.always, who.clone())
        .await?;
    Ok(reply::json(
        StatusCode::OK,
        &Decided {
            session: executor.session().to_string(),
            call_id,
            approved: body.approve,
        },
    ))
}
