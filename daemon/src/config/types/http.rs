//! `[daemon.http]`: the TCP listener that carries the SIP webhook, the
//! WebRTC signalling routes and, by bearer token, the control API.

use std::net::SocketAddr;
use std::path::PathBuf;

/// What a bearer token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything.
    Operator,
    /// GET routes and event streams only.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }
}

/// One bearer token, read from its file at load.
#[derive(Clone, PartialEq)]
pub struct Token {
    pub name: String,
    pub file: PathBuf,
    pub role: Role,
    /// The secret itself; never printed (see `Debug`).
    pub secret: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("name", &self.name)
            .field("file", &self.file)
            .field("role", &self.role)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// `[daemon.http]`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// PEM certificate chain and key; both or neither.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub tokens: Vec<Token>,
    /// `Origin`s that may use the WebRTC signalling routes without a token.
    pub allow_origins: Vec<String>,
    pub max_body: usize,
    /// Requests per minute per client address.
    pub rate_limit: u32,
    /// `GET /metrics` answers without a token (a scraper on a private network).
    pub metrics_public: bool,
}

/// Default largest request body over TCP.
pub const DEFAULT_HTTP_MAX_BODY: usize = 1 << 20;
/// Default requests per minute per client address.
pub const DEFAULT_RATE_LIMIT: u32 = 600;
