//! Who did something: the identity every decision and state change made
//! through the API is recorded with.
//!
//! Written the way the journal and the logs show it: `uid:1000 (alice)` for
//! a client on the Unix socket (its peer credentials, with the user name when
//! the system knows it), `token:ops` for a client with a bearer token, and
//! `timeout` or `policy` for what the daemon decided by itself. It travels as
//! that string, so a journal row, a log line and an API field read the same.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Who made a decision or a change.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// A client of the Unix socket, by its peer credentials.
    Uid {
        /// The client's user id.
        uid: u32,
        /// Its user name, when the system has one.
        name: Option<String>,
    },
    /// A client that presented the bearer token of this name.
    Token(String),
    /// A browser from an allowed `Origin` (WebRTC signalling only).
    Origin(String),
    /// An approval that was not answered in time.
    Timeout,
    /// The approval policy (or a remembered decision) decided.
    Policy,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Uid {
                uid,
                name: Some(name),
            } => write!(f, "uid:{uid} ({name})"),
            Identity::Uid { uid, name: None } => write!(f, "uid:{uid}"),
            Identity::Token(name) => write!(f, "token:{name}"),
            Identity::Origin(origin) => write!(f, "origin:{origin}"),
            Identity::Timeout => f.write_str("timeout"),
            Identity::Policy => f.write_str("policy"),
        }
    }
}

/// Why a string is not an [`Identity`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not an identity (expected uid:N, uid:N (name), token:NAME, origin:URL, timeout or policy)"
)]
pub struct IdentityError(String);

impl FromStr for Identity {
    type Err = IdentityError;

    fn from_str(s: &str) -> Result<Identity, IdentityError> {
        let bad = || IdentityError(s.to_string());
        match s {
            "timeout" => return Ok(Identity::Timeout),
            "policy" => return Ok(Identity::Policy),
            _ => {}
        }
        if let Some(name) = s.strip_prefix("token:") {
            return if name.is_empty() {
                Err(bad())
            } else {
                Ok(Identity::Token(name.to_string()))
            };
        }
        if let Some(origin) = s.strip_prefix("origin:") {
            return if origin.is_empty() {
                Err(bad())
            } else {
                Ok(Identity::Origin(origin.to_string()))
            };
        }
        let rest = s.strip_prefix("uid:").ok_or_else(bad)?;
        let (uid, name) = match rest.split_once(' ') {
            Some((uid, name)) => {
                let name = name
                    .strip_prefix('(')
                    .and_then(|n| n.strip_suffix(')'))
                    .filter(|n| !n.is_empty())
                    .ok_or_else(bad)?;
                (uid, Some(name.to_string()))
            }
            None => (rest, None),
        };
        let uid = uid.parse().map_err(|_| bad())?;
        Ok(Identity::Uid { uid, name })
    }
}

impl schemars::JsonSchema for Identity {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Identity".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Who acted: `uid:N (name)`, `token:NAME`, `timeout` or `policy`.",
            "type": "string"
        })
    }
}

impl Serialize for Identity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Identity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Identity, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_read_back_as_they_are_written() {
        let cases = [
            (
                Identity::Uid {
                    uid: 1000,
                    name: Some("alice".into()),
                },
                "uid:1000 (alice)",
            ),
            (Identity::Uid { uid: 0, name: None }, "uid:0"),
            (Identity::Token("ops".into()), "token:ops"),
            (
                Identity::Origin("https://app.example".into()),
                "origin:https://app.example",
            ),
            (Identity::Timeout, "timeout"),
            (Identity::Policy, "policy"),
        ];
        for (id, text) in cases {
            assert_eq!(id.to_string(), text);
            assert_eq!(text.parse::<Identity>(), Ok(id.clone()));
            assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{text}\""));
        }
        for bad in [
            "",
            "uid:",
            "uid:x",
            "uid:1 alice",
            "uid:1 ()",
            "token:",
            "operator",
        ] {
            assert!(bad.parse::<Identity>().is_err(), "{bad}");
        }
    }
}
