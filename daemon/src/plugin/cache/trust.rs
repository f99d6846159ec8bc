//! Whether compiled code in the cache may be loaded at all.
//!
//! `Component::deserialize_file` maps an artifact and runs its native code
//! inside agentd. Whoever can write an artifact — or the folder holding it, to
//! drop a file in or rename one over an artifact — can therefore run code as
//! agentd. So, before any compiled code is loaded:
//! - the folder must be a directory owned by agentd's effective uid, with no
//!   group or other write bit; a missing one is created mode 0700. A folder
//!   that fails this stops the host from starting ([`CacheDirError`], naming
//!   the folder, what is wrong and the `chown`/`chmod` that fixes it): it is
//!   neither loaded from nor silently ignored. Each load checks it again, and
//!   a folder that has become unsafe since is not used (logged) until fixed;
//! - each artifact must be a regular file (not a symlink) owned by the same
//!   uid, with no group or other write bit. One that is not is never
//!   deserialized: it is logged, removed and the component compiled again.
//!
//! Limits: the folder's parents are not checked — keep the cache under a
//! folder only agentd's user controls (systemd's `StateDirectory=` is one);
//! and a check is not atomic with the load that follows it, which is why the
//! folder's own owner and mode matter: they keep anyone else from acting in
//! between.

use std::fs::Metadata;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Why the cache folder cannot be trusted with compiled code.
#[derive(Debug, thiserror::Error)]
pub enum CacheDirError {
    #[error("compiled-plugin cache {dir}: cannot create it: {source}")]
    Create { dir: PathBuf, source: io::Error },
    #[error("compiled-plugin cache {dir}: cannot inspect it: {source}")]
    Inspect { dir: PathBuf, source: io::Error },
    #[error(
        "compiled-plugin cache {dir} is not a directory; remove it or set `[daemon] cache_dir` to a folder"
    )]
    NotADirectory { dir: PathBuf },
    #[error(
        "compiled-plugin cache {dir} is owned by uid {owner}, not by agentd's uid {euid}; agentd runs the native code it finds there, so only its own user may own it: `chown {euid} {dir}` (or set `[daemon] cache_dir` elsewhere)"
    )]
    Owner { dir: PathBuf, owner: u32, euid: u32 },
    #[error(
        "compiled-plugin cache {dir} has mode {mode:04o}, which lets its group or others write there; agentd runs the native code it finds there, so nobody else may write to it: `chmod 700 {dir}`"
    )]
    Mode { dir: PathBuf, mode: u32 },
}

/// What is wrong with a folder or file, decided from its metadata alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flaw {
    /// Not a directory (for the folder) or not a regular file (for an artifact).
    Kind,
    /// Owned by this uid instead of agentd's.
    Owner(u32),
    /// These permission bits (`0o7777` part) include group or other write.
    Mode(u32),
}

/// The decision, separate from the file system so every case is testable.
pub(crate) fn judge(right_kind: bool, owner: u32, mode: u32, euid: u32) -> Result<(), Flaw> {
    if !right_kind {
        return Err(Flaw::Kind);
    }
    if owner != euid {
        return Err(Flaw::Owner(owner));
    }
    if mode & 0o022 != 0 {
        return Err(Flaw::Mode(mode & 0o7777));
    }
    Ok(())
}

/// agentd's effective uid: the owner the cache must have.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Make sure `dir` exists (created 0700 when missing) and is safe to load from.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), CacheDirError> {
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|source| CacheDirError::Create {
                    dir: dir.to_path_buf(),
                    source,
                })?;
            // Checked like any other: a racing creator may have won.
            check_dir(dir)
        }
        Err(source) => Err(CacheDirError::Inspect {
            dir: dir.to_path_buf(),
            source,
        }),
        Ok(meta) => dir_verdict(dir, &meta),
    }
}

/// Check an existing `dir`.
fn check_dir(dir: &Path) -> Result<(), CacheDirError> {
    let meta = std::fs::metadata(dir).map_err(|source| CacheDirError::Inspect {
        dir: dir.to_path_buf(),
        source,
    })?;
    dir_verdict(dir, &meta)
}

fn dir_verdict(dir: &Path, meta: &Metadata) -> Result<(), CacheDirError> {
    let euid = effective_uid();
    judge(meta.is_dir(), meta.uid(), meta.mode(), euid).map_err(|flaw| {
        let dir = dir.to_path_buf();
        match flaw {
            Flaw::Kind => CacheDirError::NotADirectory { dir },
            Flaw::Owner(owner) => CacheDirError::Owner { dir, owner, euid },
            Flaw::Mode(mode) => CacheDirError::Mode { dir, mode },
        }
    })
}

/// What is at an artifact's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Artifact {
    Missing,
    /// Present, and agentd's own: it may be deserialized.
    Trusted,
    /// Present but not to be loaded, and why.
    Untrusted(String),
}

