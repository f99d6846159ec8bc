//! Every request the API understands, as a typed [`Route`], parsed before
//! any state is touched.
//!
//! One `match` over the path's segments decides the resource; inside it,
//! the method decides the route. A known path asked with another method is
//! a 405 listing the methods it takes (from the same arm, so the list cannot
//! drift from the routes); an unknown path is a 404. Query strings are
//! parsed by the API crate's typed queries (percent-decoded, unknown keys
//! refused). Path segments are taken as they are: ids never need escaping.

use hyper::Method;

use super::errors::ApiError;
use agentd_api::query::{AuditQuery, EventsQuery};

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
}

const GET: &[Method] = &[Method::GET];
const POST: &[Method] = &[Method::POST];

/// The route for `method path?query`.
pub fn parse(method: &Method, path: &str, query: Option<&str>) -> Result<Route, ApiError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let not_allowed = |allow| Err(ApiError::method_not_allowed(method, path, allow));
    // A path that takes one method.
    let only = |allow: &'static [Method], route: &dyn Fn() -> Result<Route, ApiError>| {
        if allow.contains(method) {
            route()
        } else {
            not_allowed(allow)
        }
    };
    let id = |s: &str| s.to_string();
    match segments.as_slice() {
        ["v1", "status"] => only(GET, &|| Ok(Route::Status)),
        ["v1", "plugins"] => only(GET, &|| Ok(Route::Plugins)),
        ["v1", "agents"] => only(GET, &|| Ok(Route::Agents)),
        ["v1", "sessions"] => match *method {
            Method::GET => Ok(Route::ListSessions),
            Method::POST => Ok(Route::StartSession),
            _ => not_allowed(&[Method::GET, Method::POST]),
        },
        ["v1", "sessions", s] => match *method {
            Method::GET => Ok(Route::GetSession(id(s))),
            Method::DELETE => Ok(Route::CloseSession(id(s))),
            _ => not_allowed(&[Method::GET, Method::DELETE]),
        },
        ["v1", "sessions", s, "messages"] => only(POST, &|| Ok(Route::SendMessage(id(s)))),
        ["v1", "sessions", s, "audio"] => only(POST, &|| Ok(Route::SendAudio(id(s)))),
        ["v1", "sessions", s, "interrupt"] => only(POST, &|| Ok(Route::Interrupt(id(s)))),
        ["v1", "sessions", s, "playback"] => only(POST, &|| Ok(Route::Playback(id(s)))),
        ["v1", "sessions", s, "agent"] => only(POST, &|| Ok(Route::SetAgent(id(s)))),
        ["v1", "sessions", s, "history"] => only(GET, &|| Ok(Route::History(id(s)))),
        ["v1", "sessions", s, "events"] => only(GET, &|| {
            Ok(Route::Events {
                id: id(s),
                query: EventsQuery::parse(query)?,
            })
        }),
        ["v1", "events"] => only(GET, &|| {
            let q = EventsQuery::parse(query)?;
            if !q.follow || q.since > 1 {
                return Err(ApiError::bad_request(
                    "GET /v1/events is live only: ask with follow=1 and no since \
                     (each session's own stream, /v1/sessions/{id}/events, has since)",
                ));
            }
            Ok(Route::AllEvents)
        }),
        ["v1", "approvals"] => only(GET, &|| Ok(Route::ListApprovals)),
        ["v1", "approvals", "remembered"] if *method == Method::GET => Ok(Route::Remembered),
        ["v1", "approvals", "remembered", "forget"] => only(POST, &|| Ok(Route::Forget)),
        ["v1", "approvals", call_id] => only(POST, &|| Ok(Route::Decide(id(call_id)))),
        ["v1", "policy", "explain"] => only(POST, &|| Ok(Route::Explain)),
        ["v1", "journal", "sessions", s] => only(GET, &|| Ok(Route::JournalSession(id(s)))),
        ["v1", "tools", tool, "call"] => only(POST, &|| Ok(Route::CallTool(id(tool)))),
        ["v1", "audit"] => only(GET, &|| {
            let q = AuditQuery::parse(query)?;
            Ok(Route::Audit {
                limit: q.limit_clamped(),
                session: q.session,
                tool: q.tool,
                since_ms: q.since,
            })
        }),
        ["v1", "reload"] => only(POST, &|| Ok(Route::Reload)),
        _ => Err(ApiError::not_found(format!("no route for {method} {path}"))),
    }
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
