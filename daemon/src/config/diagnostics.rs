//! What a config check reports: a [`Location`] (`file:line:col`), one
//! [`Diagnostic`] per problem, and the [`ConfigError`] that carries all of
//! them, so one `agentd check` run shows every problem at once.
//!
//! Locations are computed from byte offsets by the validator, never stored as
//! offsets: what is shown is what an editor jumps to (columns count
//! characters, not bytes).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// A position in a config file, shown as `file:line:col`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<Path>,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// Where a setting was written. Every `Written` equals every other: two
/// configs that differ only in layout (a moved line, a new comment) mean the
/// same thing, so change detection — derived `PartialEq` over whole config and
/// catalog values — must not see a moved line as a change. Use the
/// [`Location`] inside (`Deref`) for messages.
#[derive(Debug, Clone)]
pub struct Written(pub Location);

impl PartialEq for Written {
    fn eq(&self, _: &Written) -> bool {
        true
    }
}

impl std::ops::Deref for Written {
    type Target = Location;
    fn deref(&self) -> &Location {
        &self.0
    }
}

impl fmt::Display for Written {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub location: Option<Location>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(at) => write!(f, "{at}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Every problem found in one config file; never empty.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl ConfigError {
    /// Each diagnostic as one line (`file:line:col: message`).
    pub fn messages(&self) -> Vec<String> {
        self.diagnostics.iter().map(ToString::to_string).collect()
    }

    pub(super) fn single(location: Option<Location>, message: impl Into<String>) -> Self {
        ConfigError {
            diagnostics: vec![Diagnostic {
                location,
                message: message.into(),
            }],
        }
    }
}
