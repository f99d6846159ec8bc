//! Where the repository and its build output are, and running the commands
//! the tasks are made of (cargo, rustup, the built binaries) with their
//! failures reported as errors naming the command.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};

/// The repository's root (the workspace), wherever `cargo xtask` was run from.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Cargo's target directory: `$CARGO_TARGET_DIR`, else `<root>/target`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// The cargo that runs this task (`$CARGO`), so toolchain overrides carry over.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Run `cmd` to completion; a failure to start it or a non-zero exit is an error.
pub fn status(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => bail!("{shown} failed ({s})"),
        Err(e) => bail!("cannot run {shown}: {e}"),
    }
}
