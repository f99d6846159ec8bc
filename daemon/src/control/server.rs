//! The control API server: HTTP/1.1 + JSON over a Unix socket.
//!
//! Each request is parsed into a typed [`Route`] before any state is touched;
//! one `match` dispatches it, and every failure leaves through [`ApiError`],
//! which is the only place an HTTP status and the JSON error shape are made.
//! Only the daemon's own user (and root) may connect: peer credentials are
//! checked on accept, and the socket is created mode 0660.

use std::convert::Infallible;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::UnixListener;
use tokio::sync::broadcast::error::RecvError;

use super::api;
use crate::realtime::protocol::ContentPart;
use crate::reload::{ReloadOutcome, ReloadResult, Trigger};
use crate::session::{Envelope, SessionError, SessionEvent};
use crate::supervisor::{LookupError, Supervisor};

/// Largest request body accepted (audio chunks are the big ones).
const MAX_BODY: usize = 16 << 20;

type Body = BoxBody<Bytes, Infallible>;

/// A failed request, as the client will see it.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    fn response(self) -> Response<Body> {
        let body = api::ErrorBody {
            error: api::ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        json_response(self.status, &body)
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        let (status, code) = match &e {
            SessionError::Ended(_) => (StatusCode::CONFLICT, "session_ended"),
            SessionError::UnknownCall { .. } => (StatusCode::NOT_FOUND, "unknown_call"),
            SessionError::UnknownAgent(_) => (StatusCode::NOT_FOUND, "unknown_agent"),
            SessionError::UnknownModel(_) => (StatusCode::NOT_FOUND, "unknown_model"),
            SessionError::MissingApiKey { .. } => {
                (StatusCode::FAILED_DEPENDENCY, "missing_api_key")
            }
            SessionError::Connect(_) => (StatusCode::BAD_GATEWAY, "model_unreachable"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(bytes)).boxed());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

/// Every request the API understands.
#[derive(Debug, PartialEq)]
enum Route {
    Status,
    Plugins,
    Agents,
    ListSessions,
    StartSession,
    GetSession(String),
    CloseSession(String),
    SendMessage(String),
    SendAudio(String),
    Interrupt(String),
    Playback(String),
    SetAgent(String),
    History(String),
    Events {
        id: String,
        since: u64,
        follow: bool,
    },
    Decide(String),
    Audit {
        session: Option<String>,
        limit: usize,
    },
    /// Run a tool directly, without a model: `plugin.tool`.
    CallTool(String),
    Reload,
}

fn parse_route(method: &Method, path: &str, query: Option<&str>) -> Result<Route, ApiError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let m = method.clone();
    let route = match (m, segments.as_slice()) {
        (Method::GET, ["v1", "status"]) => Route::Status,
        (Method::GET, ["v1", "plugins"]) => Route::Plugins,
        (Method::GET, ["v1", "agents"]) => Route::Agents,
        (Method::GET, ["v1", "sessions"]) => Route::ListSessions,
        (Method::POST, ["v1", "sessions"]) => Route::StartSession,
        (Method::GET, ["v1", "sessions", id]) => Route::GetSession(id.to_string()),
        (Method::DELETE, ["v1", "sessions", id]) => Route::CloseSession(id.to_string()),
        (Method::POST, ["v1", "sessions", id, "messages"]) => Route::SendMessage(id.to_string()),
        (Method::POST, ["v1", "sessions", id, "audio"]) => Route::SendAudio(id.to_string()),
        (Method::POST, ["v1", "sessions", id, "interrupt"]) => Route::Interrupt(id.to_string()),
        (Method::POST, ["v1", "sessions", id, "playback"]) => Route::Playback(id.to_string()),
        (Method::POST, ["v1", "sessions", id, "agent"]) => Route::SetAgent(id.to_string()),
        (Method::GET, ["v1", "sessions", id, "history"]) => Route::History(id.to_string()),
        (Method::GET, ["v1", "sessions", id, "events"]) => {
            let mut since = 0;
            let mut follow = false;
            for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                match k {
                    "since" => {
                        since = v.parse().map_err(|_| {
                            ApiError::bad_request(format!("since=`{v}` is not a sequence number"))
                        })?
                    }
                    "follow" => follow = matches!(v, "" | "1" | "true"),
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "unknown query parameter `{other}`; expected since or follow"
                        )));
                    }
                }
            }
            Route::Events {
                id: id.to_string(),
                since,
                follow,
            }
        }
        (Method::POST, ["v1", "approvals", call_id]) => Route::Decide(call_id.to_string()),
        (Method::POST, ["v1", "tools", tool, "call"]) => Route::CallTool(tool.to_string()),
        (Method::GET, ["v1", "audit"]) => {
            let mut session = None;
            let mut limit = 100;
            for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                match k {
                    "session" => session = Some(v.to_string()),
                    "limit" => {
                        limit = v.parse().map_err(|_| {
                            ApiError::bad_request(format!("limit=`{v}` is not a number"))
                        })?
                    }
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "unknown query parameter `{other}`; expected session or limit"
                        )));
                    }
                }
            }
            Route::Audit { session, limit }
        }
        (Method::POST, ["v1", "reload"]) => Route::Reload,
        (method, _) => {
            return Err(ApiError::not_found(format!("no route for {method} {path}")));
        }
    };
    Ok(route)
}

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

