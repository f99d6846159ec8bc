//! Every route of the control API, in one table ([`ROUTES`]): method, path
//! pattern, body and reply types, query parameters.
//!
//! The daemon's router matches requests against this table ([`find`]) and
//! turns the [`RouteId`] it finds into its typed request in one exhaustive
//! `match`, so a route is answered only if it is here and every route here
//! is answered. The client builds its paths from it ([`RouteId::path`]),
//! and the OpenAPI description (`crate::openapi`) is generated from it.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::Value;

use crate::audit::{AuditCall, JournalSession, RememberedAnswer};
use crate::events::StreamItem;
use crate::requests::{
    CallTool, Decision, Explain, Forget, Playback, SendAudio, SendMessage, SetAgent, Simulate,
    StartSession, Transfer,
};
use crate::responses::{
    Accepted, AgentSet, AgentSummary, Closed, Decided, Draining, Forgotten, PluginSummary,
    PolicyExplanation, ReloadReport, SessionStarted, SessionSummary, Status, ToolCallResult,
};
use crate::session::{CallStatus, PendingApproval, SessionStatus};

/// Names every route; the daemon's router matches on it exhaustively.
/// Each variant's documentation is its table entry's `summary`.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteId {
    Status,
    Plugins,
    Agents,
    ListSessions,
    StartSession,
    GetSession,
    CloseSession,
    SendMessage,
    SendAudio,
    AudioRelay,
    Interrupt,
    Playback,
    SetAgent,
    History,
    Events,
    AllEvents,
    ListApprovals,
    Remembered,
    Forget,
    Decide,
    Explain,
    JournalSession,
    CallTool,
    Audit,
    Reload,
    Drain,
    Metrics,
    ListCalls,
    CallOffer,
    SimulateCall,
    ClientSecret,
    AttachCall,
    HangUp,
    Transfer,
}

/// The schema of a body type, registered in the generator's definitions.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// What a route answers with on success.
#[derive(Clone, Copy)]
pub enum Reply {
    /// One JSON value of this type.
    Json(SchemaFn),
    /// Newline-delimited JSON, one value of this type per line.
    Ndjson(SchemaFn),
    /// Prometheus text exposition.
    Metrics,
    /// An SDP answer (`application/sdp`), with the call in `Location`.
    Sdp,
    /// A WebSocket (`101 Switching Protocols`): binary frames of PCM16
    /// little-endian mono 24 kHz both ways, JSON text frames for control.
    WebSocket,
}

/// A query parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// As written in the query string.
    pub name: &'static str,
    /// JSON Schema type: `string`, `integer` or `boolean`.
    pub kind: &'static str,
    /// What it selects.
    pub description: &'static str,
}

/// One route.
#[derive(Clone, Copy)]
pub struct RouteSpec {
    /// Which route it is.
    pub id: RouteId,
    /// `GET`, `POST` or `DELETE`.
    pub method: &'static str,
    /// With `{name}` for each path parameter.
    pub path: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// The JSON body it reads, if any (an empty body reads as `{}`).
    pub body: Option<SchemaFn>,
    /// Its body is an SDP offer (`application/sdp`) instead of JSON.
    pub sdp_body: bool,
    /// The success status.
    pub status: u16,
    /// What it answers with on success.
    pub reply: Reply,
    /// The query parameters it takes (others are refused).
    pub query: &'static [Param],
}

impl std::fmt::Debug for RouteSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

const EVENTS_QUERY: &[Param] = &[
    Param {
        name: "since",
        kind: "integer",
        description: "First sequence number to send (default 0: everything still kept)",
    },
    Param {
        name: "follow",
        kind: "boolean",
        description: "Keep the stream open for new events (`1`/`true`)",
    },
];

const AGENT_QUERY: &[Param] = &[Param {
    name: "agent",
    kind: "string",
    description: "The agent to answer the call (default: the first agent)",
}];

