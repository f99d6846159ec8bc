//! Every request the API understands, as a typed [`Route`], parsed before
//! any state is touched.
//!
//! The method and path are matched against the API crate's route table
//! (`agentd_api::routes`, also the source of the client's paths and of
//! docs/api/openapi.yaml); the id found becomes the typed route. A known
//! path asked with another method is a 405 listing the methods the table
//! gives it; an unknown path is a 404. Query strings are parsed by the API
//! crate's typed queries (percent-decoded, unknown keys refused).

use hyper::Method;

use super::errors::ApiError;
use agentd_api::query::{AgentQuery, AuditQuery, EventsQuery};
use agentd_api::routes::{self, Match, RouteId};

/// Every request the API understands.
#[derive(Debug, PartialEq)]
pub enum Route {
    Status,
    Plugins,
    Agents,
    ListSessions,
    StartSession,
    GetSession(String),
    CloseSession(String),
    SendMessage(String),
    SendAudio(String),
    /// The WebSocket audio relay of a session.
    AudioRelay(String),
    Interrupt(String),
    Playback(String),
    SetAgent(String),
    History(String),
    Events {
        id: String,
        query: EventsQuery,
    },
    Decide(String),
    /// Every session's events, live (`follow` is required).
    AllEvents,
    /// Every pending call, daemon-wide.
    ListApprovals,
    /// Answers remembered per agent.
    Remembered,
    /// Drop remembered answers.
    Forget,
    /// Which rule would decide a call.
    Explain,
    /// A session's record and conversation from the journal.
    JournalSession(String),
    /// At most `limit` calls (already clamped), newest first.
    Audit {
        session: Option<String>,
        tool: Option<String>,
        since_ms: Option<u64>,
        limit: usize,
    },
    /// Run a tool directly, without a model: `plugin.tool`.
    CallTool(String),
    Reload,
    /// Prometheus metrics (text exposition).
    Metrics,
    /// Stop taking sessions, let live calls finish, then stop.
    Drain,
    /// Phone and browser calls, with how each ended.
    ListCalls,
    /// A browser's SDP offer for an agent (WebRTC signalling).
    CallOffer {
        agent: Option<String>,
    },
    /// An ephemeral key with an agent's settings, for a browser that calls the provider itself.
    ClientSecret {
        agent: Option<String>,
    },
    /// Attach a sideband session to a call a client started (once per call id).
    AttachCall {
        call_id: String,
        agent: Option<String>,
    },
    /// Hang a call up.
    HangUp(String),
    /// Transfer a call (SIP REFER) to an allowed target.
    Transfer(String),
    /// Make the offline model ring the daemon's own webhook.
    SimulateCall,
}

/// Who may use a route on the TCP listener (the Unix socket's clients may use every route).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads and event streams: any token.
    Read,
    /// Signalling for browsers: any token, or an allowed `Origin`.
    Signalling,
    /// Everything else: operator tokens only.
    Operate,
}

impl Route {
    /// What a client over TCP needs to use this route.
    pub fn access(&self, method: &Method) -> Access {
        match self {
            Route::CallOffer { .. } | Route::ClientSecret { .. } => Access::Signalling,
            // A GET, but it sends the user's audio: operators only.
            Route::AudioRelay(_) => Access::Operate,
            // Policy explanations change nothing, but they are POSTs with a body:
            // kept to operators, like every other POST.
            _ if *method == Method::GET => Access::Read,
            _ => Access::Operate,
        }
    }
}

