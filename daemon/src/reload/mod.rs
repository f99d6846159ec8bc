//! Hot reload: validate → build the next catalog → diff → swap.
//!
//! A reload (from the file watcher, SIGHUP or `POST /v1/reload`) re-reads
//! `agents.toml` as a whole and rebuilds the catalog from it, reusing every
//! plugin whose file is unchanged (so only changed files compile, and they
//! compile before anything is swapped). Then, in one step, the new catalog
//! replaces the old one; sessions are told, and those whose agent changed send
//! the model a session update. Calls in flight keep the `Arc<Plugin>` they
//! started with, so they finish on the old version.
//!
//! Invariants:
//! - on any config error nothing changes, and every error is reported with
//!   `file:line:col` (log, `agentctl reload`, `last_reload` in the status);
//! - a broken plugin file never replaces a working version: the old one keeps
//!   serving and the failure shows in `agentctl plugins`;
//! - one reload at a time (a mutex), so two triggers never interleave;
//! - `[daemon]` socket, state_dir, cache_dir and watch need a restart: a change
//!   to them rejects the reload, naming them.
//!
//! The watcher watches folders, not files (editors and `cargo xtask` replace a
//! file by renaming a new one over it), and waits for [`DEBOUNCE`] of quiet
//! before acting, so a file written in pieces is read once it is complete.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::catalog::{Agent, Catalog};
use crate::config::Config;
use crate::control::api::ReloadReport;
use crate::daemon::Daemon;
use crate::realtime::settings::session_config;

/// Quiet time after the last file event before a reload starts.
pub const DEBOUNCE: Duration = Duration::from_millis(300);
/// Longest a steady stream of events can postpone a reload.
const MAX_DEBOUNCE: Duration = Duration::from_secs(3);

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
    fn as_str(self) -> &'static str {
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
}

impl Changes {
    fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

/// The result of one reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The new catalog is serving.
    Applied(Changes),
    /// Valid, and nothing sessions see changed.
    Unchanged,
    /// Refused; the old catalog keeps serving. Each entry is one problem.
    Rejected(Vec<String>),
}

/// Compute what changed from `old` to `new`.
pub fn diff(old: &Catalog, new: &Catalog) -> Changes {
    let mut c = Changes::default();
    for (name, p) in &new.plugins {
        match old.plugins.get(name) {
            None => c.plugins_added.push(name.clone()),
            Some(o) if !Arc::ptr_eq(o, p) => c.plugins_changed.push(name.clone()),
            Some(_) => {}
        }
    }
    c.plugins_removed = old
        .plugins
        .keys()
        .filter(|n| !new.plugins.contains_key(*n))
        .cloned()
        .collect();
    for (name, a) in &new.agents {
        match old.agents.get(name) {
            None => c.agents_added.push(name.clone()),
            Some(o) if agent_changed(old, o, new, a) => c.agents_changed.push(name.clone()),
            Some(_) => {}
        }
    }
    c.agents_removed = old
        .agents
        .keys()
        .filter(|n| !new.agents.contains_key(*n))
        .cloned()
        .collect();
    c
}

