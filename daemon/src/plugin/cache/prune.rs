//! Pruning the cache: every plugin version and every engine upgrade leaves an
//! artifact behind, so old unused ones are removed.
//!
//! [`ComponentCache::prune`] removes, in this order:
//! 1. artifacts no loaded plugin uses whose last use (their mtime: a cache hit
//!    touches it) is more than `max_age` ago;
//! 2. then, while the folder still holds more than `max_bytes`, the least
//!    recently used of the remaining unused artifacts.
//!
//! Never removed: an artifact in use (its content hash is in `in_use` and it
//! carries this engine's fingerprint), and any file whose name is not an
//! artifact's (`<64 hex>-<16 hex>.cwasm`) — temporary files of a write in
//! progress included. An artifact of another engine fingerprint (an older
//! wasmtime) is never in use by this engine and is pruned like any other. The
//! folder's size counts every regular file in it, but only artifacts are
//! removed, so a folder full of other files can stay over `max_bytes` (the
//! report says how much remains).
//!
//! Removing an artifact a loaded component still maps is safe: unlinking keeps
//! the mapped inode alive until it is unmapped (only truncating it in place
//! would not be). Each removal is logged with the file name.
//!
//! The defaults: [`DEFAULT_MAX_AGE`], 30 days, so a plugin rolled back within
//! a month starts without compiling; [`DEFAULT_MAX_BYTES`], 1 GiB, about
//! thirty Python or JavaScript plugins (≈ 35 MB artifacts) or thousands of
//! Rust ones (≈ 0.3 MB).
//!
//! Blocking (a directory listing and unlinks): run it on a blocking thread.

use std::collections::HashSet;
use std::io;
use std::time::{Duration, SystemTime};

use super::ComponentCache;

/// Unused artifacts older than this are removed.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// Past this size the oldest unused artifacts are removed.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// What a prune removed and what it left.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PruneReport {
    /// File names removed, in the order they were.
    pub removed: Vec<String>,
    /// Their total size.
    pub removed_bytes: u64,
    /// What the folder's regular files hold afterwards.
    pub remaining_bytes: u64,
}

/// An unused artifact, a candidate for removal.
struct Candidate {
    name: String,
    bytes: u64,
    modified: SystemTime,
}

/// `(content hash, engine fingerprint)` of an artifact's file name.
fn parse_artifact_name(name: &str) -> Option<(&str, &str)> {
    let (hash, fingerprint) = name.strip_suffix(".cwasm")?.split_once('-')?;
    let lower_hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    (lower_hex(hash, 64) && lower_hex(fingerprint, 16)).then_some((hash, fingerprint))
}

