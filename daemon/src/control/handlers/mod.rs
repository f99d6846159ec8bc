//! One small file per resource; [`dispatch`] is the one `match` from a
//! [`Route`] to its handler. Handlers reach the daemon only through
//! the [`Supervisor`] handle, read bodies
//! with [`read_json`] and fail with [`ApiError`].

mod approvals;
mod audit;
mod calls;
mod policy;
mod reload;
mod sessions;
pub(crate) mod status;
mod tools;

use std::path::Path;
use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::de::DeserializeOwned;

use super::errors::ApiError;
use super::reply::Body;
use super::routes::Route;
use crate::session::SessionHandle;
use crate::supervisor::Supervisor;
use agentd_api::Identity;

/// Largest request body accepted (audio chunks are the big ones).
const MAX_BODY: usize = 16 << 20;

/// Run `route`; `req` is read only by routes that take a body.
pub async fn dispatch(
    daemon: &Arc<Supervisor>,
    socket: &Path,
    who: &Identity,
    route: Route,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    match route {
        Route::Status => Ok(status::status(daemon, socket).await),
        Route::Plugins => Ok(status::plugins(daemon)),
        Route::Agents => Ok(status::agents(daemon)),
        Route::ListSessions => Ok(sessions::list(daemon).await),
        Route::StartSession => sessions::start(daemon, read_json(req).await?).await,
        Route::GetSession(id) => sessions::get(daemon, &id).await,
        Route::CloseSession(id) => sessions::close(daemon, &id).await,
        Route::SendMessage(id) => sessions::send_message(daemon, &id, read_json(req).await?).await,
        Route::SendAudio(id) => sessions::send_audio(daemon, &id, read_json(req).await?).await,
        Route::AudioRelay(id) => super::audio_relay::upgrade(session(daemon, &id).await?, req),
        Route::Interrupt(id) => sessions::interrupt(daemon, &id).await,
        Route::Playback(id) => sessions::playback(daemon, &id, read_json(req).await?).await,
        Route::SetAgent(id) => sessions::set_agent(daemon, &id, read_json(req).await?).await,
        Route::History(id) => sessions::history(daemon, &id).await,
        Route::Events { id, query } => sessions::events(daemon, &id, query).await,
        Route::AllEvents => Ok(super::streaming::all_events(daemon.clone())),
        Route::Decide(call_id) => {
            approvals::decide(daemon, who, call_id, read_json(req).await?).await
        }
        Route::Audit {
            session,
            tool,
            since_ms,
            limit,
        } => {
            let filter = crate::store::AuditFilter {
                session,
                tool,
                since_ms,
                limit,
            };
            audit::audit(daemon, filter).await
        }
        Route::ListApprovals => Ok(approvals::list(daemon).await),
        Route::Remembered => approvals::remembered(daemon).await,
        Route::Forget => approvals::forget(daemon, who, read_json(req).await?).await,
        Route::Explain => policy::explain(daemon, read_json(req).await?).await,
        Route::JournalSession(id) => audit::journal_session(daemon, &id).await,
        Route::CallTool(tool) => tools::call(daemon, &tool, read_json(req).await?).await,
        Route::Reload => reload::reload(daemon).await,
        Route::ListCalls => Ok(calls::list(daemon)),
        Route::CallOffer { agent } => calls::offer(daemon, agent, req).await,
        Route::ClientSecret { agent } => calls::client_secret(daemon, agent).await,
        Route::AttachCall { call_id, agent } => calls::attach(daemon, who, call_id, agent).await,
        Route::HangUp(call_id) => calls::hang_up(daemon, who, &call_id).await,
        Route::Transfer(call_id) => {
            calls::transfer(daemon, who, &call_id, read_json(req).await?).await
        }
        Route::SimulateCall => calls::simulate(daemon, read_json(req).await?).await,
        Route::Metrics => Ok(status::metrics()),
        Route::Drain => Ok(status::drain(daemon).await),
    }
}

/// The request's JSON body as `T`; an empty body reads as `{}`.
async fn read_json<T: DeserializeOwned>(req: Request<Incoming>) -> Result<T, ApiError> {
    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("request body: {e}"),
            )
        })?
        .to_bytes();
    let body: &[u8] = if body.is_empty() { b"{}" } else { &body };
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("request body: {e}")))
}

/// The request's body as bytes, at most `max` of them.
async fn read_bytes(req: Request<Incoming>, max: usize) -> Result<bytes::Bytes, ApiError> {
    Limited::new(req.into_body(), max)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|e| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("request body: {e}"),
            )
        })
}

/// The session `id`, live or recently ended.
async fn session(daemon: &Supervisor, id: &str) -> Result<SessionHandle, ApiError> {
    daemon
        .session(id)
        .await
        .ok_or_else(|| ApiError::not_found(format!("no session `{id}`")))
}
