//! Who a TCP client is: the bearer token it presents (compared in constant
//! time against the tokens `[daemon.http] tokens` loaded), or, for the
//! signalling routes only, an `Origin` on the allow-list. What each may do
//! is [`decide`]'s: viewers GET routes and event streams, operators
//! everything, browsers from allowed origins only WebRTC signalling; anything
//! else is refused with a body that says why.

use hyper::StatusCode;
use sha2::{Digest, Sha256};

use crate::config::{HttpConfig, Role, Token};
use crate::control::routes::Access;
use agentd_api::Identity;

/// The token `header` (an `Authorization` value) presents, if it is one of ours.
pub fn token<'a>(config: &'a HttpConfig, header: Option<&str>) -> Option<&'a Token> {
    let presented = header?.strip_prefix("Bearer ")?.trim();
    let want = Sha256::digest(presented.as_bytes());
    // Every token is compared, each in constant time, so the time taken says
    // nothing about which one (or how much of one) matched.
    let mut found = None;
    for t in &config.tokens {
        let have = Sha256::digest(t.secret.as_bytes());
        let diff = want
            .iter()
            .zip(have.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff == 0 {
            found = Some(t);
        }
    }
    found
}

/// A refusal: its status, code and why.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// Whether a client with `token` (or from `origin`) may use a route of `access`.
pub fn decide(
    config: &HttpConfig,
    access: Access,
    token: Option<&Token>,
    origin: Option<&str>,
) -> Result<Identity, Refusal> {
    match (token, access) {
        (Some(t), Access::Read | Access::Signalling) => Ok(Identity::Token(t.name.clone())),
        (Some(t), Access::Operate) if t.role == Role::Operator => Ok(Identity::Token(t.name.clone())),
        (Some(t), Access::Operate) => Err(Refusal {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            message: format!(
                "token `{}` is a {}: it may use GET routes and event streams only; this route needs an operator token",
                t.name,
                t.role.as_str()
            ),
        }),
        (None, Access::Signalling)
            if origin.is_some_and(|o| config.allow_origins.iter().any(|a| a == o)) =>
        {
            Ok(Identity::Origin(origin.unwrap_or_default().to_string()))
        }
        (None, _) => Err(Refusal {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: "this route needs a bearer token (`Authorization: Bearer …`) from [daemon.http] tokens".into(),
        }),
    }
}

/// Whether a WebSocket upgrade from `origin` may go on: a browser sends
/// its page's origin, which must be this listener's own (`Host` with either
/// scheme) or one of `allow_origins`; a client that is not a browser sends
/// none. Browsers attach cookies to cross-site WebSocket upgrades and no
/// CORS protects them, so this check is what keeps another site's page
/// from talking through a logged-in operator's browser.
pub fn same_origin(
    config: &HttpConfig,
    origin: Option<&str>,
    host: Option<&str>,
) -> Result<(), String> {
    let Some(origin) = origin else {
        return Ok(());
    };
    let own = host.is_some_and(|h| {
        origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            == Some(h)
    });
    if own || config.allow_origins.iter().any(|a| a == origin) {
        return Ok(());
    }
    Err(format!(
        "a WebSocket from origin `{origin}` is refused: only this listener's own origin and [daemon.http] allow_origins may open one"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> HttpConfig {
        let t = |name: &str, role, secret: &str| Token {
            name: name.into(),
            file: "/dev/null".into(),
            role,
            secret: secret.into(),
        };
        HttpConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: None,
            tokens: vec![
                t("ops", Role::Operator, "ops-secret-0123456789"),
                t("wall", Role::Viewer, "wall-secret-0123456789"),
            ],
            allow_origins: vec!["https://app.example".into()],
            max_body: 1024,
            rate_limit: 10,
            metrics_public: false,
        }
    }

    #[test]
    fn roles_decide_and_refusals_say_why() {
        let c = config();
        let ops = token(&c, Some("Bearer ops-secret-0123456789"));
        let wall = token(&c, Some("Bearer wall-secret-0123456789"));
        assert_eq!(ops.map(|t| t.name.as_str()), Some("ops"));
        assert!(token(&c, Some("Bearer nope")).is_none());
        assert!(token(&c, Some("ops-secret-0123456789")).is_none());
        assert_eq!(
            decide(&c, Access::Operate, ops, None),
            Ok(Identity::Token("ops".into()))
        );
        assert_eq!(
            decide(&c, Access::Read, wall, None),
            Ok(Identity::Token("wall".into()))
        );
        let r = decide(&c, Access::Operate, wall, None).unwrap_err();
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.message.contains("viewer"), "{}", r.message);
        assert_eq!(
            decide(&c, Access::Read, None, None).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            decide(&c, Access::Signalling, None, Some("https://app.example")),
            Ok(Identity::Origin("https://app.example".into()))
        );
        assert!(decide(&c, Access::Signalling, None, Some("https://evil.example")).is_err());
        assert!(decide(&c, Access::Read, None, Some("https://app.example")).is_err());
    }

    #[test]
    fn websocket_upgrades_come_from_our_origin_or_an_allowed_one() {
        let c = config();
        let host = Some("127.0.0.1:8080");
        assert!(same_origin(&c, None, host).is_ok());
        assert!(same_origin(&c, Some("http://127.0.0.1:8080"), host).is_ok());
        assert!(same_origin(&c, Some("https://127.0.0.1:8080"), host).is_ok());
        assert!(same_origin(&c, Some("https://app.example"), host).is_ok());
        let why = same_origin(&c, Some("https://evil.example"), host).unwrap_err();
        assert!(why.contains("evil.example"), "{why}");
        assert!(same_origin(&c, Some("http://127.0.0.1:8080"), None).is_err());
        assert!(same_origin(&c, Some("http://127.0.0.1:8080.evil"), host).is_err());
    }
}
