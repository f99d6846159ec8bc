//! Hot reload as a pure step: read the config again, build the next catalog
//! next to the serving one, and say what changed — without touching anything
//! that serves.
//!
//! [`prepare`] re-reads `agents.toml` as a whole and rebuilds the catalog from
//! it, reusing every plugin whose file is unchanged (so only changed files
//! compile, and they compile before anything is swapped). The supervisor
//! ([`crate::supervisor`]) then publishes the result in one step; sessions
//! follow the published catalog, and calls in flight keep the `Arc<Plugin>`
//! they started with, so they finish on the old version. The file watcher
//! ([`watch`]) only says *that* something changed.
//!
//! Invariants:
//! - on any config error nothing changes, and every error is reported with
//!   `file:line:col`;
//! - a broken plugin file never replaces a working version: the old one keeps
//!   serving and the failure shows in `agentctl plugins`;
//! - [`Changes`] is derived: an agent changed when its resolved description
//!   differs (`PartialEq` on [`crate::catalog::Agent`], which covers every
//!   setting, guardrail list, policy, handoff and plugin version a session
//!   uses), a model when its config differs, a plugin when the catalog built a
//!   new version of it;
//! - `[daemon]` socket, state_dir, cache_dir, watch, tool_queue,
//!   event_memory and journal_sync need a restart: a change to them rejects the reload, naming them.

pub mod watch;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::catalog::Catalog;
use crate::config::Config;
use crate::plugin::PluginHost;

/// What asked for a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A watched file changed.
    Watch,
    /// SIGHUP.
    Signal,
    /// `POST /v1/reload` (`agentctl reload`).
    Api,
}

impl Trigger {
    /// `watch`, `signal` or `api`.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Watch => "watch",
            Trigger::Signal => "signal",
            Trigger::Api => "api",
        }
    }
}

/// What changed between two generations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub agents_added: Vec<String>,
    pub agents_removed: Vec<String>,
    pub agents_changed: Vec<String>,
    pub plugins_added: Vec<String>,
    pub plugins_removed: Vec<String>,
    pub plugins_changed: Vec<String>,
    pub models_added: Vec<String>,
    pub models_removed: Vec<String>,
    pub models_changed: Vec<String>,
    /// Some other setting changed (`default_agent`, `plugin_dir`, …): it
    /// applies to what starts from now on.
    pub settings_changed: bool,
}

impl Changes {
    /// Nothing at all changed.
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

/// What became of one reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadResult {
    /// The new catalog is serving.
    Applied(Changes),
    /// Valid, and nothing changed.
    Unchanged,
    /// Refused; the old catalog keeps serving. Each entry is one problem.
    Rejected(Vec<String>),
}

/// One reload, as the supervisor records it (`last_reload`) and the control
/// API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadOutcome {
    pub trigger: Trigger,
    /// When it finished, ms since the Unix epoch.
    pub time_ms: u64,
    pub result: ReloadResult,
    /// Plugins of the serving generation whose file could not be loaded
    /// (their previous version keeps serving, if they had one).
    pub plugins_failed: Vec<String>,
}

impl ReloadOutcome {
    /// Record how a reload ended; `serving` is the catalog serving afterwards.
    pub fn new(trigger: Trigger, result: ReloadResult, serving: &Catalog) -> ReloadOutcome {
        let plugins_failed = match result {
            ReloadResult::Rejected(_) => Vec::new(),
            _ => serving
                .failed_plugins
                .iter()
                .map(|f| f.error.clone())
                .collect(),
        };
        ReloadOutcome {
            trigger,
            time_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            result,
            plugins_failed,
        }
    }

