//! `[plugins.NAME]`: a plugin file and its sandbox: per-call limits plus the
//! grants (directories, environment, network destinations). What is not
//! granted here does not exist for the plugin (deny by default).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::Written;

/// What a plugin may use: per-call limits plus its grants. Everything not
/// granted here is invisible to the plugin (deny by default).
#[derive(Debug, Clone, PartialEq)]
pub struct Sandbox {
    pub memory: u64,
    pub timeout: Duration,
    pub max_output: u64,
    /// Host directories mapped into the guest.
    pub dirs: Vec<DirGrant>,
    /// Environment variables the guest sees (fixed values and inherited ones, resolved).
    pub env: Vec<(String, String)>,
    /// TCP destinations the guest may connect to; empty means no network at all.
    pub allow_hosts: Vec<HostPort>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox {
            memory: 64 << 20,
            timeout: Duration::from_secs(5),
            max_output: 1 << 20,
            dirs: Vec::new(),
            env: Vec::new(),
            allow_hosts: Vec::new(),
        }
    }
}

/// One `dirs` entry: a host directory, where the guest sees it, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// Absolute host path (resolved against the config file's folder).
    pub host: PathBuf,
    /// Absolute guest path, e.g. `/data`.
    pub guest: String,
    pub read_only: bool,
}

/// One `allow_hosts` entry: `api.example.com:443` or `127.0.0.1:8080`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl HostPort {
    /// Parse `host:port` (`[v6]:port` for IPv6 literals); the port is required.
    pub fn parse(text: &str) -> Result<HostPort, String> {
        let bad = || format!("`{text}` must be `host:port`, like `api.example.com:443`");
        let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() || host.contains(['/', ' ', '*']) {
            return Err(bad());
        }
        if host.contains(':') && host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad());
        }
        let port: u16 = port.parse().map_err(|_| bad())?;
        if port == 0 {
            return Err(format!("`{text}`: port 0 is not a destination"));
        }
        Ok(HostPort {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

/// Largest memory cap a plugin may ask for; the engine's instance pool is sized for it.
pub const MAX_PLUGIN_MEMORY: u64 = 1 << 30;

/// `[plugins.NAME]` (or a file found in `plugin_dir`).
#[derive(Debug, Clone, PartialEq)]
pub struct PluginConfig {
    pub name: String,
    pub path: PathBuf,
    pub sandbox: Sandbox,
    pub at: Option<Written>,
}