impl ComponentCache {
    /// Remove unused artifacts older than `max_age`, then the oldest unused
    /// ones while the folder holds more than `max_bytes`. `in_use` holds the
    /// content hashes (`Plugin::hash`) of every plugin loaded now; their
    /// artifacts are never removed. A missing folder has nothing to prune.
    pub fn prune(
        &self,
        in_use: &HashSet<String>,
        max_age: Duration,
        max_bytes: u64,
    ) -> io::Result<PruneReport> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(PruneReport::default()),
            Err(e) => return Err(e),
        };
        let now = SystemTime::now();
        let mut total: u64 = 0;
        let mut unused = Vec::new();
        for entry in entries {
            let entry = entry?;
            // Not followed: a symlink is not a file of this folder.
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if !meta.is_file() {
                continue;
            }
            total += meta.len();
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Some((hash, fingerprint)) = parse_artifact_name(&name) else {
                continue;
            };
            if fingerprint == self.fingerprint && in_use.contains(hash) {
                continue;
            }
            unused.push(Candidate {
                // An unknown mtime counts as new: never removed for its age.
                modified: meta.modified().unwrap_or(now),
                bytes: meta.len(),
                name,
            });
        }
        unused.sort_by(|a, b| (a.modified, &a.name).cmp(&(b.modified, &b.name)));

        let mut report = PruneReport::default();
        let mut young = Vec::new();
        for c in unused {
            let age = now.duration_since(c.modified).unwrap_or(Duration::ZERO);
            if age > max_age {
                self.remove(
                    &c,
                    "unused for longer than its maximum age",
                    &mut report,
                    &mut total,
                );
            } else {
                young.push(c);
            }
        }
        for c in &young {
            if total <= max_bytes {
                break;
            }
            self.remove(
                c,
                "the cache is over its size limit",
                &mut report,
                &mut total,
            );
        }
        report.remaining_bytes = total;
        Ok(report)
    }

    fn remove(&self, c: &Candidate, reason: &str, report: &mut PruneReport, total: &mut u64) {
        match std::fs::remove_file(self.dir.join(&c.name)) {
            Ok(()) => {
                tracing::info!(file = %c.name, bytes = c.bytes, reason, "pruned a compiled component from the cache");
                report.removed.push(c.name.clone());
                report.removed_bytes += c.bytes;
                *total = total.saturating_sub(c.bytes);
            }
            // Someone else (another daemon sharing the folder) was first.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                *total = total.saturating_sub(c.bytes);
            }
            Err(e) => {
                tracing::warn!(file = %c.name, error = %e, "cannot prune a compiled component from the cache");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    use super::*;

    const FP: &str = "0123456789abcdef";
    const DAY: Duration = Duration::from_secs(24 * 60 * 60);

    fn hash(n: u8) -> String {
        format!("{n:02x}").repeat(32)
    }

    fn artifact(hash: &str) -> String {
        format!("{hash}-{FP}.cwasm")
    }

    /// A file of `bytes` bytes last modified `age` ago.
    fn file(dir: &Path, name: &str, bytes: usize, age: Duration) {
        let path = dir.join(name);
        std::fs::write(&path, vec![0u8; bytes]).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(SystemTime::now() - age)
            .unwrap();
    }

    fn cache(dir: &Path) -> ComponentCache {
        ComponentCache {
            dir: dir.to_path_buf(),
            fingerprint: FP.into(),
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    /// Held by every test that reaches the removal log line. tracing caches
    /// whether a call site is enabled: a test on another thread that reaches
    /// it first, with no subscriber, while [`logs`] installs its own, can
    /// leave it cached as disabled and the captured log empty (seen in CI).
    static LOG_SITE: Mutex<()> = Mutex::new(());

    /// Log lines written while `f` runs on this thread.
    fn logs<T>(f: impl FnOnce() -> T) -> (T, String) {
        #[derive(Clone)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf(Arc::new(Mutex::new(Vec::new())));
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let out = tracing::subscriber::with_default(subscriber, || {
            tracing::callsite::rebuild_interest_cache();
            f()
        });
        let text = String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned();
        (out, text)
    }

    #[test]
    fn artifact_names_are_recognised_exactly() {
        let h = hash(0xab);
        assert_eq!(parse_artifact_name(&artifact(&h)), Some((h.as_str(), FP)));
        for other in [
            format!("{h}-{FP}.cwasm.tmp"),
            format!(".{h}-{FP}.cwasm.123.0000abcd.tmp"),
            format!("{h}.cwasm"),
            format!("{}-{FP}.cwasm", &h[1..]),
            format!("{}-{FP}.cwasm", h.to_uppercase()),
            "notes.txt".into(),
        ] {
            assert_eq!(parse_artifact_name(&other), None, "{other}");
        }
    }

    #[test]
    fn old_unused_artifacts_go_and_everything_else_stays() {
        let _site = LOG_SITE.lock().unwrap_or_else(|e| e.into_inner());
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let (old_used, old_unused, young_unused) = (hash(1), hash(2), hash(3));
        file(dir, &artifact(&old_used), 10, 90 * DAY);
        file(dir, &artifact(&old_unused), 10, 31 * DAY);
        file(dir, &artifact(&young_unused), 10, 29 * DAY);
        // The in-use hash, but compiled by another engine: not in use here.
        let other_engine = format!("{old_used}-fedcba9876543210.cwasm");
        file(dir, &other_engine, 10, 31 * DAY);
        // Not artifacts: left alone however old.
        file(dir, "notes.txt", 10, 400 * DAY);
        file(
            dir,
            &format!(".{}.1.0000abcd.tmp", artifact(&hash(4))),
            10,
            400 * DAY,
        );

        let in_use = HashSet::from([old_used.clone()]);
        let (report, log) = logs(|| cache(dir).prune(&in_use, 30 * DAY, u64::MAX).unwrap());
        let mut removed = report.removed.clone();
        removed.sort();
        let mut expected = vec![artifact(&old_unused), other_engine.clone()];
        expected.sort();
        assert_eq!(removed, expected);
        assert_eq!(report.removed_bytes, 20);
        assert_eq!(report.remaining_bytes, 40);
        let mut left = vec![
            artifact(&old_used),
            artifact(&young_unused),
            "notes.txt".to_string(),
            format!(".{}.1.0000abcd.tmp", artifact(&hash(4))),
        ];
        left.sort();
        assert_eq!(names(dir), left);
        for name in &expected {
            assert!(
                log.lines()
                    .any(|l| l.contains("pruned a compiled component") && l.contains(name.as_str())),
                "no log line names {name}:\n{log}"
            );
        }
    }

    #[test]
    fn over_the_size_bound_the_oldest_unused_go_first_and_in_use_ones_never() {
        let _site = LOG_SITE.lock().unwrap_or_else(|e| e.into_inner());
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let (used, a, b, c) = (hash(1), hash(2), hash(3), hash(4));
        file(dir, &artifact(&used), 100, 20 * DAY);
        file(dir, &artifact(&a), 100, 3 * DAY);
        file(dir, &artifact(&b), 100, 2 * DAY);
        file(dir, &artifact(&c), 100, DAY);
        let in_use = HashSet::from([used.clone()]);

        // 400 bytes, at most 250: the two oldest unused go, the newest stays.
        let report = cache(dir).prune(&in_use, 30 * DAY, 250).unwrap();
        assert_eq!(report.removed, [artifact(&a), artifact(&b)]);
        assert_eq!(report.remaining_bytes, 200);
        assert_eq!(names(dir), {
            let mut v = vec![artifact(&used), artifact(&c)];
            v.sort();
            v
        });

        // Even a bound nothing can meet never removes what is in use.
        let report = cache(dir).prune(&in_use, 30 * DAY, 0).unwrap();
        assert_eq!(report.removed, [artifact(&c)]);
        assert_eq!(report.remaining_bytes, 100);
        assert_eq!(names(dir), [artifact(&used)]);
    }

    #[test]
    fn a_missing_folder_has_nothing_to_prune() {
        let tmp = tempfile::tempdir().unwrap();
        let report = cache(&tmp.path().join("never-created"))
            .prune(&HashSet::new(), Duration::ZERO, 0)
            .unwrap();
        assert_eq!(report, PruneReport::default());
    }
}