    /// `applied`, `unchanged` or `rejected` (the `outcome` label of
    /// `agentd_reloads_total`).
    pub fn kind(&self) -> &'static str {
        match &self.result {
            ReloadResult::Applied(_) => "applied",
            ReloadResult::Unchanged => "unchanged",
            ReloadResult::Rejected(_) => "rejected",
        }
    }

    /// The journal's record of it: the outcome, the hash of the config
    /// serving afterwards (`serving`), and what changed or why it was refused.
    pub fn record(&self, serving: &Catalog) -> crate::store::Record {
        let outcome = self.kind();
        let detail = match &self.result {
            ReloadResult::Applied(c) => format!("{c:?}"),
            ReloadResult::Unchanged => String::new(),
            ReloadResult::Rejected(errors) => errors.join("\n"),
        };
        crate::store::Record::Reload {
            outcome: format!("{outcome} ({})", self.trigger.as_str()),
            config_hash: serving.config.source_hash.clone(),
            detail,
        }
    }

    /// Write the outcome to the log, one line (or one per error).
    pub fn log(&self) {
        let trigger = self.trigger.as_str();
        match &self.result {
            ReloadResult::Applied(c) => tracing::info!(
                trigger,
                agents_changed = ?c.agents_changed,
                agents_added = ?c.agents_added,
                agents_removed = ?c.agents_removed,
                plugins_changed = ?c.plugins_changed,
                plugins_added = ?c.plugins_added,
                plugins_removed = ?c.plugins_removed,
                models_changed = ?c.models_changed,
                models_added = ?c.models_added,
                models_removed = ?c.models_removed,
                settings_changed = c.settings_changed,
                "reload applied"
            ),
            ReloadResult::Unchanged => tracing::info!(trigger, "reload: nothing changed"),
            ReloadResult::Rejected(errors) => {
                for e in errors {
                    tracing::error!(trigger, "reload rejected: {e}");
                }
            }
        }
    }
}

/// A next generation, ready to be published.
#[derive(Debug)]
pub struct Prepared {
    pub catalog: Catalog,
    pub changes: Changes,
}

/// Names added, removed and changed between two maps, by derived equality.
fn diff_maps<V>(
    old: &BTreeMap<String, V>,
    new: &BTreeMap<String, V>,
    same: impl Fn(&V, &V) -> bool,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let added = new
        .keys()
        .filter(|k| !old.contains_key(*k))
        .cloned()
        .collect();
    let removed = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .cloned()
        .collect();
    let changed = new
        .iter()
        .filter(|(k, v)| old.get(*k).is_some_and(|o| !same(o, v)))
        .map(|(k, _)| k.clone())
        .collect();
    (added, removed, changed)
}

/// Compute what changed from `old` to `new`.
pub fn diff(old: &Catalog, new: &Catalog) -> Changes {
    let (agents_added, agents_removed, agents_changed) =
        diff_maps(&old.agents, &new.agents, |a, b| a == b);
    // A plugin changed when the catalog built a new version (new file, path or sandbox).
    let (plugins_added, plugins_removed, plugins_changed) =
        diff_maps(&old.plugins, &new.plugins, Arc::ptr_eq);
    let (models_added, models_removed, models_changed) =
        diff_maps(&old.config.models, &new.config.models, |a, b| a == b);
    // Everything else in the file; paths and layout aside, derived equality again.
    let settings_changed = old.config.daemon != new.config.daemon
        || old.config.plugins != new.config.plugins
        || old.config.guardrails != new.config.guardrails;
    let mut changes = Changes {
        agents_added,
        agents_removed,
        agents_changed,
        plugins_added,
        plugins_removed,
        plugins_changed,
        models_added,
        models_removed,
        models_changed,
        settings_changed: false,
    };
    // Only report "other settings" when nothing more specific already says so.
    changes.settings_changed = settings_changed && changes.is_empty();
    changes
}

/// Settings that cannot change without a restart, as errors.
fn fixed_settings(old: &Config, new: &Config) -> Vec<String> {
    let (o, n) = (&old.daemon, &new.daemon);
    let mut errors = Vec::new();
    let mut check = |name: &str, changed: bool| {
        if changed {
            errors.push(format!(
                "{}: [daemon] {name} cannot change while agentd runs; restart it to apply",
                new.path.display()
            ));
        }
    };
    check("socket", o.socket != n.socket);
    check("state_dir", o.state_dir != n.state_dir);
    check("cache_dir", o.cache_dir != n.cache_dir);
    check("watch", o.watch != n.watch);
    check("tool_queue", o.tool_queue != n.tool_queue);
    check("event_memory", o.event_memory != n.event_memory);
    check("journal_sync", o.journal_sync != n.journal_sync);
    errors
}

