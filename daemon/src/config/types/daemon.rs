//! `[daemon]`: the settings that need a restart to change, and where the
//! socket and the state live when the file names none (`agentctl` uses the
//! same default socket, so both find each other without configuration).

use std::path::PathBuf;
use std::time::Duration;

/// `[daemon]`: settings that need a restart to change.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonConfig {
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    /// Compiled plugins, keyed by content hash and engine fingerprint.
    pub cache_dir: PathBuf,
    /// Reload automatically when the config or a plugin file changes.
    pub watch: bool,
    /// Folder scanned for `*.wasm` plugins not declared under `[plugins]`.
    pub plugin_dir: Option<PathBuf>,
    pub default_agent: Option<String>,
    /// Calls that may wait for a plugin instance at once, daemon-wide; one
    /// more fails at once with an error naming this limit.
    pub tool_queue: usize,
    /// `socket_group`: its name and id; members may use the control socket.
    pub socket_group: Option<(String, u32)>,
    /// `[daemon.http]`: the TCP listener, off when absent.
    pub http: Option<super::HttpConfig>,
    /// How long a drain (SIGTERM, `agentctl drain`) lets live calls go on.
    pub drain_timeout: Duration,
    /// How log lines are written; `None`: JSON under journald
    /// (`JOURNAL_STREAM` set), text elsewhere.
    pub log_format: Option<LogFormat>,
    /// Bytes all sessions' kept events may hold in memory; older ones spill
    /// to `<state_dir>/events`.
    pub event_memory: usize,
    /// When a journal commit is durable.
    pub journal_sync: JournalSync,
}

/// `[daemon] journal_sync`: SQLite's `synchronous` in WAL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JournalSync {
    /// `synchronous = NORMAL`: a commit survives the process being killed,
    /// not a power cut (the last commits may be lost then).
    #[default]
    Normal,
    /// `synchronous = FULL`: an fsync per commit; survives a power cut.
    Full,
}

/// Least `event_memory` accepted: one big audio event fits.
pub const MIN_EVENT_MEMORY: u64 = 1 << 20;

/// `[daemon] drain_timeout` when the file names none.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

/// `[daemon] log_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line, span fields (session, agent) merged in.
    Json,
}

/// Most calls `tool_queue` may let wait.
pub const MAX_TOOL_QUEUE: usize = 1 << 20;

/// Where the control socket lives when the config names none; `agentctl` looks there too.
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

/// Where state (journal, compiled plugin cache) lives when the config names none.
pub fn default_state_dir() -> PathBuf {
    // SAFETY: getuid has no preconditions and cannot fail.
    if unsafe { libc::getuid() } == 0 {
        return PathBuf::from("/var/lib/agentd");
    }
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("agentd");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/state/agentd"),
        None => std::env::temp_dir().join("agentd-state"),
    }
}
