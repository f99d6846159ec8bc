//! The control client: HTTP/1.1 over the daemon's Unix socket, one typed
//! method per route, used by `agentctl` and the tests.
//!
//! Each request opens its own connection (the daemon is local; a CLI makes
//! one or two requests), so a `Client` is only a socket path and clones are
//! free. An error reply becomes [`ClientError::Api`] with the daemon's code
//! and message; a reply that does not parse as the route's type becomes
//! [`ClientError::Decode`] — it never turns into a default value.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use hyper::Method;

use crate::audit::AuditCall;
use crate::error::ErrorBody;
use crate::events::StreamItem;
use crate::query::{AuditQuery, EventsQuery};
use crate::requests::{
    CallTool, Decision, Playback, SendAudio, SendMessage, SetAgent, StartSession,
};
use crate::responses::{
    Accepted, AgentSet, AgentSummary, Closed, Decided, Draining, PluginSummary, ReloadReport,
    SessionStarted, SessionSummary, Status, ToolCallResult,
};
use crate::routes::RouteId;
use crate::session::SessionStatus;

/// Why a control request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the socket (or it cannot be opened).
    #[error(
        "cannot reach agentd at {path}: {source} (is it running? set --socket or AGENTD_SOCKET)"
    )]
    Connect {
        /// The socket tried.
        path: String,
        /// Why it could not be reached.
        source: std::io::Error,
    },
    /// The HTTP exchange itself failed.
    #[error("control request failed: {0}")]
    Http(String),
    /// The daemon answered with an error.
    #[error("{message} ({code}, HTTP {status})")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The error's stable code (see [`crate::error::ErrorDetail`]).
        code: String,
        /// What the daemon said.
        message: String,
    },
    /// The reply (or a request body) was not what the route's type says.
    #[error("unexpected reply from agentd: {0}")]
    Decode(String),
    /// A tool called through `agentctl tool call` failed.
    #[error("the tool failed: {0}")]
    Tool(String),
}

/// Where the control socket is when neither `--socket` nor the config names
/// one: `$XDG_RUNTIME_DIR/agentd/agentd.sock`, else `/run/agentd/agentd.sock`
/// as root, else a per-user folder under the temporary directory. agentd
/// binds the same path when its config names none.
pub fn default_socket_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("agentd").join("agentd.sock");
    }
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    if uid == 0 {
        PathBuf::from("/run/agentd/agentd.sock")
    } else {
        std::env::temp_dir()
            .join(format!("agentd-{uid}"))
            .join("agentd.sock")
    }
}

