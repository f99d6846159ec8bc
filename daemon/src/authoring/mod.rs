//! The plugin author's tools: `agentd plugin new` writes a ready-to-build
//! project ([`new`]), `agentd plugin build` turns one into a component
//! ([`build`]), installing the toolchain it needs from the package registries.
//!
//! A project is a folder with an `agentd-plugin.toml` ([`Manifest`]) naming
//! the plugin, its language and the contract world it exports. Rust projects
//! carry a copy of the SDK (`sdk/`, written from the one compiled into this
//! binary, so a project builds without the agentd source tree); Python and
//! JavaScript projects carry the contract's WIT (`wit/`), or, without one,
//! are built against the WIT compiled into this binary.

pub mod build;
pub mod new;
mod sdk;

use std::path::{Path, PathBuf};

/// A plugin's language.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Rust,
    Python,
    Js,
}

/// The contract world a project exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum World {
    #[serde(rename = "tool-plugin")]
    Tools,
    #[serde(rename = "guardrail-plugin")]
    Guardrails,
    /// Tools and guardrails.
    #[serde(rename = "plugin")]
    Both,
}

impl World {
    pub fn wit_name(self) -> &'static str {
        match self {
            World::Tools => "tool-plugin",
            World::Guardrails => "guardrail-plugin",
            World::Both => "plugin",
        }
    }
}

/// `agentd-plugin.toml`, at a project's root.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The plugin's name; the component is written to `NAME.wasm`.
    pub name: String,
    pub lang: Lang,
    pub world: World,
}

/// The manifest's file name.
pub const MANIFEST: &str = "agentd-plugin.toml";

/// What went wrong writing or building a plugin project.
#[derive(Debug, thiserror::Error)]
pub enum AuthoringError {
    #[error(
        "`{0}` is not a plugin name: use 1-64 characters of a-z, A-Z, 0-9, `_` or `-`, starting with a letter"
    )]
    BadName(String),
    #[error("{0} already exists; pick another name or remove it")]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source} (is this a plugin project made by `agentd plugin new`?)")]
    ReadManifest {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    BadManifest { path: PathBuf, reason: String },
    /// A tool the build needs is not installed and could not be installed.
    #[error("{what} is needed to build a {lang} plugin and {problem}.\n  {fix}")]
    Missing {
        what: String,
        lang: &'static str,
        problem: String,
        fix: String,
    },
    #[error("{command} failed ({status}); its output is above")]
    Failed { command: String, status: String },
    #[error("the build finished but {0} is missing")]
    NoOutput(PathBuf),
}

impl Manifest {
    /// Read `dir/agentd-plugin.toml`.
    pub fn read(dir: &Path) -> Result<Manifest, AuthoringError> {
        let path = dir.join(MANIFEST);
        let text =
            std::fs::read_to_string(&path).map_err(|source| AuthoringError::ReadManifest {
                path: path.clone(),
                source,
            })?;
        let manifest: Manifest =
            toml::from_str(&text).map_err(|e| AuthoringError::BadManifest {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if !is_project_name(&manifest.name) {
            return Err(AuthoringError::BadManifest {
                path,
                reason: AuthoringError::BadName(manifest.name).to_string(),
            });
        }
        Ok(manifest)
    }
}

/// A plugin name that is also a crate, module and file name: starts with a
/// letter, then letters, digits, `_` or `-`.
pub fn is_project_name(name: &str) -> bool {
    crate::config::is_valid_name(name) && name.starts_with(|c: char| c.is_ascii_alphabetic())
}

/// Where the toolchains `plugin build` installs are kept:
/// `$XDG_CACHE_HOME/agentd`, else `$HOME/.cache/agentd` (CI caches it).
pub fn toolchain_cache() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("agentd");
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => PathBuf::from(home).join(".cache").join("agentd"),
        None => std::env::temp_dir().join("agentd-cache"),
    }
}