/// The pure step of a reload: read `old`'s config file again and build the
/// next catalog, reusing `old`'s unchanged plugins. Nothing serving is
/// touched; the errors, if any, each read `file:line:col: message`.
pub async fn prepare(old: &Catalog, host: &PluginHost) -> Result<Prepared, Vec<String>> {
    let path = old.config.path.clone();
    let config = load(&path).await?;
    let fixed = fixed_settings(&old.config, &config);
    if !fixed.is_empty() {
        return Err(fixed);
    }
    let catalog = Catalog::build_from(config, host, Some(old))
        .await
        .map_err(|e| e.messages())?;
    let changes = diff(old, &catalog);
    Ok(Prepared { catalog, changes })
}

/// Read and validate the config file off the reactor.
async fn load(path: &Path) -> Result<Config, Vec<String>> {
    let path = path.to_path_buf();
    let config = tokio::task::spawn_blocking(move || Config::load(&path))
        .await
        .map_err(|e| vec![format!("config reader failed: {e}")])?
        .map_err(|e| e.messages())?;
    config.log_warnings();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(Path::new("/etc/agentd/agents.toml"), text).unwrap()
    }

    #[test]
    fn restart_only_settings_are_named() {
        let old = config("[daemon]\nsocket = \"a.sock\"\n");
        let new = config("[daemon]\nsocket = \"b.sock\"\nwatch = false\ntool_queue = 3\n");
        let errors = fixed_settings(&old, &new);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[2].contains("[daemon] tool_queue cannot change"),
            "{}",
            errors[2]
        );
        assert!(
            errors[0].contains("[daemon] socket cannot change"),
            "{}",
            errors[0]
        );
        assert!(
            errors[1].contains("[daemon] watch cannot change"),
            "{}",
            errors[1]
        );
        assert!(fixed_settings(&old, &old).is_empty());
    }

    /// Catalogs of configs without plugins: enough to see what `diff` derives.
    async fn catalog(text: &str) -> Catalog {
        let host = PluginHost::new().unwrap();
        Catalog::build(config(text), &host).await.unwrap()
    }

    #[tokio::test]
    async fn changes_are_derived_from_whole_descriptions() {
        let base = "[models.default]\nprovider = \"sim\"\n\n[agents.a]\ninstructions = \"x\"\n\n[agents.b]\ninstructions = \"y\"\nmodel = \"other\"\n\n[models.other]\nprovider = \"sim\"\n";
        let old = catalog(base).await;
        let cases: &[(&str, String, Changes)] = &[
            ("nothing", base.to_string(), Changes::default()),
            (
                "layout only",
                format!("# moved\n\n\n{base}"),
                Changes::default(),
            ),
            (
                "instructions",
                base.replace("\"x\"", "\"z\""),
                Changes {
                    agents_changed: vec!["a".into()],
                    ..Changes::default()
                },
            ),
            (
                "debounce reaches every agent",
                format!("{base}\n[guardrails]\ndebounce_text_length = 7\n"),
                Changes {
                    agents_changed: vec!["a".into(), "b".into()],
                    ..Changes::default()
                },
            ),
            (
                "a model's defaults reach its agents only",
                base.replace(
                    "[models.other]\nprovider = \"sim\"\n",
                    "[models.other]\nprovider = \"sim\"\ndefaults = { voice = \"marin\" }\n",
                ),
                Changes {
                    agents_changed: vec!["b".into()],
                    models_changed: vec!["other".into()],
                    ..Changes::default()
                },
            ),
            (
                "default agent",
                format!("[daemon]\ndefault_agent = \"b\"\n{base}"),
                Changes {
                    settings_changed: true,
                    ..Changes::default()
                },
            ),
        ];
        for (what, text, want) in cases {
            let new = catalog(text).await;
            assert_eq!(&diff(&old, &new), want, "{what}");
        }
    }
}