/// Check the artifact at `path` (a symlink is not followed).
pub(crate) fn check_artifact(path: &Path) -> Artifact {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Artifact::Missing,
        Err(e) => return Artifact::Untrusted(format!("cannot inspect it: {e}")),
    };
    let euid = effective_uid();
    match judge(meta.is_file(), meta.uid(), meta.mode(), euid) {
        Ok(()) => Artifact::Trusted,
        Err(Flaw::Kind) => Artifact::Untrusted("it is not a regular file".into()),
        Err(Flaw::Owner(owner)) => Artifact::Untrusted(format!(
            "it is owned by uid {owner}, not by agentd's uid {euid}"
        )),
        Err(Flaw::Mode(mode)) => Artifact::Untrusted(format!(
            "its mode {mode:04o} lets its group or others write it"
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const NOBODY: u32 = 65534;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Tests that need another user's files can only run as root; say so
    /// where it shows even when the test passes.
    fn root_only(test: &str) -> bool {
        if effective_uid() == 0 {
            return true;
        }
        let _ = writeln!(
            io::stderr(),
            "SKIPPED {test}: needs root to chown; `judge_decides_by_kind_owner_and_mode` covers the decision"
        );
        false
    }

    #[test]
    fn judge_decides_by_kind_owner_and_mode() {
        let me = 1000;
        let table = [
            // (right kind, owner, mode, verdict)
            (true, me, 0o40700, Ok(())),
            (true, me, 0o40755, Ok(())),
            (true, me, 0o100600, Ok(())),
            (true, me, 0o100644, Ok(())),
            (false, me, 0o40700, Err(Flaw::Kind)),
            (true, 0, 0o40700, Err(Flaw::Owner(0))),
            (true, NOBODY, 0o40777, Err(Flaw::Owner(NOBODY))),
            (true, me, 0o40770, Err(Flaw::Mode(0o770))),
            (true, me, 0o40702, Err(Flaw::Mode(0o702))),
            (true, me, 0o41777, Err(Flaw::Mode(0o1777))),
            (true, me, 0o100664, Err(Flaw::Mode(0o664))),
        ];
        for (kind, owner, mode, verdict) in table {
            assert_eq!(
                judge(kind, owner, mode, me),
                verdict,
                "kind={kind} owner={owner} mode={mode:o}"
            );
        }
    }

    #[test]
    fn a_missing_folder_is_created_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state").join("cache");
        ensure_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // An existing private folder passes as it is.
        ensure_dir(&dir).unwrap();
    }

    #[test]
    fn a_folder_others_may_write_is_refused_with_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        for mode in [0o770, 0o777, 0o722] {
            chmod(tmp.path(), mode);
            let err = ensure_dir(tmp.path()).unwrap_err();
            assert!(matches!(err, CacheDirError::Mode { .. }), "{err:?}");
            let msg = err.to_string();
            let dir = tmp.path().display().to_string();
            assert!(
                msg.starts_with(&format!("compiled-plugin cache {dir} ")),
                "{msg}"
            );
            assert!(msg.contains(&format!("mode {mode:04o}")), "{msg}");
            assert!(msg.contains(&format!("`chmod 700 {dir}`")), "{msg}");
        }
    }

    #[test]
    fn a_file_in_place_of_the_folder_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("cache");
        std::fs::write(&file, b"").unwrap();
        let err = ensure_dir(&file).unwrap_err();
        assert!(err.to_string().contains("is not a directory"), "{err}");
    }

    #[test]
    fn a_folder_of_another_owner_is_refused_with_the_fix() {
        if !root_only("a_folder_of_another_owner_is_refused_with_the_fix") {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache");
        std::fs::create_dir(&dir).unwrap();
        chmod(&dir, 0o700);
        std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
        let msg = ensure_dir(&dir).unwrap_err().to_string();
        assert!(
            msg.contains(&format!("is owned by uid {NOBODY}, not by agentd's uid 0")),
            "{msg}"
        );
        assert!(
            msg.contains(&format!("`chown 0 {}`", dir.display())),
            "{msg}"
        );
    }

    #[test]
    fn artifacts_are_trusted_only_when_agentd_owns_them_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a.cwasm");
        assert_eq!(check_artifact(&path), Artifact::Missing);
        std::fs::write(&path, b"code").unwrap();
        chmod(&path, 0o600);
        assert_eq!(check_artifact(&path), Artifact::Trusted);
        chmod(&path, 0o666);
        match check_artifact(&path) {
            Artifact::Untrusted(why) => assert!(why.contains("mode 0666"), "{why}"),
            other => panic!("{other:?}"),
        }
        chmod(&path, 0o600);
        let link = tmp.path().join("b.cwasm");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert_eq!(
            check_artifact(&link),
            Artifact::Untrusted("it is not a regular file".into())
        );
        if root_only("artifacts_are_trusted_only_when_agentd_owns_them_alone (owner part)") {
            std::os::unix::fs::chown(&path, Some(NOBODY), None).unwrap();
            match check_artifact(&path) {
                Artifact::Untrusted(why) => {
                    assert!(why.contains(&format!("owned by uid {NOBODY}")), "{why}")
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
