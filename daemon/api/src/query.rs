//! Query strings of the control API, as typed structs.
//!
//! Parsing percent-decodes keys and values (`application/x-www-form-urlencoded`,
//! so `+` is a space), and refuses what it does not understand: an unknown
//! key is an error naming it and the keys allowed, a key given twice is an
//! error, a value of the wrong kind is an error naming the key and the value.
//! [`EventsQuery::to_query_string`] and [`AuditQuery::to_query_string`] write
//! what the parsers read, percent-encoded, for clients.

/// `GET /v1/audit` returns at most this many calls when `limit` is absent…
pub const AUDIT_LIMIT_DEFAULT: usize = 100;
/// …and never more than this many: a larger `limit` is clamped to it (as a
/// `limit` of 0 is raised to 1), so no request makes the journal read and
/// send an unbounded number of rows.
pub const AUDIT_LIMIT_MAX: usize = 1000;

/// A query string the API does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A key this route does not take.
    #[error("unknown query parameter `{key}`; expected {expected}")]
    UnknownKey {
        /// The key given.
        key: String,
        /// The keys the route takes, for people.
        expected: &'static str,
    },
    /// A key given more than once.
    #[error("query parameter `{key}` is given more than once")]
    Repeated {
        /// The key.
        key: &'static str,
    },
    /// A value of the wrong kind.
    #[error("{key}=`{value}` is not {expected}")]
    BadValue {
        /// The key.
        key: &'static str,
        /// The value given (decoded).
        value: String,
        /// What the value should be, for people.
        expected: &'static str,
    },
}

/// `GET /v1/sessions/{id}/events?since=N&follow=1`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventsQuery {
    /// The first sequence number wanted (0 and 1 both mean from the start).
    pub since: u64,
    /// Keep the stream open for new events until the session ends.
    pub follow: bool,
}

impl EventsQuery {
    const KEYS: &'static str = "since or follow";

    /// Parse the query string of the URI (without the `?`), if any.
    pub fn parse(query: Option<&str>) -> Result<EventsQuery, QueryError> {
        let mut q = EventsQuery::default();
        let mut seen = Seen::default();
        for (key, value) in pairs(query) {
            match &*key {
                "since" => {
                    seen.once("since")?;
                    q.since = value.parse().map_err(|_| QueryError::BadValue {
                        key: "since",
                        value: value.into_owned(),
                        expected: "a sequence number",
                    })?;
                }
                "follow" => {
                    seen.once("follow")?;
                    q.follow = flag("follow", &value)?;
                }
                _ => return Err(unknown(key, Self::KEYS)),
            }
        }
        Ok(q)
    }

    /// The query string (without the `?`) that [`EventsQuery::parse`] reads back.
    pub fn to_query_string(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        s.append_pair("since", &self.since.to_string());
        if self.follow {
            s.append_pair("follow", "1");
        }
        s.finish()
    }
}

/// `GET /v1/audit?session=ID&tool=GLOB&since=MS&limit=N`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this session's calls.
    pub session: Option<String>,
    /// Only calls of tools this pattern matches (`pay.*`, `*.read`).
    pub tool: Option<String>,
    /// Only calls decided at or after this time (ms since the Unix epoch).
    pub since: Option<u64>,
    /// At most this many calls, newest first; see [`AuditQuery::limit_clamped`].
    pub limit: Option<u64>,
}

impl AuditQuery {
    const KEYS: &'static str = "session, tool, since or limit";

    /// Parse the query string of the URI (without the `?`), if any. A
    /// `limit` too large for any integer is not an error: it is clamped.
    pub fn parse(query: Option<&str>) -> Result<AuditQuery, QueryError> {
        let mut q = AuditQuery::default();
        let mut seen = Seen::default();
        for (key, value) in pairs(query) {
            match &*key {
                "session" => {
                    seen.once("session")?;
                    q.session = Some(value.into_owned());
                }
                "tool" => {
                    seen.once("tool")?;
                    q.tool = Some(value.into_owned());
                }
                "since" => {
                    seen.once("since")?;
                    q.since = Some(value.parse().map_err(|_| QueryError::BadValue {
                        key: "since",
                        value: value.into_owned(),
                        expected: "a time in ms since the Unix epoch",
                    })?);
                }
                "limit" => {
                    seen.once("limit")?;
                    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
                    if !digits {
                        return Err(QueryError::BadValue {
                            key: "limit",
                            value: value.into_owned(),
                            expected: "a number",
                        });
                    }
                    // All digits: the only way parsing fails is overflow.
                    q.limit = Some(value.parse().unwrap_or(u64::MAX));
                }
                _ => return Err(unknown(key, Self::KEYS)),
            }
        }
        Ok(q)
    }

    /// The number of calls to return: `limit` (or [`AUDIT_LIMIT_DEFAULT`])
    /// clamped to `1..=`[`AUDIT_LIMIT_MAX`].
    pub fn limit_clamped(&self) -> usize {
        self.limit.map_or(AUDIT_LIMIT_DEFAULT, |n| {
            usize::try_from(n)
                .unwrap_or(usize::MAX)
                .clamp(1, AUDIT_LIMIT_MAX)
        })
    }

    /// The query string (without the `?`) that [`AuditQuery::parse`] reads
    /// back; empty when neither field is set.
    pub fn to_query_string(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        if let Some(limit) = self.limit {
            s.append_pair("limit", &limit.to_string());
        }
        if let Some(session) = &self.session {
            s.append_pair("session", session);
        }
        if let Some(tool) = &self.tool {
            s.append_pair("tool", tool);
        }
        if let Some(since) = self.since {
            s.append_pair("since", &since.to_string());
        }
        s.finish()
    }
}