const AUDIT_QUERY: &[Param] = &[
    Param {
        name: "session",
        kind: "string",
        description: "Only this session's calls",
    },
    Param {
        name: "tool",
        kind: "string",
        description: "Only tools matching this pattern (`calc.*`)",
    },
    Param {
        name: "since",
        kind: "integer",
        description: "Only calls from this time on, ms since the Unix epoch",
    },
    Param {
        name: "limit",
        kind: "integer",
        description: "At most this many calls (default 100, clamped)",
    },
];

macro_rules! route {
    ($id:ident, $method:literal, $path:literal, $status:literal, $summary:literal, body: $body:expr, reply: $reply:expr $(, query: $query:expr)?) => {
        RouteSpec {
            id: RouteId::$id,
            method: $method,
            path: $path,
            summary: $summary,
            body: $body,
            sdp_body: false,
            status: $status,
            reply: $reply,
            query: route!(@query $($query)?),
        }
    };
    (@query) => { &[] };
    (@query $q:expr) => { $q };
}

/// Every route. Where two patterns match one path, the earlier wins
/// (`/v1/approvals/remembered` before `/v1/approvals/{call_id}`); for one
/// path, methods are listed in the order a 405's `Allow` names them.
pub const ROUTES: &[RouteSpec] = &[
    route!(Status, "GET", "/v1/status", 200, "The daemon, its agents and plugins, the last reload",
        body: None, reply: Reply::Json(schema::<Status>)),
    route!(Plugins, "GET", "/v1/plugins", 200, "Plugins, loaded or failed",
        body: None, reply: Reply::Json(schema::<Vec<PluginSummary>>)),
    route!(Agents, "GET", "/v1/agents", 200, "Agents with their tools",
        body: None, reply: Reply::Json(schema::<Vec<AgentSummary>>)),
    route!(ListSessions, "GET", "/v1/sessions", 200, "Every session, oldest first",
        body: None, reply: Reply::Json(schema::<Vec<SessionSummary>>)),
    route!(StartSession, "POST", "/v1/sessions", 201, "Start a session",
        body: Some(schema::<StartSession>), reply: Reply::Json(schema::<SessionStarted>)),
    route!(GetSession, "GET", "/v1/sessions/{id}", 200, "One session's status",
        body: None, reply: Reply::Json(schema::<SessionStatus>)),
    route!(CloseSession, "DELETE", "/v1/sessions/{id}", 200, "Close a session",
        body: None, reply: Reply::Json(schema::<Closed>)),
    route!(SendMessage, "POST", "/v1/sessions/{id}/messages", 202, "Send a user message",
        body: Some(schema::<SendMessage>), reply: Reply::Json(schema::<Accepted>)),
    route!(SendAudio, "POST", "/v1/sessions/{id}/audio", 202, "Append (and commit) user audio",
        body: Some(schema::<SendAudio>), reply: Reply::Json(schema::<Accepted>)),
    route!(AudioRelay, "GET", "/v1/sessions/{id}/audio", 101, "Talk to the session over a WebSocket (`Upgrade: websocket`): PCM16 24 kHz both ways, `commit` and `playback` as JSON text frames; operators only",
        body: None, reply: Reply::WebSocket),
    route!(Interrupt, "POST", "/v1/sessions/{id}/interrupt", 202, "Interrupt the model's response",
        body: None, reply: Reply::Json(schema::<Accepted>)),
    route!(Playback, "POST", "/v1/sessions/{id}/playback", 202, "Report how much audio was played",
        body: Some(schema::<Playback>), reply: Reply::Json(schema::<Accepted>)),
    route!(SetAgent, "POST", "/v1/sessions/{id}/agent", 200, "Switch the session's agent",
        body: Some(schema::<SetAgent>), reply: Reply::Json(schema::<AgentSet>)),
    route!(History, "GET", "/v1/sessions/{id}/history", 200, "The conversation, as Realtime protocol items",
        body: None, reply: Reply::Json(schema::<Vec<Value>>)),
    route!(Events, "GET", "/v1/sessions/{id}/events", 200, "The session's events, one JSON line each",
        body: None, reply: Reply::Ndjson(schema::<StreamItem>), query: EVENTS_QUERY),
    route!(AllEvents, "GET", "/v1/events", 200, "Every session's events, live, each naming its session (`follow=1` required)",
        body: None, reply: Reply::Ndjson(schema::<StreamItem>), query: EVENTS_QUERY),
    route!(ListApprovals, "GET", "/v1/approvals", 200, "Every call waiting for a person, daemon-wide",
        body: None, reply: Reply::Json(schema::<Vec<PendingApproval>>)),
    route!(Remembered, "GET", "/v1/approvals/remembered", 200, "Answers remembered per agent",
        body: None, reply: Reply::Json(schema::<Vec<RememberedAnswer>>)),
    route!(Forget, "POST", "/v1/approvals/remembered/forget", 200, "Drop remembered answers",
        body: Some(schema::<Forget>), reply: Reply::Json(schema::<Forgotten>)),
    route!(Decide, "POST", "/v1/approvals/{call_id}", 200, "Approve or reject a waiting call",
        body: Some(schema::<Decision>), reply: Reply::Json(schema::<Decided>)),
    route!(Explain, "POST", "/v1/policy/explain", 200, "Which rule would decide a call, without running it",
        body: Some(schema::<Explain>), reply: Reply::Json(schema::<PolicyExplanation>)),
    route!(JournalSession, "GET", "/v1/journal/sessions/{id}", 200, "A session and its final conversation, from the journal",
        body: None, reply: Reply::Json(schema::<JournalSession>)),
    route!(CallTool, "POST", "/v1/tools/{tool}/call", 200, "Run `plugin.tool` in its sandbox, without a model",
        body: Some(schema::<CallTool>), reply: Reply::Json(schema::<ToolCallResult>)),
    route!(Audit, "GET", "/v1/audit", 200, "Tool calls from the journal, newest first",
        body: None, reply: Reply::Json(schema::<Vec<AuditCall>>), query: AUDIT_QUERY),
    route!(Reload, "POST", "/v1/reload", 200, "Re-read agents.toml and the plugins (422 lists every error)",
        body: None, reply: Reply::Json(schema::<ReloadReport>)),
    route!(Drain, "POST", "/v1/drain", 202, "Drain and stop, as SIGTERM does",
        body: None, reply: Reply::Json(schema::<Draining>)),
    route!(Metrics, "GET", "/metrics", 200, "Prometheus metrics (text exposition)",
        body: None, reply: Reply::Metrics),
    route!(ListCalls, "GET", "/v1/calls", 200, "Phone and browser calls, with how each ended",
        body: None, reply: Reply::Json(schema::<Vec<CallStatus>>)),
    RouteSpec {
        sdp_body: true,
        ..route!(CallOffer, "POST", "/v1/calls", 201, "A browser's SDP offer for an agent (WebRTC signalling): the SDP answer, the call in `Location`",
            body: None, reply: Reply::Sdp, query: AGENT_QUERY)
    },
    route!(SimulateCall, "POST", "/v1/calls/simulate", 200, "Make the offline model ring the daemon's own webhook",
        body: Some(schema::<Simulate>), reply: Reply::Json(schema::<Value>)),
    route!(ClientSecret, "POST", "/v1/client_secrets", 200, "An ephemeral key with an agent's settings, for a client that calls the provider itself",
        body: None, reply: Reply::Json(schema::<Value>), query: AGENT_QUERY),
    route!(AttachCall, "POST", "/v1/calls/{call_id}/attach", 201, "Attach a sideband session to a call a client started (once per call id)",
        body: None, reply: Reply::Json(schema::<Value>), query: AGENT_QUERY),
    route!(HangUp, "POST", "/v1/calls/{call_id}/hangup", 200, "Hang a call up",
        body: None, reply: Reply::Json(schema::<CallStatus>)),
    route!(Transfer, "POST", "/v1/calls/{call_id}/transfer", 200, "Transfer a call (SIP REFER) to an allowed target",
        body: Some(schema::<Transfer>), reply: Reply::Json(schema::<CallStatus>)),
];

