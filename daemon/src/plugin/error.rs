//! What can go wrong in the plugin host, by phase: starting the host
//! ([`HostError`]), loading a plugin ([`LoadError`]), calling it ([`CallError`]).
//!
//! Every message names what it is about (the plugin, its file, the folder, the
//! setting to change), because these texts reach operators unchanged: in the
//! log, in `agentd check`, in `agentctl plugins`, and as the tool error the
//! model sees.

use std::path::PathBuf;
use std::time::Duration;

use super::cache::CacheDirError;

/// Why the plugin host could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot create the wasmtime engine: {0}")]
    Engine(String),
    #[error("cannot link WASI p2 into the plugin linker: {0}")]
    LinkWasi(String),
    #[error("cannot link wasi:http into the plugin linker: {0}")]
    LinkHttp(String),
    #[error("cannot link the host interface `agentd:plugin/host`: {0}")]
    LinkHost(String),
    #[error("cannot start the epoch ticker thread: {0}")]
    Ticker(std::io::Error),
    #[error(transparent)]
    CacheDir(#[from] CacheDirError),
    #[error("plugin host options: {0}")]
    Options(String),
}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("plugin `{plugin}`: cannot read {path}: {source}")]
    Read {
        plugin: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("plugin `{plugin}`: {path} is not a valid WebAssembly component: {reason}")]
    Compile {
        plugin: String,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "plugin `{plugin}`: {path} exports neither `agentd:plugin/tools` nor `agentd:plugin/guardrails` (this agentd loads {supported}); build it with agentd-plugin-sdk or against plugin-sdk/wit"
    )]
    NoExports {
        plugin: String,
        path: PathBuf,
        supported: String,
    },
    #[error(
        "plugin `{plugin}`: {path} is built against a contract version this agentd does not load ({found}); it loads {supported}"
    )]
    UnsupportedContract {
        plugin: String,
        path: PathBuf,
        found: String,
        supported: String,
    },
    #[error("plugin `{plugin}`: cannot link {path}: {reason}")]
    Link {
        plugin: String,
        path: PathBuf,
        reason: String,
    },
    #[error("plugin `{plugin}`: describing its exports failed: {reason}")]
    Describe { plugin: String, reason: String },
    #[error("plugin `{plugin}`: {reason}")]
    Invalid { plugin: String, reason: String },
}

/// Why a call into a plugin did not produce a result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The tool said its arguments were wrong.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The tool ran and reported a failure.
    #[error("{0}")]
    Failed(String),
    /// The guest trapped (a panic, an out-of-bounds access, a stack overflow…).
    #[error("the plugin crashed: {0}")]
    Trap(String),
    /// The call ran past its deadline and was stopped.
    #[error("the call took longer than its {0:?} limit and was stopped")]
    Timeout(Duration),
    /// The guest tried to use more memory than its cap.
    #[error("the plugin exceeded its memory limit of {0} bytes")]
    MemoryLimit(u64),
    /// The output was larger than the cap.
    #[error("the output ({size} bytes) is larger than the {limit}-byte limit")]
    OutputTooLarge { size: usize, limit: u64 },
    /// The plugin does not export what was asked for.
    #[error("{0}")]
    NotExported(String),
    /// Setting up the sandbox failed (e.g. a granted directory is gone).
    #[error("the sandbox could not start: {0}")]
    Instantiate(String),
    /// Every instance slot was busy and `limit` calls were already waiting
    /// for one, daemon-wide; the call was refused without waiting.
    #[error(
        "too many plugin calls at once: every instance slot is busy and {limit} calls already wait for one (the limit is `[daemon] tool_queue` = {limit})"
    )]
    QueueFull { limit: usize },
}

impl CallError {
    /// Whether the sandbox stopped the call (trap, deadline, cap), as opposed
    /// to the tool reporting an error itself.
    pub fn is_sandbox_stop(&self) -> bool {
        matches!(
            self,
            CallError::Trap(_)
                | CallError::Timeout(_)
                | CallError::MemoryLimit(_)
                | CallError::OutputTooLarge { .. }
                | CallError::Instantiate(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_names_its_limit_and_the_setting() {
        let msg = CallError::QueueFull { limit: 7 }.to_string();
        assert!(msg.contains("7 calls already wait"), "{msg}");
        assert!(msg.contains("`[daemon] tool_queue` = 7"), "{msg}");
        // Refused before it ran: not something the sandbox stopped.
        assert!(!CallError::QueueFull { limit: 7 }.is_sandbox_stop());
    }
}