/// Whether a session of this agent would behave differently: what the model
/// is told, the approval policy, or any tool/guardrail plugin version.
fn agent_changed(old_cat: &Catalog, old: &Agent, new_cat: &Catalog, new: &Agent) -> bool {
    let settings = |cat: &Catalog, a: &Agent| {
        cat.config
            .models
            .get(&a.config.model)
            .map(|m| session_config(a, m, &crate::config::SettingsOverlay::default(), false))
    };
    let tools = |a: &Agent| -> Vec<(String, String, *const crate::plugin::Plugin)> {
        a.tools
            .iter()
            .map(|t| {
                (
                    t.model_name.clone(),
                    t.qualified.clone(),
                    Arc::as_ptr(&t.plugin),
                )
            })
            .collect()
    };
    let guardrails = |a: &Agent| -> Vec<(String, *const crate::plugin::Plugin)> {
        a.output_guardrails
            .iter()
            .map(|g| (g.qualified.clone(), Arc::as_ptr(&g.plugin)))
            .collect()
    };
    settings(old_cat, old) != settings(new_cat, new)
        || old.config.approval != new.config.approval
        || old.config.rejection_message != new.config.rejection_message
        || old.config.async_tool_calls != new.config.async_tool_calls
        || tools(old) != tools(new)
        || guardrails(old) != guardrails(new)
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
    errors
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Re-read the config and plugins and, if valid, swap the new catalog in.
/// Returns the outcome and its report (also kept as the daemon's `last_reload`).
pub async fn reload(daemon: &Daemon, trigger: Trigger) -> (ReloadOutcome, ReloadReport) {
    let _one_at_a_time = daemon.reload_lock.lock().await;
    let old = daemon.catalog();
    let path = old.config.path.clone();
    let outcome = match build_next(daemon, &old, &path).await {
        Err(errors) => ReloadOutcome::Rejected(errors),
        Ok(new) => {
            let changes = diff(&old, &new);
            let new = Arc::new(new);
            daemon.swap_catalog(new.clone());
            if changes.is_empty() {
                ReloadOutcome::Unchanged
            } else {
                // Every live session moves to the new generation (handoffs
                // resolve against it); those whose agent changed update the model.
                for s in daemon.sessions() {
                    if !s.is_closed() {
                        let _ = s.update_catalog(new.clone()).await;
                    }
                }
                ReloadOutcome::Applied(changes)
            }
        }
    };
    let report = report(&outcome, trigger, &daemon.catalog());
    match &outcome {
        ReloadOutcome::Applied(c) => tracing::info!(
            trigger = trigger.as_str(),
            agents_changed = ?c.agents_changed,
            agents_added = ?c.agents_added,
            agents_removed = ?c.agents_removed,
            plugins_changed = ?c.plugins_changed,
            plugins_added = ?c.plugins_added,
            plugins_removed = ?c.plugins_removed,
            "reload applied"
        ),
        ReloadOutcome::Unchanged => {
            tracing::info!(trigger = trigger.as_str(), "reload: nothing changed")
        }
        ReloadOutcome::Rejected(errors) => {
            for e in errors {
                tracing::error!(trigger = trigger.as_str(), "reload rejected: {e}");
            }
        }
    }
    daemon.set_last_reload(report.clone());
    (outcome, report)
}

async fn build_next(daemon: &Daemon, old: &Catalog, path: &Path) -> Result<Catalog, Vec<String>> {
    let path_owned = path.to_path_buf();
    let config = tokio::task::spawn_blocking(move || Config::load(&path_owned))
        .await
        .map_err(|e| vec![format!("config reader failed: {e}")])?
        .map_err(|e| {
            e.diagnostics
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        })?;
    let fixed = fixed_settings(&old.config, &config);
    if !fixed.is_empty() {
        return Err(fixed);
    }
    Catalog::build_from(config, &daemon.host, Some(old))
        .await
        .map_err(|e| e.diagnostics.iter().map(ToString::to_string).collect())
}

fn report(outcome: &ReloadOutcome, trigger: Trigger, catalog: &Catalog) -> ReloadReport {
    let mut r = ReloadReport {
        trigger: trigger.as_str().to_string(),
        time_ms: now_ms(),
        ..ReloadReport::default()
    };
    match outcome {
        ReloadOutcome::Applied(c) => {
            r.outcome = "applied".into();
            r.agents_added = c.agents_added.clone();
            r.agents_removed = c.agents_removed.clone();
            r.agents_changed = c.agents_changed.clone();
            r.plugins_added = c.plugins_added.clone();
            r.plugins_removed = c.plugins_removed.clone();
            r.plugins_changed = c.plugins_changed.clone();
        }
        ReloadOutcome::Unchanged => r.outcome = "unchanged".into(),
        ReloadOutcome::Rejected(errors) => {
            r.outcome = "rejected".into();
            r.errors = errors.clone();
        }
    }
    if !matches!(outcome, ReloadOutcome::Rejected(_)) {
        r.plugins_failed = catalog
            .failed_plugins
            .iter()
            .map(|f| f.error.clone())
            .collect();
    }
    r
}

/// The folders to watch for `config`: its own, `plugin_dir`, and each
/// declared plugin's.
fn watched_dirs(config: &Config) -> BTreeSet<PathBuf> {
    let mut dirs = BTreeSet::new();
    dirs.extend(config.path.parent().map(Path::to_path_buf));
    dirs.extend(config.daemon.plugin_dir.clone());
    for p in config.plugins.values() {
        dirs.extend(p.path.parent().map(Path::to_path_buf));
    }
    dirs.retain(|d| d.is_dir());
    dirs
}

/// Whether a file event concerns the config or a plugin file.
fn relevant(event: &notify::Event, config: &Config) -> bool {
    if matches!(event.kind, EventKind::Access(_) | EventKind::Other) {
        return false;
    }
    event.paths.iter().any(|p| {
        p == &config.path
            || config.plugins.values().any(|pl| &pl.path == p)
            || (p.extension().is_some_and(|x| x == "wasm")
                && config
                    .daemon
                    .plugin_dir
                    .as_deref()
                    .is_some_and(|d| p.parent() == Some(d)))
    })
}

/// Why the watcher could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch files for hot reload: {0}")]
pub struct WatchError(#[from] notify::Error);

/// Watch the config and plugin files; reload after each burst of changes.
/// The returned task owns the watcher; abort it to stop watching.
pub fn spawn_watcher(daemon: Arc<Daemon>) -> Result<tokio::task::JoinHandle<()>, WatchError> {
    let (tx, mut rx) = mpsc::unbounded_channel::<notify::Event>();
    // notify calls this on its own thread.
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            let _ = tx.send(ev);
        }
    })?;
    let mut watching: BTreeSet<PathBuf> = BTreeSet::new();
    let rewatch = |watcher: &mut notify::RecommendedWatcher,
                   watching: &mut BTreeSet<PathBuf>,
                   config: &Config| {
        let want = watched_dirs(config);
        for gone in watching.difference(&want) {
            let _ = watcher.unwatch(gone);
        }
        for dir in want.difference(watching) {
            if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot watch folder for reload");
            }
        }
        *watching = want;
    };
    rewatch(&mut watcher, &mut watching, &daemon.catalog().config);
    tracing::info!(dirs = ?watching, "watching for config and plugin changes");
    Ok(tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            if !relevant(&ev, &daemon.catalog().config) {
                continue;
            }
            // Debounce: wait for a quiet spell, so a file written in pieces
            // (or several files saved together) is one reload.
            let started = tokio::time::Instant::now();
            loop {
                match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                    Ok(Some(_)) if started.elapsed() < MAX_DEBOUNCE => continue,
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) => return,
                }
            }
            reload(&daemon, Trigger::Watch).await;
            rewatch(&mut watcher, &mut watching, &daemon.catalog().config);
        }
    }))
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
        let new = config("[daemon]\nsocket = \"b.sock\"\nwatch = false\n");
        let errors = fixed_settings(&old, &new);
        assert_eq!(errors.len(), 2, "{errors:?}");
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

    #[test]
    fn only_config_and_plugin_files_are_relevant() {
        let c =
            config("[daemon]\nplugin_dir = \"plugins\"\n[plugins.x]\npath = \"/opt/x/x.wasm\"\n");
        let ev = |kind, path: &str| notify::Event::new(kind).add_path(PathBuf::from(path));
        let modify = EventKind::Modify(notify::event::ModifyKind::Any);
        assert!(relevant(&ev(modify, "/etc/agentd/agents.toml"), &c));
        assert!(relevant(&ev(modify, "/etc/agentd/plugins/new.wasm"), &c));
        assert!(relevant(&ev(modify, "/opt/x/x.wasm"), &c));
        assert!(!relevant(
            &ev(modify, "/etc/agentd/plugins/.new.wasm.tmp"),
            &c
        ));
        assert!(!relevant(&ev(modify, "/etc/agentd/other.toml"), &c));
        assert!(!relevant(&ev(modify, "/opt/x/y.wasm"), &c));
        let access = EventKind::Access(notify::event::AccessKind::Any);
        assert!(!relevant(&ev(access, "/etc/agentd/agents.toml"), &c));
    }
}
