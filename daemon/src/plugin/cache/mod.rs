//! The on-disk cache of compiled components.
//!
//! A component's machine code depends on its bytes and on the engine that
//! compiled it (wasmtime version, target, settings). Each artifact is stored as
//! `<cache_dir>/<sha256 of the .wasm>-<engine fingerprint>.cwasm`, so a restart
//! or a reload of an unchanged plugin deserializes (an mmap, ≈ 0.2 ms) instead of
//! compiling (≈ 0.1–10 s), and an engine change never reads a stale artifact.
//!
//! Safety: `Component::deserialize_file` trusts its input completely. Only
//! files agentd itself wrote are read: [`trust`] checks the folder (agentd's
//! own, nobody else may write there; a folder that is not refuses start-up)
//! and each artifact (agentd's own regular file) before it is deserialized,
//! and each artifact is written mode 0600 to a temporary file and renamed into
//! place, so a crash mid-write never leaves half an artifact under a real
//! name. An artifact that still fails to load (e.g. written by another
//! wasmtime build that happens to share the folder) is deleted and the
//! component recompiled. A cache hit touches its artifact's mtime, which is
//! what [`prune`] ages by.
//!
//! Other cache failures are never fatal: the plugin is compiled and a warning
//! logged.

mod prune;
mod trust;

pub use prune::{DEFAULT_MAX_AGE, DEFAULT_MAX_BYTES, PruneReport};
pub use trust::CacheDirError;

use std::hash::Hasher;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Hex SHA-256 of `bytes`: the identity of a plugin version.
pub fn content_hash(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Feeds `std::hash::Hash` output into SHA-256, so the engine's compatibility
/// hash becomes a fingerprint that is stable across processes (std's
/// `DefaultHasher` is not promised to be).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        // Unused: the full digest is read with `finalize`.
        0
    }
}

/// A short, stable fingerprint of everything that makes compiled code compatible.
pub fn engine_fingerprint(engine: &Engine) -> String {
    let mut h = Sha256Hasher(Sha256::new());
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut h);
    hex(&h.0.finalize()[..8])
}

/// Where compiled components are kept, for one engine.
#[derive(Debug, Clone)]
pub struct ComponentCache {
    dir: PathBuf,
    fingerprint: String,
}

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Compiled now (and stored, when there is a cache).
    Compiled,
    /// Read from the disk cache; no compilation.
    Cached,
    /// Reused from the running daemon's current generation (same bytes).
    Reused,
}

impl ComponentCache {
    /// The cache in `dir` for `engine`: the folder is created (mode 0700) when
    /// missing, and refused when it is not agentd's alone (see [`trust`]).
    /// Blocking (a few syscalls).
    pub fn open(dir: PathBuf, engine: &Engine) -> Result<ComponentCache, CacheDirError> {
        trust::ensure_dir(&dir)?;
        Ok(ComponentCache {
            dir,
            fingerprint: engine_fingerprint(engine),
        })
    }

    /// The folder holding the artifacts.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The artifact path for a component with content hash `hash`.
    pub fn path_for(&self, hash: &str) -> PathBuf {
        self.dir.join(format!("{hash}-{}.cwasm", self.fingerprint))
    }

    /// Load the compiled form of `bytes` (hash `hash`), compiling and storing it
    /// on a miss. Blocking and CPU-heavy: call it off the async reactor.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        hash: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, Origin)> {
        // Checked on every load, not only at start-up: a folder that has been
        // opened up since is neither read nor written until it is fixed.
        let usable = match trust::ensure_dir(&self.dir) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "not using the compiled-plugin cache; compiling");
                false
            }
        };
        let path = self.path_for(hash);
        if usable {
            match trust::check_artifact(&path) {
                trust::Artifact::Missing => {}
                trust::Artifact::Trusted => {
                    // SAFETY: the artifact is a regular file owned by agentd's
                    // uid that only it may write, in a folder only it may write
                    // (both checked just now), so nobody but agentd's user can
                    // have put it there: it is what `store` below wrote (temp
                    // file + rename) from these exact bytes (the name carries
                    // their hash) with an engine of this fingerprint.
                    match unsafe { Component::deserialize_file(engine, &path) } {
                        Ok(c) => {
                            touch(&path);
                            return Ok((c, Origin::Cached));
                        }
                        Err(e) => {
                            tracing::warn!(path = %path.display(), error = %e, "unusable compiled component in the cache; recompiling");
                            let _ = std::fs::remove_file(&path);
                        }
                    }
                }
                trust::Artifact::Untrusted(reason) => {
                    tracing::warn!(path = %path.display(), reason, "refusing to load a compiled component from the cache; removing it and recompiling");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if usable && let Err(e) = self.store(&path, &component) {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the compiled component to the cache");
        }
        Ok((component, Origin::Compiled))
    }

    fn store(&self, path: &Path, component: &Component) -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let bytes = component
            .serialize()
            .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
        // Unique per process and call, so concurrent writers (two daemons
        // sharing a cache, two loads of one plugin) never share a temp file.
        let tmp = self.dir.join(format!(
            ".{}.{}.{:08x}.tmp",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("artifact"),
            std::process::id(),
            rand::random::<u32>()
        ));
        let result = (|| {
            // 0600 whatever the umask: an artifact others may write is refused.
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

/// Mark an artifact as used now, so pruning ages it from its last use rather
/// than from its compilation. Best effort: a failure only makes it look older.
fn touch(path: &Path) {
    let now = std::time::SystemTime::now();
    if let Err(e) = std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(now))
    {
        tracing::debug!(path = %path.display(), error = %e, "cannot touch a cached component");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_is_sha256() {
        assert_eq!(
            content_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_touched_artifact_looks_freshly_used() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a.cwasm");
        std::fs::write(&path, b"code").unwrap();
        let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(90 * 86_400);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        touch(&path);
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert!(modified > long_ago + std::time::Duration::from_secs(89 * 86_400));
        assert_eq!(std::fs::read(&path).unwrap(), b"code");
    }

    #[test]
    fn fingerprint_is_stable_and_depends_on_the_engine_config() {
        let a = Engine::default();
        let b = Engine::default();
        assert_eq!(engine_fingerprint(&a), engine_fingerprint(&b));
        assert_eq!(engine_fingerprint(&a).len(), 16);
        let mut cfg = wasmtime::Config::new();
        cfg.epoch_interruption(true);
        let c = Engine::new(&cfg).unwrap();
        assert_ne!(engine_fingerprint(&a), engine_fingerprint(&c));
    }
}