async fn session(daemon: &Supervisor, id: &str) -> Result<crate::session::SessionHandle, ApiError> {
    daemon
        .session(id)
        .await
        .ok_or_else(|| ApiError::not_found(format!("no session `{id}`")))
}

async fn handle(
    daemon: Arc<Supervisor>,
    socket: Arc<Path>,
    req: Request<Incoming>,
) -> Response<Body> {
    let route = match parse_route(req.method(), req.uri().path(), req.uri().query()) {
        Ok(r) => r,
        Err(e) => return e.response(),
    };
    tracing::debug!(?route, "control request");
    match dispatch(&daemon, &socket, route, req).await {
        Ok(resp) => resp,
        Err(e) => e.response(),
    }
}

async fn dispatch(
    daemon: &Arc<Supervisor>,
    socket: &Path,
    route: Route,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let ok = |v: &dyn erased::Json| Ok(v.respond(StatusCode::OK));
    match route {
        Route::Status => ok(&status(daemon, socket).await),
        Route::Plugins => ok(&plugins(daemon)),
        Route::Agents => ok(&agents(daemon)),
        Route::ListSessions => {
            let mut out = Vec::new();
            for h in daemon.sessions().await {
                let status = h
                    .status()
                    .await
                    .ok()
                    .and_then(|s| serde_json::to_value(s).ok());
                out.push(api::SessionSummary {
                    id: h.id.to_string(),
                    closed: h.is_closed(),
                    status,
                });
            }
            ok(&out)
        }
        Route::StartSession => {
            let body: api::StartSession = read_json(req).await?;
            body.settings
                .validate()
                .map_err(|e| ApiError::bad_request(format!("settings: {e}")))?;
            let h = daemon
                .start_session(body.agent.as_deref(), body.settings)
                .await?;
            let status = h.status().await?;
            Ok(json_response(
                StatusCode::CREATED,
                &api::SessionStarted {
                    id: h.id.to_string(),
                    agent: status.agent,
                },
            ))
        }
        Route::GetSession(id) => ok(&session(daemon, &id).await?.status().await?),
        Route::CloseSession(id) => {
            let h = session(daemon, &id).await?;
            h.close().await?;
            ok(&serde_json::json!({"closed": true}))
        }
        Route::SendMessage(id) => {
            let body: api::SendMessage = read_json(req).await?;
            let content = match (body.text, body.content) {
                (Some(text), None) => vec![ContentPart::InputText { text: Some(text) }],
                (None, Some(parts)) if !parts.is_empty() => {
                    if let Some(bad) = parts.iter().find(|p| {
                        !matches!(
                            p,
                            ContentPart::InputText { .. }
                                | ContentPart::InputImage { .. }
                                | ContentPart::InputAudio { .. }
                        )
                    }) {
                        return Err(ApiError::bad_request(format!(
                            "content: a user message cannot hold {bad:?}; use input_text, input_image or input_audio"
                        )));
                    }
                    parts
                }
                _ => {
                    return Err(ApiError::bad_request(
                        "give either `text` or a non-empty `content` list",
                    ));
                }
            };
            session(daemon, &id).await?.send_input(content).await?;
            Ok(json_response(StatusCode::ACCEPTED, &serde_json::json!({})))
        }
        Route::SendAudio(id) => {
            let body: api::SendAudio = read_json(req).await?;
            use base64::Engine as _;
            if base64::engine::general_purpose::STANDARD
                .decode(&body.audio)
                .is_err()
            {
                return Err(ApiError::bad_request("audio must be base64"));
            }
            session(daemon, &id)
                .await?
                .send_audio(body.audio, body.commit)
                .await?;
            Ok(json_response(StatusCode::ACCEPTED, &serde_json::json!({})))
        }
        Route::Interrupt(id) => {
            session(daemon, &id).await?.interrupt().await?;
            Ok(json_response(StatusCode::ACCEPTED, &serde_json::json!({})))
        }
        Route::Playback(id) => {
            let body: api::Playback = read_json(req).await?;
            session(daemon, &id)
                .await?
                .playback(body.item_id, body.played_ms)
                .await?;
            Ok(json_response(StatusCode::ACCEPTED, &serde_json::json!({})))
        }
        Route::SetAgent(id) => {
            let body: api::SetAgent = read_json(req).await?;
            session(daemon, &id).await?.set_agent(&body.agent).await?;
            ok(&serde_json::json!({"agent": body.agent}))
        }
        Route::History(id) => ok(&session(daemon, &id).await?.history().await?),
        Route::Events { id, since, follow } => {
            Ok(events(session(daemon, &id).await?, since, follow))
        }
        Route::CallTool(qualified) => {
            let body: api::CallTool = read_json(req).await?;
            let catalog = daemon.catalog();
            let (plugin, tool) = qualified
                .split_once('.')
                .and_then(|(p, t)| Some((catalog.plugins.get(p)?.clone(), t.to_string())))
                .filter(|(p, t)| p.tools.iter().any(|x| x.name == *t))
                .ok_or_else(|| {
                    ApiError::not_found(format!(
                        "no tool `{qualified}` is loaded (see `agentctl plugins`)"
                    ))
                })?;
            let arguments = body.arguments.to_string();
            let info = crate::plugin::CallInfo {
                session_id: "agentctl".into(),
                agent: "agentctl".into(),
                call_id: format!("manual-{}", rand::random::<u32>()),
            };
            tracing::info!(tool = %qualified, call_id = %info.call_id, "tool called from the control API");
            let started = std::time::Instant::now();
            let result = plugin.call_tool(&tool, &arguments, &info).await;
            let elapsed_us = started.elapsed().as_micros() as u64;
            ok(&match result {
                Ok(output) => api::ToolCallResult {
                    ok: true,
                    output,
                    elapsed_us,
                },
                Err(e) => api::ToolCallResult {
                    ok: false,
                    output: e.to_string(),
                    elapsed_us,
                },
            })
        }
        Route::Audit { session, limit } => {
            let calls = daemon
                .journal()
                .audit(session.as_deref(), limit)
                .await
                .map_err(|e| {
                    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "journal", e.to_string())
                })?;
            ok(&calls)
        }
        Route::Reload => {
            let outcome = daemon.reload(Trigger::Api).await.ok_or_else(|| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "stopping",
                    "the daemon is stopping",
                )
            })?;
            let report = reload_report(&outcome);
            if let ReloadResult::Rejected(_) = outcome.result {
                // The errors are the message, one per line, as `agentd check` prints them.
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "reload_rejected",
                    format!(
                        "reload rejected; the running config is unchanged:\n{}",
                        report.errors.join("\n")
                    ),
                ));
            }
            ok(&report)
        }
        Route::Decide(call_id) => {
            let body: api::Decision = read_json(req).await?;
            let h = match &body.session {
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
            h.decide(&call_id, body.approve, body.always).await?;
            ok(&api::Decided {
                session: h.session().to_string(),
                call_id,
                approved: body.approve,
            })
        }
    }
}

