//! `/v1/calls…` and `/v1/client_secrets`: the calls the daemon knows, WebRTC
//! signalling, hanging up and transferring, and `agentctl call simulate`.
//! The work is the `calls` module's; this file maps it onto HTTP.

use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

use super::read_bytes;
use crate::calls::{self, CallError};
use crate::control::errors::ApiError;
use crate::control::reply::{self, Body};
use crate::supervisor::Supervisor;
use agentd_api::Identity;
use agentd_api::requests::{Simulate, Transfer};

/// Largest SDP offer relayed.
const MAX_SDP: usize = 64 << 10;

impl From<CallError> for ApiError {
    fn from(e: CallError) -> Self {
        let e = match e {
            CallError::Session(s) => return ApiError::from(s),
            e => e,
        };
        let (status, code) = match &e {
            CallError::NoSip => (StatusCode::CONFLICT, "no_sip"),
            CallError::UnknownAgent(_) => (StatusCode::NOT_FOUND, "unknown_agent"),
            CallError::UnknownCall(_) => (StatusCode::NOT_FOUND, "unknown_call"),
            CallError::AlreadyAttached(_) => (StatusCode::CONFLICT, "already_attached"),
            CallError::TransferNotAllowed(_) => (StatusCode::FORBIDDEN, "transfer_not_allowed"),
            CallError::Control(calls::ControlError::MissingKey { .. }) => {
                (StatusCode::FAILED_DEPENDENCY, "missing_api_key")
            }
            CallError::Control(_) => (StatusCode::BAD_GATEWAY, "call_control"),
            CallError::Session(_) => (StatusCode::INTERNAL_SERVER_ERROR, "session"),
            CallError::Other(_) => (StatusCode::INTERNAL_SERVER_ERROR, "call"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

pub fn list(daemon: &Supervisor) -> Response<Body> {
    reply::json(StatusCode::OK, &daemon.calls().list())
}

pub async fn offer(
    daemon: &Supervisor,
    agent: Option<String>,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let body = read_bytes(req, MAX_SDP).await?;
    let sdp = std::str::from_utf8(&body)
        .ok()
        .filter(|s| s.starts_with("v="))
        .ok_or_else(|| {
            ApiError::bad_request("the body must be an SDP offer (application/sdp, starting `v=`)")
        })?;
    let answer = calls::webrtc::offer(daemon, agent.as_deref(), sdp).await?;
    let mut resp = reply::bytes(
        StatusCode::CREATED,
        "application/sdp",
        answer.sdp.into_bytes(),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(&format!("/v1/calls/{}", answer.call_id)) {
        resp.headers_mut().insert(hyper::header::LOCATION, v);
    }
    if let Ok(v) = hyper::header::HeaderValue::from_str(&answer.session) {
        resp.headers_mut().insert("agentd-session", v);
    }
    Ok(resp)
}

pub async fn client_secret(
    daemon: &Supervisor,
    agent: Option<String>,
) -> Result<Response<Body>, ApiError> {
    let secret = calls::webrtc::client_secret(daemon, agent.as_deref()).await?;
    Ok(reply::json(StatusCode::OK, &secret))
}

pub async fn attach(
    daemon: &Supervisor,
    who: &Identity,
    call_id: String,
    agent: Option<String>,
) -> Result<Response<Body>, ApiError> {
    let session =
        calls::webrtc::attach_existing(daemon, &call_id, agent.as_deref(), &who.to_string())
            .await?;
    Ok(reply::json(
        StatusCode::CREATED,
        &json!({"call_id": call_id, "session": session}),
    ))
}

pub async fn hang_up(
    daemon: &Supervisor,
    who: &Identity,
    call_id: &str,
) -> Result<Response<Body>, ApiError> {
    let c = calls::hang_up(daemon, call_id, &who.to_string(), true).await?;
    Ok(reply::json(StatusCode::OK, &c))
}

pub async fn transfer(
    daemon: &Supervisor,
    who: &Identity,
    call_id: &str,
    body: Transfer,
) -> Result<Response<Body>, ApiError> {
    let c = calls::transfer(daemon, call_id, &body.target_uri, &who.to_string(), true).await?;
    Ok(reply::json(StatusCode::OK, &c))
}

pub async fn simulate(daemon: &Supervisor, body: Simulate) -> Result<Response<Body>, ApiError> {
    let catalog = daemon.catalog();
    let sip = catalog.config.sip.as_ref().ok_or(CallError::NoSip)?;
    let conflict = |m: String| ApiError::new(StatusCode::CONFLICT, "cannot_simulate", m);
    let http = catalog.config.daemon.http.as_ref().ok_or_else(|| {
        conflict(
            "simulated calls ring the webhook on [daemon.http] listen, which is not set".into(),
        )
    })?;
    let local = daemon.local_url(&sip.model).await.ok_or_else(|| {
        conflict(format!("[sip] model `{}` is not the offline model: only `provider = \"sim\"` can simulate calls", sip.model))
    })?;
    let secret = std::env::var(&sip.webhook_secret_env).map_err(|_| {
        conflict(format!(
            "the webhook secret (${}) is not set in agentd's environment",
            sip.webhook_secret_env
        ))
    })?;
    let mut addr = http.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let scheme = if http.tls.is_some() { "https" } else { "http" };
    let webhook_url = format!("{scheme}://{addr}{}", sip.webhook_path);
    let sim = crate::config::api_base_from_url(&local);
    let request = json!({
        "to": body.to, "from": body.from.unwrap_or_else(|| "+15555550123".into()),
        "say": body.say, "webhook_url": webhook_url, "secret": secret,
        "ca_file": http.tls.as_ref().map(|(cert, _)| cert.display().to_string()),
        "deliver": body.deliver,
    });
    let reply = calls::rest::post(
        &format!("{sim}/sim/calls"),
        None,
        "application/json",
        request.to_string().into_bytes(),
        None,
    )
    .await
    .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "sim", e.to_string()))?;
    let mut out: Value = serde_json::from_slice(&reply.body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "sim",
            format!("the offline model's reply: {e}"),
        )
    })?;
    if reply.status >= 300 {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "sim",
            out.to_string(),
        ));
    }
    out["sim"] = json!(sim);
    if body.deliver
        && let Some(call_id) = out["call_id"].as_str().map(str::to_string)
    {
        // The webhook was answered before the sideband opened: give it a moment.
        for _ in 0..50 {
            if let Some(c) = daemon.calls().get(&call_id)
                && (c.session.is_some() || c.outcome != "accepted")
            {
                out["call"] = json!(c);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(reply::json(StatusCode::OK, &out))
}
