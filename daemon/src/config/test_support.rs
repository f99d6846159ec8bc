//! Helpers shared by the config tests: parse a snippet as if from
//! `/etc/agentd/agents.toml` (or another path) and look at its diagnostics.

use std::path::Path;

use super::{Config, ConfigError};

pub(super) fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/agentd/agents.toml"), text)
}

pub(super) fn messages(text: &str) -> Vec<String> {
    messages_at(Path::new("/etc/agentd/agents.toml"), text)
}

/// The diagnostics for `text` read as if from `path`; panics if it is accepted.
pub(super) fn messages_at(path: &Path, text: &str) -> Vec<String> {
    match Config::parse(path, text) {
        Ok(_) => panic!("config should be refused:\n{text}"),
        Err(e) => e.messages(),
    }
}

/// Each `(line:col, text)` is in some diagnostic starting at that position of `path`.
pub(super) fn assert_reported(m: &[String], path: &Path, expect: &[(&str, &str)]) {
    for (pos, what) in expect {
        let at = format!("{}:{pos}: ", path.display());
        assert!(
            m.iter().any(|d| d.starts_with(&at) && d.contains(what)),
            "no `{at}{what}` in {m:#?}"
        );
    }
}