/// Lets `dispatch` return any serializable body through one helper.
mod erased {
    use super::*;
    pub trait Json {
        fn respond(&self, status: StatusCode) -> Response<Body>;
    }
    impl<T: Serialize> Json for T {
        fn respond(&self, status: StatusCode) -> Response<Body> {
            json_response(status, self)
        }
    }
}

fn plugins(daemon: &Supervisor) -> Vec<api::PluginSummary> {
    let catalog = daemon.catalog();
    let mut out: Vec<api::PluginSummary> = catalog
        .plugins
        .values()
        .map(|p| api::PluginSummary {
            name: p.name.clone(),
            path: p.path.display().to_string(),
            hash: Some(p.hash.clone()),
            loaded_ms: p
                .loaded_at
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_millis() as u64),
            origin: serde_json::to_value(p.origin)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string)),
            tools: p
                .tools
                .iter()
                .map(|t| api::ToolSummary {
                    name: t.name.clone(),
                    description: t.description.clone(),
                })
                .collect(),
            guardrails: p.guardrails.iter().map(|g| g.name.clone()).collect(),
            // A failed newer file while this version keeps serving.
            error: catalog.failure(&p.name).map(|f| f.error.clone()),
        })
        .collect();
    out.extend(
        catalog
            .failed_plugins
            .iter()
            .filter(|f| !catalog.plugins.contains_key(&f.name))
            .map(|f| api::PluginSummary {
                name: f.name.clone(),
                path: f.path.display().to_string(),
                hash: None,
                loaded_ms: None,
                origin: None,
                tools: Vec::new(),
                guardrails: Vec::new(),
                error: Some(f.error.clone()),
            }),
    );
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn agents(daemon: &Supervisor) -> Vec<api::AgentSummary> {
    daemon
        .catalog()
        .agents
        .values()
        .map(|a| api::AgentSummary {
            name: a.name().to_string(),
            model: a.config.model.clone(),
            tools: a
                .tools
                .iter()
                .map(|t| api::AgentToolSummary {
                    function: t.model_name.clone(),
                    tool: t.qualified.clone(),
                })
                .collect(),
            guardrails: a
                .output_guardrails
                .iter()
                .map(|g| g.qualified.clone())
                .collect(),
            handoffs: a.handoffs.iter().map(|h| h.target.clone()).collect(),
        })
        .collect()
}

