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
    /// How instances are made and reused; a fresh one per call by default.
    pub instance: InstanceMode,
    pub at: Option<Written>,
}

/// Calls a reused instance serves before it is thrown away, by default.
pub const DEFAULT_RECYCLE_AFTER: u32 = 1000;
/// Idle instances a `per-session` plugin keeps at most (one per session).
pub const PER_SESSION_MAX: u32 = 32;

/// `instance = ...` of a plugin: a fresh instance per call (the default), or
/// instances reused within one session, recycled after `recycle_after` calls,
/// once their memory passes `recycle_memory`, or after any trap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InstanceMode {
    #[default]
    PerCall,
    /// Reused instances, each bound to one session while it lives; at most
    /// `max` alive for the plugin (`per-session` keeps [`PER_SESSION_MAX`]).
    Reused {
        max: u32,
        recycle_after: u32,
        /// Bytes of linear memory past which an instance is recycled after its call.
        recycle_memory: u64,
        /// Written as `"per-session"` rather than `{ pool = N }`.
        per_session: bool,
    },
}

impl fmt::Display for InstanceMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstanceMode::PerCall => f.write_str("per-call"),
            InstanceMode::Reused {
                per_session: true, ..
            } => f.write_str("per-session"),
            InstanceMode::Reused {
                max, recycle_after, ..
            } => write!(f, "pool of {max}, recycled after {recycle_after} calls"),
        }
    }
}
