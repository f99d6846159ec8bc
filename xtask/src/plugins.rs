//! `cargo xtask plugins`: every crate under `plugins/` and `tests/fixtures/`
//! built for wasm32-wasip2 and copied to `<dir>/<name>.wasm`, where
//! agents.toml and the tests find them. The target is installed first when it
//! is missing, so the README's commands work on a fresh machine.
//!
//! Python and JavaScript plugins (folders with an `agentd-plugin.toml` and no
//! Cargo.toml) are built by `agentd plugin build`, the same command plugin
//! authors run; it installs componentize-py / jco under `$HOME/.cache/agentd`
//! once, so later runs (and CI, which keeps that folder) reuse them. A
//! component newer than its sources and the WIT is not built again (those
//! builds take tens of seconds).

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

/// Folders under `dir` with an `agentd-plugin.toml` and no Cargo.toml, with
/// the plugin name their manifest gives.
fn foreign_projects(dir: &Path) -> Vec<(std::path::PathBuf, String)> {
    let mut found: Vec<(std::path::PathBuf, String)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| !p.join("Cargo.toml").exists())
        .filter_map(|p| {
            let text = std::fs::read_to_string(p.join("agentd-plugin.toml")).ok()?;
            let name = text.lines().find_map(|l| {
                let v = l.strip_prefix("name")?.trim().strip_prefix('=')?.trim();
                Some(v.trim_matches('"').to_string())
            })?;
            Some((p, name))
        })
        .collect();
    found.sort();
    found
}

/// The newest modification time of the files under `dir` (caches skipped).
fn newest(dir: &Path) -> Option<std::time::SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.')
            || name == "__pycache__"
            || name == "node_modules"
            || name.ends_with(".wasm")
        {
            continue;
        }
        let t = if path.is_dir() {
            newest_of(newest, self::newest(&path))
        } else {
            newest_of(newest, entry.metadata().ok()?.modified().ok())
        };
        newest = t;
    }
    newest
}

fn newest_of(
    a: Option<std::time::SystemTime>,
    b: Option<std::time::SystemTime>,
) -> Option<std::time::SystemTime> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Build the Python and JS plugins under `dir` with `agentd plugin build`.
fn build_foreign(dir: &Path, out: &Path) -> Result<()> {
    let projects = foreign_projects(dir);
    let wit = root().join("plugin-sdk").join("wit");
    let stale: Vec<_> = projects
        .into_iter()
        .filter(|(p, name)| {
            let built = std::fs::metadata(out.join(format!("{name}.wasm")))
                .and_then(|m| m.modified())
                .ok();
            let sources = newest_of(newest(p), newest(&wit));
            match (built, sources) {
                (Some(b), Some(s)) => b < s,
                _ => true,
            }
        })
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    status(
        cargo()
            .current_dir(root())
            .args(["build", "--quiet", "-p", "agentd", "--bin", "agentd"]),
    )?;
    let agentd = target_dir().join("debug").join("agentd");
    for (project, name) in &stale {
        status(Command::new(&agentd).args(["plugin", "build"]).arg(project))?;
        let built = project.join(format!("{name}.wasm"));
        let dest = out.join(format!("{name}.wasm"));
        let tmp = out.join(format!(".{name}.wasm.tmp"));
        std::fs::rename(&built, &tmp)
            .and_then(|_| std::fs::rename(&tmp, &dest))
            .with_context(|| format!("cannot move {} to {}", built.display(), dest.display()))?;
        eprintln!("xtask: built {name} into {}", out.display());
    }
    Ok(())
}

/// Build the example plugins and the test fixtures.
pub fn plugins() -> Result<()> {
    ensure_target()?;
    build_components(&root().join("plugins"), &root().join("plugins"))?;
    build_foreign(&root().join("plugins"), &root().join("plugins"))?;
    let fixtures = root().join("tests").join("fixtures");
    build_components(&fixtures, &fixtures)
}