/// What a reload did, as the API reports it.
pub fn reload_report(outcome: &ReloadOutcome) -> api::ReloadReport {
    let mut r = api::ReloadReport {
        trigger: outcome.trigger.as_str().to_string(),
        time_ms: outcome.time_ms,
        plugins_failed: outcome.plugins_failed.clone(),
        ..api::ReloadReport::default()
    };
    match &outcome.result {
        ReloadResult::Applied(c) => {
            r.outcome = "applied".into();
            r.agents_added = c.agents_added.clone();
            r.agents_removed = c.agents_removed.clone();
            r.agents_changed = c.agents_changed.clone();
            r.plugins_added = c.plugins_added.clone();
            r.plugins_removed = c.plugins_removed.clone();
            r.plugins_changed = c.plugins_changed.clone();
            r.models_added = c.models_added.clone();
            r.models_removed = c.models_removed.clone();
            r.models_changed = c.models_changed.clone();
            r.settings_changed = c.settings_changed;
        }
        ReloadResult::Unchanged => r.outcome = "unchanged".into(),
        ReloadResult::Rejected(errors) => {
            r.outcome = "rejected".into();
            r.errors = errors.clone();
        }
    }
    r
}

async fn status(daemon: &Supervisor, socket: &Path) -> api::Status {
    api::Status {
        version: env!("CARGO_PKG_VERSION").to_string(),
        pid: std::process::id(),
        started_ms: daemon.started_ms(),
        config: daemon.catalog().config.path.display().to_string(),
        socket: socket.display().to_string(),
        agents: agents(daemon),
        plugins: plugins(daemon),
        sessions: daemon.counts().await.live_sessions,
        last_reload: daemon.last_reload().await.as_ref().map(reload_report),
    }
}

