//! From the raw file to the validated [`Config`]: one file per section
//! (`daemon`, `models`, `plugins`, `agents` with their `approval` and
//! `realtime` settings, `guardrails`, `journal`), each an `impl` block of [`Ctx`].
//!
//! [`Ctx`] carries the file's text (to turn byte spans into `file:line:col`),
//! the folder relative paths resolve against, and the diagnostics so far.
//! A check that fails reports where and carries on with a default, so one run
//! finds every problem; the result is an error if anything was reported.
//! Sections run in a fixed order (daemon, models, plugins, agents, guardrails),
//! which is the order of the diagnostics; agents come after models because
//! they name them.

mod agents;
mod approval;
mod daemon;
mod guardrails;
mod http;
mod journal;
mod models;
mod plugins;
mod realtime;
mod sip;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_spanned::Spanned;

use super::raw;
use super::{Config, ConfigError, Diagnostic, Location, Written};

/// One validation run over one file's text.
pub(super) struct Ctx<'a> {
    file: Arc<Path>,
    text: &'a str,
    base: PathBuf,
    diagnostics: Vec<Diagnostic>,
    /// Problems that do not stop the config from loading (a shadowed rule).
    warnings: Vec<Diagnostic>,
}

impl<'a> Ctx<'a> {
    /// A run over `text`, read from `path` (relative paths in it resolve against its folder).
    pub(super) fn new(path: &Path, text: &'a str) -> Self {
        Ctx {
            file: Arc::from(path),
            text,
            base: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            diagnostics: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

impl Ctx<'_> {
    pub(super) fn location(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self.text[line_start..offset].chars().count() + 1;
        Location {
            file: self.file.clone(),
            line,
            col,
        }
    }

    fn at<T>(&self, s: &Spanned<T>) -> Location {
        self.location(s.span().start)
    }

    fn written<T>(&self, s: &Spanned<T>) -> Written {
        Written(self.at(s))
    }

    fn error<T>(&mut self, s: &Spanned<T>, message: impl Into<String>) {
        let location = Some(self.at(s));
        self.diagnostics.push(Diagnostic {
            location,
            message: message.into(),
        });
    }

    fn warn<T>(&mut self, s: &Spanned<T>, message: impl Into<String>) {
        let location = Some(self.at(s));
        self.warnings.push(Diagnostic {
            location,
            message: message.into(),
        });
    }

    fn path(&self, s: &Spanned<String>) -> PathBuf {
        self.base.join(s.get_ref())
    }

    pub(super) fn validate(mut self, raw: raw::RawConfig) -> Result<Config, ConfigError> {
        let daemon = self.daemon(&raw);
        let models = self.models(&raw.models);
        let plugins = self.plugins(&raw.plugins);
        let agents = self.agents(&raw, &models);
        let guardrails = self.guardrails(&raw.guardrails);
        let journal = self.journal(&raw.journal);
        let sip = raw.sip.as_ref().and_then(|s| self.sip(s, &models, &agents));
        if !self.diagnostics.is_empty() {
            return Err(ConfigError {
                diagnostics: self.diagnostics,
            });
        }
        Ok(Config {
            path: self.file.to_path_buf(),
            daemon,
            models,
            plugins,
            agents,
            guardrails,
            journal,
            sip,
            warnings: self.warnings,
            source_hash: {
                use sha2::{Digest, Sha256};
                Sha256::digest(self.text.as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            },
        })
    }
}
