//! The file watcher: says *that* the config or a plugin file changed; the
//! supervisor decides what to do about it.
//!
//! It watches folders, not files (editors and `cargo xtask` replace a file by
//! renaming a new one over it). A file renamed into place, or closed after
//! writing (inotify's `IN_MOVED_TO` / `IN_CLOSE_WRITE`), is complete: the
//! reload is asked for at once, with no quiet time. Any other change (a
//! file still being written, or a platform without those events) waits for
//! [`DEBOUNCE`] of quiet — or until the file is complete — so a file
//! written in pieces is read once it is whole. It follows the published
//! catalog to know which files matter and which folders to watch.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
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

/// Whether `p` is the config or a plugin file.
fn watched_file(p: &Path, config: &Config) -> bool {
    p == config.path
        || config.plugins.values().any(|pl| pl.path == p)
        || (p.extension().is_some_and(|x| x == "wasm")
            && config
                .daemon
                .plugin_dir
                .as_deref()
                .is_some_and(|d| p.parent() == Some(d)))
}

/// Whether a file event concerns the config or a plugin file.
fn relevant(event: &notify::Event, config: &Config) -> bool {
    if matches!(event.kind, EventKind::Access(_) | EventKind::Other) {
        return completes(event, config);
    }
    event.paths.iter().any(|p| watched_file(p, config))
}

/// Whether the event says a watched file is complete: renamed into place
/// (the destination is the last path), or closed after writing.
fn completes(event: &notify::Event, config: &Config) -> bool {
    match event.kind {
        EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both)) => {
            event.paths.last().is_some_and(|p| watched_file(p, config))
        }
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => {
            event.paths.iter().any(|p| watched_file(p, config))
        }
        _ => false,
    }
}

/// After a completing event, how long events of the same save (a rename's
/// second event, the other files saved together) are gathered into the same
/// reload. Not a quiet time: it does not restart with each event.
const GATHER: Duration = Duration::from_millis(2);

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
            if !completes(&ev, &config) {
                // Debounce: wait for a quiet spell, so a file written in
                // pieces (or several files saved together) is one reload —
                // unless the file says it is complete first.
                let started = tokio::time::Instant::now();
                loop {
                    match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                        Ok(Some(e)) if completes(&e, &config) => break,
                        Ok(Some(_)) if started.elapsed() < MAX_DEBOUNCE => continue,
                        Ok(Some(_)) | Err(_) => break,
                        Ok(None) => return,
                    }
                }
            }
            // What the same save sends right after is part of this reload.
            let gather = tokio::time::Instant::now() + GATHER;
            while let Ok(Some(_)) = tokio::time::timeout_at(gather, rx.recv()).await {}
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

    #[test]
    fn a_rename_into_place_or_a_close_after_writing_completes_a_file() {
        let c = config("[daemon]\nplugin_dir = \"plugins\"\n");
        let ev = |kind, paths: &[&str]| {
            paths.iter().fold(notify::Event::new(kind), |e, p| {
                e.add_path(PathBuf::from(p))
            })
        };
        let to = EventKind::Modify(ModifyKind::Name(RenameMode::To));
        let both = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        let from = EventKind::Modify(ModifyKind::Name(RenameMode::From));
        let closed = EventKind::Access(AccessKind::Close(AccessMode::Write));
        let read = EventKind::Access(AccessKind::Close(AccessMode::Read));
        let data = EventKind::Modify(ModifyKind::Data(notify::event::DataChange::Any));
        let conf = "/etc/agentd/agents.toml";
        let tmp = "/etc/agentd/agents.toml.tmp";
        assert!(completes(&ev(to, &[conf]), &c));
        assert!(completes(&ev(both, &[tmp, conf]), &c));
        assert!(completes(&ev(closed, &["/etc/agentd/plugins/a.wasm"]), &c));
        // Renamed away, still being written, only read, or not ours: not complete.
        assert!(!completes(&ev(both, &[conf, tmp]), &c));
        assert!(!completes(&ev(from, &[conf]), &c));
        assert!(!completes(&ev(data, &[conf]), &c));
        assert!(!completes(&ev(read, &[conf]), &c));
        assert!(!completes(&ev(closed, &[tmp]), &c));
        // A close after writing counts as relevant although it is an access.
        assert!(relevant(&ev(closed, &[conf]), &c));
        assert!(!relevant(&ev(read, &[conf]), &c));
    }
}
