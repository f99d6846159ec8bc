//! `cargo xtask plugins`: every crate under `plugins/` and `tests/fixtures/`
//! built for wasm32-wasip2 and copied to `<dir>/<name>.wasm`, where
//! agents.toml and the tests find them. The target is installed first when it
//! is missing, so the README's commands work on a fresh machine.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::cargo::{cargo, root, status, target_dir};

const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "plugin";

fn ensure_target() -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .with_context(|| format!("cannot run rustup (needed for the {TARGET} target)"))?;
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == TARGET)
    {
        return Ok(());
    }
    eprintln!("xtask: installing the {TARGET} target");
    status(Command::new("rustup").args(["target", "add", TARGET]))
}

/// Crates under `dir` (each a folder with a Cargo.toml), by package name = folder name.
fn crates_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").exists())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Build the crates under `dir` as components and copy each to `out/<name>.wasm`.
fn build_components(dir: &Path, out: &Path) -> Result<()> {
    let names = crates_in(dir);
    if names.is_empty() {
        return Ok(());
    }
    let mut cmd = cargo();
    cmd.current_dir(root())
        .args(["build", "--quiet", "--target", TARGET, "--profile", PROFILE]);
    for n in &names {
        cmd.args(["-p", n]);
    }
    status(&mut cmd)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for n in &names {
        let artifact = n.replace('-', "_");
        let built = target_dir()
            .join(TARGET)
            .join(PROFILE)
            .join(format!("{artifact}.wasm"));
        let dest = out.join(format!("{n}.wasm"));
        // Write then rename, so a watching agentd never sees half a file.
        let tmp = out.join(format!(".{n}.wasm.tmp"));
        std::fs::copy(&built, &tmp)
            .and_then(|_| std::fs::rename(&tmp, &dest))
            .with_context(|| format!("cannot copy {} to {}", built.display(), dest.display()))?;
    }
    eprintln!("xtask: built {} into {}", names.join(", "), out.display());
    Ok(())
}

/// Build the example plugins and the test fixtures.
pub fn plugins() -> Result<()> {
    ensure_target()?;
    build_components(&root().join("plugins"), &root().join("plugins"))?;
    let fixtures = root().join("tests").join("fixtures");
    build_components(&fixtures, &fixtures)
}
