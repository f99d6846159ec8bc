//! The file watcher: says *that* the config or a plugin file changed; the
//! supervisor decides what to do about it.
//!
//! It watches folders, not files (editors and `cargo xtask` replace a file by
//! renaming a new one over it), and waits for [`DEBOUNCE`] of quiet before
//! asking for a reload, so a file written in pieces is read once it is
//! complete. It follows the published catalog to know which files matter and
//! which folders to watch.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};

use crate::catalog::Catalog;
use crate::config::Config;

/// Quiet time after the last file event before a reload is asked for.
pub const DEBOUNCE: Duration = Duration::from_millis(300);
/// Longest a steady stream of events can postpone a reload.
const MAX_DEBOUNCE: Duration = Duration::from_secs(3);

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

/// Watch the config and plugin files of the catalog `catalog` publishes;
/// call `changed` after each burst of relevant changes. The returned task owns
/// the watcher; abort it to stop watching.
pub fn spawn_watcher(
    mut catalog: watch::Receiver<Arc<Catalog>>,
    changed: impl Fn() + Send + 'static,
) -> Result<tokio::task::JoinHandle<()>, WatchError> {
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
    let mut config = catalog.borrow_and_update().config.clone();
    rewatch(&mut watcher, &mut watching, &config);
    tracing::info!(dirs = ?watching, "watching for config and plugin changes");
    Ok(tokio::spawn(async move {
        let mut publisher = true;
        loop {
            let ev = tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ev) => ev,
                    None => return,
                },
                ok = catalog.changed(), if publisher => {
                    if ok.is_ok() {
                        // A reload may name other plugin files or folders.
                        config = catalog.borrow_and_update().config.clone();
                        rewatch(&mut watcher, &mut watching, &config);
                    } else {
                        publisher = false;
                    }
                    continue;
                }
            };
            if !relevant(&ev, &config) {
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
            changed();
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