/// A connection factory for one socket path.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    /// Talk to the daemon listening on `socket`.
    pub fn new(socket: impl AsRef<Path>) -> Client {
        Client {
            socket: socket.as_ref().to_path_buf(),
        }
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    // --- one method per route ---

    /// `GET /v1/status`: the daemon, its agents and plugins, the last reload.
    pub async fn status(&self) -> Result<Status, ClientError> {
        self.get(&RouteId::Status.path(&[])).await
    }

    /// `GET /v1/plugins`.
    pub async fn plugins(&self) -> Result<Vec<PluginSummary>, ClientError> {
        self.get(&RouteId::Plugins.path(&[])).await
    }

    /// `GET /v1/agents`.
    pub async fn agents(&self) -> Result<Vec<AgentSummary>, ClientError> {
        self.get(&RouteId::Agents.path(&[])).await
    }

    /// `GET /v1/sessions`: every session, oldest first.
    pub async fn sessions(&self) -> Result<Vec<SessionSummary>, ClientError> {
        self.get(&RouteId::ListSessions.path(&[])).await
    }

    /// `POST /v1/sessions`.
    pub async fn start_session(&self, req: &StartSession) -> Result<SessionStarted, ClientError> {
        self.post(&RouteId::StartSession.path(&[]), req).await
    }

    /// `GET /v1/sessions/{id}`.
    pub async fn session(&self, id: &str) -> Result<SessionStatus, ClientError> {
        self.get(&RouteId::GetSession.path(&[id])).await
    }

    /// `DELETE /v1/sessions/{id}`.
    pub async fn close_session(&self, id: &str) -> Result<Closed, ClientError> {
        self.call(
            Method::DELETE,
            &RouteId::CloseSession.path(&[id]),
            None::<&()>,
        )
        .await
    }

    /// `POST /v1/sessions/{id}/messages`.
    pub async fn send_message(&self, id: &str, msg: &SendMessage) -> Result<Accepted, ClientError> {
        self.post(&RouteId::SendMessage.path(&[id]), msg).await
    }

    /// `POST /v1/sessions/{id}/audio`.
    pub async fn send_audio(&self, id: &str, audio: &SendAudio) -> Result<Accepted, ClientError> {
        self.post(&RouteId::SendAudio.path(&[id]), audio).await
    }

    /// `POST /v1/sessions/{id}/interrupt`.
    pub async fn interrupt(&self, id: &str) -> Result<Accepted, ClientError> {
        self.post(&RouteId::Interrupt.path(&[id]), &Accepted {})
            .await
    }

    /// `POST /v1/sessions/{id}/playback`.
    pub async fn playback(&self, id: &str, report: &Playback) -> Result<Accepted, ClientError> {
        self.post(&RouteId::Playback.path(&[id]), report).await
    }

    /// `POST /v1/sessions/{id}/agent`.
    pub async fn set_agent(&self, id: &str, req: &SetAgent) -> Result<AgentSet, ClientError> {
        self.post(&RouteId::SetAgent.path(&[id]), req).await
    }

    /// `GET /v1/sessions/{id}/history`: the conversation, as Realtime
    /// protocol conversation items.
    pub async fn history(&self, id: &str) -> Result<Vec<Value>, ClientError> {
        self.get(&RouteId::History.path(&[id])).await
    }

    /// `GET /v1/sessions/{id}/events`: each line as it arrives, until the
    /// stream ends (without `follow`, at the last kept event) or `on_item`
    /// returns false.
    pub async fn events(
        &self,
        id: &str,
        query: &EventsQuery,
        on_item: impl FnMut(StreamItem) -> bool,
    ) -> Result<(), ClientError> {
        let path = format!(
            "{}?{}",
            RouteId::Events.path(&[id]),
            query.to_query_string()
        );
        self.stream(&path, on_item).await
    }

    /// `POST /v1/approvals/{call_id}`.
    pub async fn decide(&self, call_id: &str, decision: &Decision) -> Result<Decided, ClientError> {
        self.post(&RouteId::Decide.path(&[call_id]), decision).await
    }

    /// `GET /v1/approvals`: every call waiting for a person, daemon-wide.
    pub async fn approvals(&self) -> Result<Vec<crate::PendingApproval>, ClientError> {
        self.get(&RouteId::ListApprovals.path(&[])).await
    }

    /// `GET /v1/approvals/remembered`: answers remembered per agent.
    pub async fn remembered(&self) -> Result<Vec<crate::RememberedAnswer>, ClientError> {
        self.get(&RouteId::Remembered.path(&[])).await
    }

    /// `POST /v1/approvals/remembered/forget`.
    pub async fn forget(
        &self,
        req: &crate::requests::Forget,
    ) -> Result<crate::responses::Forgotten, ClientError> {
        self.post(&RouteId::Forget.path(&[]), req).await
    }

    /// `POST /v1/policy/explain`: which rule would decide a call, and why.
    pub async fn explain(
        &self,
        req: &crate::requests::Explain,
    ) -> Result<crate::responses::PolicyExplanation, ClientError> {
        self.post(&RouteId::Explain.path(&[]), req).await
    }

    /// `GET /v1/journal/sessions/{id}`: a session and its final conversation, from the journal.
    pub async fn journal_session(&self, id: &str) -> Result<crate::JournalSession, ClientError> {
        self.get(&RouteId::JournalSession.path(&[id])).await
    }

    /// `GET /v1/audit`: tool calls from the journal, newest first.
    pub async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditCall>, ClientError> {
        let q = query.to_query_string();
        if q.is_empty() {
            self.get(&RouteId::Audit.path(&[])).await
        } else {
            self.get(&format!("{}?{q}", RouteId::Audit.path(&[]))).await
        }
    }

    /// `POST /v1/tools/{plugin.tool}/call`: run a tool in its sandbox, no model.
    pub async fn call_tool(
        &self,
        tool: &str,
        req: &CallTool,
    ) -> Result<ToolCallResult, ClientError> {
        self.post(&RouteId::CallTool.path(&[tool]), req).await
    }

    /// `POST /v1/reload`; a rejected reload is [`ClientError::Api`] (HTTP 422)
    /// whose message lists every error.
    pub async fn reload(&self) -> Result<ReloadReport, ClientError> {
        self.post(&RouteId::Reload.path(&[]), &Accepted {}).await
    }

    /// `POST /v1/drain`: take no new sessions, let live calls finish (up to
    /// `[daemon] drain_timeout`), then stop — what SIGTERM does.
    pub async fn drain(&self) -> Result<Draining, ClientError> {
        self.post(&RouteId::Drain.path(&[]), &Accepted {}).await
    }

    /// `GET /metrics`: the Prometheus text exposition.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let resp = self
            .send(Method::GET, &RouteId::Metrics.path(&[]), None)
            .await?;
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?
            .to_bytes();
        String::from_utf8(bytes.to_vec()).map_err(|e| ClientError::Decode(e.to_string()))
    }

    // --- generic requests, for routes and shapes the methods above do not cover ---

    /// A request with an optional JSON body, answered with JSON.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        let resp = self.send(method, path, body).await?;
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?
            .to_bytes();
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `GET path` as JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call(Method::GET, path, None::<&()>).await
    }

    /// `POST path` with a JSON body.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// A streaming `GET` of newline-delimited JSON, each line parsed as `T`;
    /// `on_line` returns false to stop.
    pub async fn stream<T: DeserializeOwned>(
        &self,
        path: &str,
        mut on_line: impl FnMut(T) -> bool,
    ) -> Result<(), ClientError> {
        let resp = self.send(Method::GET, path, None).await?;
        let mut body = resp.into_body();
        let mut buf: Vec<u8> = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ClientError::Http(e.to_string()))?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            buf.extend_from_slice(data);
            while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                let item: T = serde_json::from_slice(&line)
                    .map_err(|e| ClientError::Decode(e.to_string()))?;
                if !on_line(item) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response<Incoming>, ClientError> {
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|source| ClientError::Connect {
                path: self.socket.display().to_string(),
                source,
            })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        tokio::spawn(async move {
            // The connection ends with the request; its error, if any, is
            // the request's and is reported there.
            let _ = conn.await;
        });
        let body: BoxBody<Bytes, hyper::Error> = match body {
            Some(b) => Full::new(Bytes::from(b))
                .map_err(|never| match never {})
                .boxed(),
            None => Empty::new().map_err(|never| match never {}).boxed(),
        };
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "agentd")
            .header("content-type", "application/json")
            .body(body)
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?
            .to_bytes();
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(e) => Err(ClientError::Api {
                status,
                code: e.error.code,
                message: e.error.message,
            }),
            Err(_) => Err(ClientError::Api {
                status,
                code: "http".into(),
                message: String::from_utf8_lossy(&bytes).into_owned(),
            }),
        }
    }
}