/// What a request's method and path match.
#[derive(Debug)]
pub enum Match<'p> {
    /// The route, and its path parameters in order.
    Found(&'static RouteSpec, Vec<&'p str>),
    /// The path is known but not with this method; the methods it takes.
    WrongMethod(Vec<&'static str>),
    /// No route has this path.
    NotFound,
}

/// The path parameters of `path` if it matches `pattern`.
fn params<'p>(pattern: &str, path: &'p str) -> Option<Vec<&'p str>> {
    let mut want = pattern.trim_matches('/').split('/');
    let mut got = path.trim_matches('/').split('/');
    let mut out = Vec::new();
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(out),
            (Some(w), Some(g)) if w.starts_with('{') && !g.is_empty() => out.push(g),
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

/// The route for `method path` (the path without its query).
pub fn find<'p>(method: &str, path: &'p str) -> Match<'p> {
    let mut allow = Vec::new();
    for r in ROUTES {
        if let Some(p) = params(r.path, path) {
            if r.method == method {
                return Match::Found(r, p);
            }
            if !allow.contains(&r.method) {
                allow.push(r.method);
            }
        }
    }
    if allow.is_empty() {
        Match::NotFound
    } else {
        Match::WrongMethod(allow)
    }
}

impl RouteId {
    /// This route's entry in [`ROUTES`].
    pub fn spec(self) -> &'static RouteSpec {
        // Every id has an entry (`every_id_has_one_entry` checks it).
        ROUTES.iter().find(|r| r.id == self).unwrap_or(&ROUTES[0])
    }

    /// The route's path with `params` filled in, in order.
    pub fn path(self, params: &[&str]) -> String {
        let mut out = String::new();
        let mut next = params.iter();
        for seg in self.spec().path.trim_start_matches('/').split('/') {
            out.push('/');
            if seg.starts_with('{') {
                out.push_str(next.next().copied().unwrap_or_default());
            } else {
                out.push_str(seg);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_has_one_entry() {
        let ids = [
            RouteId::Status,
            RouteId::Plugins,
            RouteId::Agents,
            RouteId::ListSessions,
            RouteId::StartSession,
            RouteId::GetSession,
            RouteId::CloseSession,
            RouteId::SendMessage,
            RouteId::SendAudio,
            RouteId::AudioRelay,
            RouteId::Interrupt,
            RouteId::Playback,
            RouteId::SetAgent,
            RouteId::History,
            RouteId::Events,
            RouteId::AllEvents,
            RouteId::ListApprovals,
            RouteId::Remembered,
            RouteId::Forget,
            RouteId::Decide,
            RouteId::Explain,
            RouteId::JournalSession,
            RouteId::CallTool,
            RouteId::Audit,
            RouteId::Reload,
            RouteId::Drain,
            RouteId::Metrics,
            RouteId::ListCalls,
            RouteId::CallOffer,
            RouteId::SimulateCall,
            RouteId::ClientSecret,
            RouteId::AttachCall,
            RouteId::HangUp,
            RouteId::Transfer,
        ];
        assert_eq!(ids.len(), ROUTES.len());
        for id in ids {
            assert_eq!(ROUTES.iter().filter(|r| r.id == id).count(), 1, "{id:?}");
        }
    }

    #[test]
    fn paths_are_built_and_matched_from_the_same_pattern() {
        let path = RouteId::Events.path(&["s1"]);
        assert_eq!(path, "/v1/sessions/s1/events");
        match find("GET", &path) {
            Match::Found(r, p) => {
                assert_eq!(r.id, RouteId::Events);
                assert_eq!(p, ["s1"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            find("GET", "/v1/approvals/remembered"),
            Match::Found(r, _) if r.id == RouteId::Remembered
        ));
        assert!(matches!(
            find("POST", "/v1/approvals/remembered"),
            Match::Found(r, p) if r.id == RouteId::Decide && p == ["remembered"]
        ));
        assert!(matches!(
            find("GET", "/v1/sessions//events"),
            Match::NotFound
        ));
    }
}
