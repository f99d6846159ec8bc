//! Compiling out of the daemon's address space. Cranelift's peak memory for
//! a 12–18 MB Python or JS component is hundreds of MB and is never given
//! back to the OS, so when the host has a disk cache and a compiler program
//! (`HostOptions::compiler`, the `agentd` binary itself), a component whose
//! compiled form is not cached yet is compiled by a child process
//! (`agentd compile`, hidden) that writes the cache; the daemon then only maps
//! the artifact. Without a compiler program, or when the child fails, the
//! component is compiled in process as before (and the failure logged).
//!
//! The host also keeps, per plugin, when its compilation started and how long
//! the last one took, so `agentctl plugins` can show
//! `compiling (12 s; last took 9 s)` (wasmtime reports no finer progress).
//! Reload keeps serving the previous version meanwhile: the next catalog is
//! published only once every plugin in it is ready.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::host::PluginHost;

/// How far along one plugin's compilation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompileStatus {
    /// Time spent in the compilation running now, if one is.
    pub running: Option<Duration>,
    /// How long the last finished compilation took.
    pub last: Option<Duration>,
}

/// Compilations in flight and past, by plugin name.
#[derive(Debug, Default)]
pub(super) struct CompileLog {
    running: Mutex<HashMap<String, Instant>>,
    last: Mutex<HashMap<String, Duration>>,
}

/// Clears a plugin's running entry when its compilation ends (or is dropped).
pub(super) struct Running<'a> {
    log: &'a CompileLog,
    name: String,
    started: Instant,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let took = self.started.elapsed();
        lock(&self.log.running).remove(&self.name);
        lock(&self.log.last).insert(self.name.clone(), took);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl CompileLog {
    pub(super) fn start(&self, name: &str) -> Running<'_> {
        let started = Instant::now();
        lock(&self.running).insert(name.to_string(), started);
        Running {
            log: self,
            name: name.to_string(),
            started,
        }
    }

    fn status(&self, name: &str) -> CompileStatus {
        CompileStatus {
            running: lock(&self.running).get(name).map(Instant::elapsed),
            last: lock(&self.last).get(name).copied(),
        }
    }

    fn running_names(&self) -> Vec<String> {
        let mut names: Vec<String> = lock(&self.running).keys().cloned().collect();
        names.sort();
        names
    }
}

impl PluginHost {
    /// Plugin `name`'s compilation: running now, and the last one's time.
    pub fn compile_status(&self, name: &str) -> CompileStatus {
        self.compiles.status(name)
    }

    /// Plugins being compiled now, by name.
    pub fn compiling(&self) -> Vec<String> {
        self.compiles.running_names()
    }

    /// Compile `path` (content hash `hash`) into the cache in a child
    /// process, when this host has a cache, a compiler program, and no
    /// artifact for it yet. Returns whether the artifact is there now.
    pub(super) async fn compile_in_child(&self, path: &Path, hash: &str) -> bool {
        let (Some(cache), Some(compiler)) = (&self.cache, &self.compiler) else {
            return false;
        };
        if cache.path_for(hash).is_file() {
            return true;
        }
        let mut cmd = std::process::Command::new(compiler);
        cmd.arg("compile")
            .arg("--cache-dir")
            .arg(cache.dir())
            .arg("--instance-slots")
            .arg(self.instance_slots.to_string())
            .arg("--hash")
            .arg(hash)
            .arg(path)
            .stdin(std::process::Stdio::null());
        // Waiting for the child is blocking: off the reactor.
        let ran = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(format!("compiler task failed: {e}"))));
        match ran {
            Ok(out) if out.status.success() && cache.path_for(hash).is_file() => true,
            Ok(out) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let stderr: String = stderr.chars().take(2000).collect();
                tracing::warn!(path = %path.display(), status = %out.status, stderr = %stderr.trim(), "the compiler process failed; compiling in the daemon");
                false
            }
            Err(e) => {
                tracing::warn!(compiler = %compiler.display(), error = %e, "cannot start the compiler process; compiling in the daemon");
                false
            }
        }
    }
}

/// `agentd compile`: what the child does — compile `file` with an engine
/// configured like the daemon's (same instance slots, so the same engine
/// fingerprint) and store it in `cache_dir`.
pub fn compile_into_cache(
    cache_dir: PathBuf,
    instance_slots: u32,
    file: &Path,
    expected_hash: &str,
) -> Result<(), String> {
    let host = PluginHost::with_options(super::HostOptions {
        cache_dir: Some(cache_dir),
        instance_slots,
        ..super::HostOptions::default()
    })
    .map_err(|e| e.to_string())?;
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let hash = super::cache::content_hash(&bytes);
    if hash != expected_hash {
        return Err(format!(
            "{} changed while it was being compiled (hash {hash}, expected {expected_hash})",
            file.display()
        ));
    }
    let cache = host.cache().ok_or_else(|| "no cache folder".to_string())?;
    cache
        .load_or_compile(&host.engine, &hash, &bytes)
        .map(|_| ())
        .map_err(|e| {
            format!(
                "{} is not a valid WebAssembly component: {e:#}",
                file.display()
            )
        })
}