fn line(env: &Envelope) -> Bytes {
    let mut v = serde_json::to_vec(env).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

/// A line saying events `last+1 .. next-1` are gone (the session keeps a
/// bounded log): a subscriber that fell too far behind learns it lost
/// something instead of silently missing it.
fn gap(session: &str, last: u64, next: u64) -> Option<Bytes> {
    (next > last + 1).then(|| {
        let v = serde_json::json!({
            "type": "events_lost", "session": session, "first": last + 1, "last": next - 1,
        });
        let mut b = serde_json::to_vec(&v).unwrap_or_default();
        b.push(b'\n');
        Bytes::from(b)
    })
}

/// Newline-delimited JSON events from `since`; with `follow`, until the session ends.
fn events(h: crate::session::SessionHandle, since: u64, follow: bool) -> Response<Body> {
    let (backlog, rx) = h.bus.subscribe(since);
    let mut last = since.saturating_sub(1);
    let mut closed = false;
    let mut chunks: Vec<Bytes> = Vec::with_capacity(backlog.len());
    for env in &backlog {
        chunks.extend(gap(&env.session, last, env.seq));
        last = env.seq;
        closed |= matches!(env.event, SessionEvent::SessionClosed { .. });
        chunks.push(line(env));
    }
    let (tx, body_rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let bus = h.bus.clone();
    tokio::spawn(async move {
        for c in chunks {
            if tx.send(c).await.is_err() {
                return;
            }
        }
        if !follow || closed {
            return;
        }
        let mut rx = rx;
        loop {
            let batch = match rx.recv().await {
                Ok(env) => vec![env],
                // Fell behind the live stream: re-read the gap from the log.
                Err(RecvError::Lagged(_)) => bus.since(last + 1),
                Err(RecvError::Closed) => return,
            };
            for env in batch {
                if env.seq <= last {
                    continue;
                }
                if let Some(lost) = gap(&env.session, last, env.seq)
                    && tx.send(lost).await.is_err()
                {
                    return;
                }
                last = env.seq;
                let end = matches!(env.event, SessionEvent::SessionClosed { .. });
                if tx.send(line(&env)).await.is_err() || end {
                    return;
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(body_rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-ndjson"),
    );
    resp
}

/// Why the control socket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("another agentd is already listening on {0}")]
    InUse(String),
    #[error("cannot create the control socket {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Bind the control socket: refuse to steal a live one, replace a stale one.
pub async fn bind(path: &Path) -> Result<UnixListener, BindError> {
    let io = |source| BindError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    if path.exists() {
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return Err(BindError::InUse(path.display().to_string()));
        }
        std::fs::remove_file(path).map_err(io)?;
    }
    let listener = UnixListener::bind(path).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(io)?;
    Ok(listener)
}

/// Serve the control API until `shutdown` resolves.
pub async fn serve(
    listener: UnixListener,
    socket: Arc<Path>,
    daemon: Arc<Supervisor>,
    shutdown: impl Future<Output = ()>,
) {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        match stream.peer_cred() {
            Ok(cred) if cred.uid() == me || cred.uid() == 0 => {}
            Ok(cred) => {
                tracing::warn!(
                    uid = cred.uid(),
                    "control connection from another user refused"
                );
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read control peer credentials; refused");
                continue;
            }
        }
        let daemon = daemon.clone();
        let socket = socket.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let daemon = daemon.clone();
                let socket = socket.clone();
                async move { Ok::<_, Infallible>(handle(daemon, socket, req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "control connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_into_typed_requests() {
        let cases: &[(Method, &str, Option<&str>, Route)] = &[
            (Method::GET, "/v1/status", None, Route::Status),
            (Method::POST, "/v1/sessions", None, Route::StartSession),
            (
                Method::DELETE,
                "/v1/sessions/s1",
                None,
                Route::CloseSession("s1".into()),
            ),
            (
                Method::GET,
                "/v1/sessions/s1/events",
                Some("since=5&follow=1"),
                Route::Events {
                    id: "s1".into(),
                    since: 5,
                    follow: true,
                },
            ),
            (
                Method::POST,
                "/v1/approvals/call_1",
                None,
                Route::Decide("call_1".into()),
            ),
            (
                Method::POST,
                "/v1/sessions/s1/playback",
                None,
                Route::Playback("s1".into()),
            ),
            (Method::POST, "/v1/reload", None, Route::Reload),
        ];
        for (m, p, q, want) in cases {
            assert_eq!(&parse_route(m, p, *q).unwrap(), want, "{m} {p}");
        }
    }

    #[test]
    fn a_gap_in_sequence_numbers_is_reported_not_skipped() {
        assert!(gap("s", 4, 5).is_none());
        assert!(gap("s", 0, 1).is_none());
        let line = gap("s", 4, 10).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "events_lost", "session": "s", "first": 5, "last": 9})
        );
        assert!(line.ends_with(b"\n"));
    }

    #[test]
    fn bad_routes_and_queries_are_clear_errors() {
        let e = parse_route(&Method::PUT, "/v1/status", None).unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert!(e.message.contains("no route for PUT /v1/status"));
        let e = parse_route(&Method::GET, "/v1/sessions/s/events", Some("since=x")).unwrap_err();
        assert!(e.message.contains("since=`x`"));
        let e = parse_route(&Method::GET, "/v1/sessions/s/events", Some("folow=1")).unwrap_err();
        assert!(e.message.contains("unknown query parameter `folow`"));
    }
}
