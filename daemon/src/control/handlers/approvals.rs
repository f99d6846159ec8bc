//! `POST /v1/approvals/{call_id}`: a person's decision on a held tool call,
//! addressed by call id (the session is found when not given); `GET
//! /v1/approvals`: every pending call, daemon-wide; the answers remembered
//! per agent (`GET /v1/approvals/remembered`) and forgetting them (`POST
//! /v1/approvals/remembered/forget`).

use hyper::{Response, StatusCode};

use super::session;
use crate::control::errors::ApiError;
use crate::control::reply::{self, Body};
use crate::session::Answer;
use crate::store::Record;
use crate::supervisor::{LookupError, Supervisor};
use agentd_api::Identity;
use agentd_api::RememberedAnswer;
use agentd_api::requests::Forget;
use agentd_api::requests::{Decision, Remember};
use agentd_api::responses::{Decided, Forgotten};

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
    if body.remember.is_some() && !body.always {
        return Err(ApiError::bad_request(
            "`remember` needs `always`: it says how far an always-answer reaches",
        ));
    }
    let answer = Answer {
        approve: body.approve,
        always: body.always,
        remember_for_agent: body.remember == Some(Remember::Agent),
        reason: body.reason.filter(|r| !r.trim().is_empty()),
        decider: who.clone(),
    };
    executor.decide(&call_id, answer).await?;
    Ok(reply::json(
        StatusCode::OK,
        &Decided {
            session: executor.session().to_string(),
            call_id,
            approved: body.approve,
        },
    ))
}

pub async fn list(daemon: &Supervisor) -> Response<Body> {
    reply::json(StatusCode::OK, &daemon.pending_approvals().await)
}

pub async fn remembered(daemon: &Supervisor) -> Result<Response<Body>, ApiError> {
    let catalog = daemon.catalog();
    let answers: Vec<RememberedAnswer> = daemon
        .journal()
        .remembered_all(None)
        .await?
        .into_iter()
        .map(|(a, hash)| {
            let current = catalog
                .agents
                .get(&a.agent)
                .is_some_and(|ag| ag.config.approval.fingerprint() == hash);
            RememberedAnswer { current, ..a }
        })
        .collect();
    Ok(reply::json(StatusCode::OK, &answers))
}

pub async fn forget(
    daemon: &Supervisor,
    who: &Identity,
    body: Forget,
) -> Result<Response<Body>, ApiError> {
    let journal = daemon.journal();
    let forgotten = journal
        .remembered_all(Some(&body.agent))
        .await?
        .iter()
        .filter(|(a, _)| body.tool.as_ref().is_none_or(|t| *t == a.tool))
        .count();
    journal
        .record(Record::Forget {
            agent: body.agent.clone(),
            tool: body.tool.clone(),
        })
        .await?;
    tracing::info!(agent = %body.agent, tool = ?body.tool, forgotten, %who, "remembered approvals forgotten");
    Ok(reply::json(
        StatusCode::OK,
        &Forgotten {
            agent: body.agent,
            forgotten,
        },
    ))
}