/// `POST /v1/calls?agent=NAME`, `/v1/client_secrets?agent=NAME`, `/v1/calls/{id}/attach?agent=NAME`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentQuery {
    /// The agent that answers (the default agent when absent).
    pub agent: Option<String>,
}

impl AgentQuery {
    /// Parse the query string of the URI (without the `?`), if any.
    pub fn parse(query: Option<&str>) -> Result<AgentQuery, QueryError> {
        let mut q = AgentQuery::default();
        let mut seen = Seen::default();
        for (key, value) in pairs(query) {
            match &*key {
                "agent" => {
                    seen.once("agent")?;
                    q.agent = Some(value.into_owned());
                }
                _ => return Err(unknown(key, "agent")),
            }
        }
        Ok(q)
    }
}

type Pair<'a> = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>);

fn pairs(query: Option<&str>) -> impl Iterator<Item = Pair<'_>> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
}

fn unknown(key: std::borrow::Cow<'_, str>, expected: &'static str) -> QueryError {
    QueryError::UnknownKey {
        key: key.into_owned(),
        expected,
    }
}

/// `?follow`, `follow=1` and `follow=true` turn a flag on; `0` and `false` off.
fn flag(key: &'static str, value: &str) -> Result<bool, QueryError> {
    match value {
        "" | "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(QueryError::BadValue {
            key,
            value: value.to_string(),
            expected: "1 or 0",
        }),
    }
}

/// Keys seen so far in one query string.
#[derive(Default)]
struct Seen(Vec<&'static str>);

impl Seen {
    fn once(&mut self, key: &'static str) -> Result<(), QueryError> {
        if self.0.contains(&key) {
            return Err(QueryError::Repeated { key });
        }
        self.0.push(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_queries_parse() {
        let cases: &[(Option<&str>, EventsQuery)] = &[
            (None, EventsQuery::default()),
            (Some(""), EventsQuery::default()),
            (
                Some("since=5&follow=1"),
                EventsQuery {
                    since: 5,
                    follow: true,
                },
            ),
            (
                Some("follow"),
                EventsQuery {
                    since: 0,
                    follow: true,
                },
            ),
            (Some("follow=false&since=0"), EventsQuery::default()),
            (
                Some("s%69nce=%37"),
                EventsQuery {
                    since: 7,
                    follow: false,
                },
            ),
        ];
        for (q, want) in cases {
            assert_eq!(&EventsQuery::parse(*q).unwrap(), want, "{q:?}");
        }
    }

    #[test]
    fn audit_queries_parse_percent_decoded_and_clamp_the_limit() {
        let q = AuditQuery::parse(Some("session=s1%2Dab%20c+d&limit=7")).unwrap();
        assert_eq!(q.session.as_deref(), Some("s1-ab c d"));
        assert_eq!(q.limit_clamped(), 7);
        let cases: &[(&str, usize)] = &[
            ("", AUDIT_LIMIT_DEFAULT),
            ("limit=0", 1),
            ("limit=1000", AUDIT_LIMIT_MAX),
            ("limit=1001", AUDIT_LIMIT_MAX),
            ("limit=18446744073709551615", AUDIT_LIMIT_MAX),
            ("limit=99999999999999999999999999", AUDIT_LIMIT_MAX),
        ];
        for (q, want) in cases {
            assert_eq!(
                AuditQuery::parse(Some(q)).unwrap().limit_clamped(),
                *want,
                "{q}"
            );
        }
    }

    #[test]
    fn bad_queries_name_the_problem() {
        let cases: &[(Result<(), QueryError>, &str)] = &[
            (
                EventsQuery::parse(Some("folow=1")).map(drop),
                "unknown query parameter `folow`; expected since or follow",
            ),
            (
                EventsQuery::parse(Some("since=x")).map(drop),
                "since=`x` is not a sequence number",
            ),
            (
                EventsQuery::parse(Some("follow=yes")).map(drop),
                "follow=`yes` is not 1 or 0",
            ),
            (
                EventsQuery::parse(Some("since=1&since=2")).map(drop),
                "query parameter `since` is given more than once",
            ),
            (
                AuditQuery::parse(Some("limit=-1")).map(drop),
                "limit=`-1` is not a number",
            ),
            (
                AuditQuery::parse(Some("sesion=s1")).map(drop),
                "unknown query parameter `sesion`; expected session, tool, since or limit",
            ),
            (
                AuditQuery::parse(Some("%73ession=a&session=b")).map(drop),
                "query parameter `session` is given more than once",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got.as_ref().unwrap_err().to_string(), *want);
        }
    }

    #[test]
    fn query_strings_read_back_as_written() {
        for q in [
            EventsQuery::default(),
            EventsQuery {
                since: 42,
                follow: true,
            },
        ] {
            assert_eq!(EventsQuery::parse(Some(&q.to_query_string())).unwrap(), q);
        }
        assert_eq!(AuditQuery::default().to_query_string(), "");
        let q = AuditQuery {
            session: Some("s 1&limit=2+x".into()),
            limit: Some(50),
            ..AuditQuery::default()
        };
        let text = q.to_query_string();
        assert_eq!(text, "limit=50&session=s+1%26limit%3D2%2Bx");
        assert_eq!(AuditQuery::parse(Some(&text)).unwrap(), q);
        let q = AuditQuery {
            tool: Some("pay.*".into()),
            since: Some(1_764_072_000_000),
            ..AuditQuery::default()
        };
        assert_eq!(AuditQuery::parse(Some(&q.to_query_string())).unwrap(), q);
        assert_eq!(
            AuditQuery::parse(Some("since=yesterday"))
                .unwrap_err()
                .to_string(),
            "since=`yesterday` is not a time in ms since the Unix epoch"
        );
    }
}