/// The route for `method path?query`: matched against the API crate's one
/// route table, then made typed here. The `match` is exhaustive over the
/// table's ids, so every route in the table is answered and nothing else is.
pub fn parse(method: &Method, path: &str, query: Option<&str>) -> Result<Route, ApiError> {
    let (spec, params) = match routes::find(method.as_str(), path) {
        Match::Found(spec, params) => (spec, params),
        Match::WrongMethod(allow) => {
            let allow = allow
                .iter()
                .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
                .collect();
            return Err(ApiError::method_not_allowed(method, path, allow));
        }
        Match::NotFound => {
            return Err(ApiError::not_found(format!("no route for {method} {path}")));
        }
    };
    // Path segments are taken as they are: ids never need escaping.
    let p = |i: usize| params.get(i).map_or_else(String::new, |s| s.to_string());
    Ok(match spec.id {
        RouteId::Status => Route::Status,
        RouteId::Plugins => Route::Plugins,
        RouteId::Agents => Route::Agents,
        RouteId::ListSessions => Route::ListSessions,
        RouteId::StartSession => Route::StartSession,
        RouteId::GetSession => Route::GetSession(p(0)),
        RouteId::CloseSession => Route::CloseSession(p(0)),
        RouteId::SendMessage => Route::SendMessage(p(0)),
        RouteId::SendAudio => Route::SendAudio(p(0)),
        RouteId::AudioRelay => Route::AudioRelay(p(0)),
        RouteId::Interrupt => Route::Interrupt(p(0)),
        RouteId::Playback => Route::Playback(p(0)),
        RouteId::SetAgent => Route::SetAgent(p(0)),
        RouteId::History => Route::History(p(0)),
        RouteId::Events => Route::Events {
            id: p(0),
            query: EventsQuery::parse(query)?,
        },
        RouteId::AllEvents => {
            let q = EventsQuery::parse(query)?;
            if !q.follow || q.since > 1 {
                return Err(ApiError::bad_request(
                    "GET /v1/events is live only: ask with follow=1 and no since \
                     (each session's own stream, /v1/sessions/{id}/events, has since)",
                ));
            }
            Route::AllEvents
        }
        RouteId::ListApprovals => Route::ListApprovals,
        RouteId::Remembered => Route::Remembered,
        RouteId::Forget => Route::Forget,
        RouteId::Decide => Route::Decide(p(0)),
        RouteId::Explain => Route::Explain,
        RouteId::JournalSession => Route::JournalSession(p(0)),
        RouteId::CallTool => Route::CallTool(p(0)),
        RouteId::Audit => {
            let q = AuditQuery::parse(query)?;
            Route::Audit {
                limit: q.limit_clamped(),
                session: q.session,
                tool: q.tool,
                since_ms: q.since,
            }
        }
        RouteId::Reload => Route::Reload,
        RouteId::Drain => Route::Drain,
        RouteId::Metrics => Route::Metrics,
        RouteId::ListCalls => Route::ListCalls,
        RouteId::CallOffer => Route::CallOffer {
            agent: AgentQuery::parse(query)?.agent,
        },
        RouteId::SimulateCall => Route::SimulateCall,
        RouteId::ClientSecret => Route::ClientSecret {
            agent: AgentQuery::parse(query)?.agent,
        },
        RouteId::AttachCall => Route::AttachCall {
            call_id: p(0),
            agent: AgentQuery::parse(query)?.agent,
        },
        RouteId::HangUp => Route::HangUp(p(0)),
        RouteId::Transfer => Route::Transfer(p(0)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentd_api::query::AUDIT_LIMIT_MAX;
    use hyper::StatusCode;

    #[test]
    fn routes_parse_into_typed_requests() {
        let cases: &[(Method, &str, Option<&str>, Route)] = &[
            (Method::GET, "/v1/status", None, Route::Status),
            (Method::GET, "/v1/plugins", None, Route::Plugins),
            (Method::GET, "/v1/agents", None, Route::Agents),
            (Method::GET, "/v1/sessions", None, Route::ListSessions),
            (Method::POST, "/v1/sessions", None, Route::StartSession),
            (
                Method::GET,
                "/v1/sessions/s1",
                None,
                Route::GetSession("s1".into()),
            ),
            (
                Method::DELETE,
                "/v1/sessions/s1",
                None,
                Route::CloseSession("s1".into()),
            ),
            (
                Method::POST,
                "/v1/sessions/s1/messages",
                None,
                Route::SendMessage("s1".into()),
            ),
            (
                Method::POST,
                "/v1/sessions/s1/audio",
                None,
                Route::SendAudio("s1".into()),
            ),
            (
                Method::POST,
                "/v1/sessions/s1/interrupt",
                None,
                Route::Interrupt("s1".into()),
            ),
            (
                Method::POST,
                "/v1/sessions/s1/playback",
                None,
                Route::Playback("s1".into()),
            ),
            (
                Method::POST,
                "/v1/sessions/s1/agent",
                None,
                Route::SetAgent("s1".into()),
            ),
            (
                Method::GET,
                "/v1/sessions/s1/history",
                None,
                Route::History("s1".into()),
            ),
            (
                Method::GET,
                "/v1/sessions/s1/events",
                Some("since=5&follow=1"),
                Route::Events {
                    id: "s1".into(),
                    query: EventsQuery {
                        since: 5,
                        follow: true,
                    },
                },
            ),
            (
                Method::GET,
                "/v1/sessions/s1/events",
                None,
                Route::Events {
                    id: "s1".into(),
                    query: EventsQuery::default(),
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
                "/v1/tools/calc.add/call",
                None,
                Route::CallTool("calc.add".into()),
            ),
            (
                Method::GET,
                "/v1/audit",
                None,
                Route::Audit {
                    session: None,
                    tool: None,
                    since_ms: None,
                    limit: 100,
                },
            ),
            (
                Method::GET,
                "/v1/audit",
                Some("session=s1%2D0a%2B1&limit=5"),
                Route::Audit {
                    session: Some("s1-0a+1".into()),
                    tool: None,
                    since_ms: None,
                    limit: 5,
                },
            ),
            (
                Method::GET,
                "/v1/audit",
                Some("limit=100000000000000000000000"),
                Route::Audit {
                    session: None,
                    tool: None,
                    since_ms: None,
                    limit: AUDIT_LIMIT_MAX,
                },
            ),
            (Method::POST, "/v1/reload", None, Route::Reload),
            (Method::POST, "/v1/drain", None, Route::Drain),
            (Method::GET, "/metrics", None, Route::Metrics),
            (Method::GET, "/v1/approvals", None, Route::ListApprovals),
            (
                Method::GET,
                "/v1/approvals/remembered",
                None,
                Route::Remembered,
            ),
            (
                Method::POST,
                "/v1/approvals/remembered/forget",
                None,
                Route::Forget,
            ),
            // A call id may be `remembered`: deciding it is a POST.
            (
                Method::POST,
                "/v1/approvals/remembered",
                None,
                Route::Decide("remembered".into()),
            ),
            (Method::POST, "/v1/policy/explain", None, Route::Explain),
            (
                Method::GET,
                "/v1/journal/sessions/s1",
                None,
                Route::JournalSession("s1".into()),
            ),
            (
                Method::GET,
                "/v1/audit",
                Some("tool=pay.*&since=5"),
                Route::Audit {
                    session: None,
                    tool: Some("pay.*".into()),
                    since_ms: Some(5),
                    limit: 100,
                },
            ),
        ];
        for (m, p, q, want) in cases {
            let got = parse(m, p, *q).unwrap_or_else(|e| panic!("{m} {p}: {e:?}"));
            assert_eq!(&got, want, "{m} {p}");
        }
    }

    #[test]
    fn a_known_path_with_the_wrong_method_is_405_with_allow() {
        let cases: &[(Method, &str, &[Method])] = &[
            (Method::PUT, "/v1/status", &[Method::GET]),
            (Method::POST, "/v1/plugins", &[Method::GET]),
            (Method::DELETE, "/v1/sessions", &[Method::GET, Method::POST]),
            (
                Method::POST,
                "/v1/sessions/s1",
                &[Method::GET, Method::DELETE],
            ),
            (Method::GET, "/v1/sessions/s1/messages", &[Method::POST]),
            (Method::POST, "/v1/sessions/s1/events", &[Method::GET]),
            (Method::GET, "/v1/approvals/call_1", &[Method::POST]),
            (Method::POST, "/v1/approvals", &[Method::GET]),
            (Method::GET, "/v1/policy/explain", &[Method::POST]),
            (Method::POST, "/v1/journal/sessions/s1", &[Method::GET]),
            (Method::GET, "/v1/tools/calc.add/call", &[Method::POST]),
            (Method::DELETE, "/v1/audit", &[Method::GET]),
            (Method::GET, "/v1/reload", &[Method::POST]),
            (Method::GET, "/v1/drain", &[Method::POST]),
            (Method::POST, "/metrics", &[Method::GET]),
            (
                Method::DELETE,
                "/v1/approvals/remembered",
                &[Method::GET, Method::POST],
            ),
        ];
        for (m, p, allow) in cases {
            let e = parse(m, p, None).unwrap_err();
            assert_eq!(e.status, StatusCode::METHOD_NOT_ALLOWED, "{m} {p}");
            assert_eq!(e.allow, *allow, "{m} {p}");
            assert!(
                e.message.contains(&format!("does not take {m}")),
                "{}",
                e.message
            );
        }
        // The method is checked before the query: a 405, not a 400.
        let e = parse(&Method::POST, "/v1/audit", Some("bogus=1")).unwrap_err();
        assert_eq!(e.status, StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn bad_routes_and_queries_are_clear_errors() {
        let e = parse(&Method::GET, "/v1/nothing", None).unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert!(e.message.contains("no route for GET /v1/nothing"));
        let e = parse(&Method::GET, "/v1/sessions/s1/events/more", None).unwrap_err();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("/v1/sessions/s/events", Some("since=x"), "since=`x`"),
            (
                "/v1/sessions/s/events",
                Some("folow=1"),
                "unknown query parameter `folow`; expected since or follow",
            ),
            (
                "/v1/audit",
                Some("sesion=s1"),
                "unknown query parameter `sesion`; expected session, tool, since or limit",
            ),
            (
                "/v1/audit",
                Some("limit=ten"),
                "limit=`ten` is not a number",
            ),
        ];
        for (p, q, want) in cases {
            let e = parse(&Method::GET, p, *q).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{p}?{q:?}");
            assert!(e.message.contains(want), "{p}?{q:?}: {}", e.message);
        }
    }
}
