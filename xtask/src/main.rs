//! Developer tasks, run as `cargo xtask <task>` from anywhere in the repository.
//!
//! - `plugins`: build every crate under `plugins/` to a wasm32-wasip2 component
//!   and copy it to `plugins/<name>.wasm`, where agents.toml finds it;
//! - `run`: `plugins`, then start agentd in the foreground with `agents.toml`;
//! - `test`: `plugins`, then the whole test suite;
//! - `bench`: `plugins`, then agentd against the reference Python client
//!   (`cargo bench -p agentd --bench peer`, see BENCHMARKS.md).
//!
//! Each installs the wasm32-wasip2 target first when it is missing, so the
//! README's two commands work on a fresh machine.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "plugin";

type Result<T> = std::result::Result<T, String>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn status(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{shown} failed ({s})")),
        Err(e) => Err(format!("cannot run {shown}: {e}")),
    }
}

fn ensure_target() -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("cannot run rustup (needed for the {TARGET} target): {e}"))?;
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
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
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
            .map_err(|e| format!("cannot copy {} to {}: {e}", built.display(), dest.display()))?;
    }
    eprintln!("xtask: built {} into {}", names.join(", "), out.display());
    Ok(())
}

fn plugins() -> Result<()> {
    ensure_target()?;
    build_components(&root().join("plugins"), &root().join("plugins"))?;
    let fixtures = root().join("tests").join("fixtures");
    build_components(&fixtures, &fixtures)
}

fn run(extra: &[String]) -> Result<()> {
    plugins()?;
    status(
        cargo()
            .current_dir(root())
            .args(["build", "--quiet", "-p", "agentd", "--bins"]),
    )?;
    let agentd = target_dir().join("debug").join("agentd");
    eprintln!("xtask: starting {} --config agents.toml", agentd.display());
    status(
        Command::new(agentd)
            .current_dir(root())
            .args(["--config", "agents.toml"])
            .args(extra),
    )
}

fn test(extra: &[String]) -> Result<()> {
    plugins()?;
    status(
        cargo()
            .current_dir(root())
            .args(["test", "--workspace"])
            .args(extra),
    )
}

/// `plugins`, then the side-by-side benchmark against the reference Python
/// client (`daemon/benches/peer.rs`; release build). It skips itself, exit 0,
/// when the Python harness or its venv is missing.
fn bench(extra: &[String]) -> Result<()> {
    plugins()?;
    status(
        cargo()
            .current_dir(root())
            .args(["bench", "-p", "agentd", "--bench", "peer", "--"])
            .args(extra),
    )
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((t, rest)) => (t.as_str(), rest),
        None => ("help", &[][..]),
    };
    let result = match task {
        "plugins" => plugins(),
        "run" => run(rest),
        "test" => test(rest),
        "bench" => bench(rest),
        _ => {
            eprintln!("usage: cargo xtask <plugins|run|test|bench> [args...]");
            eprintln!(
                "  plugins  build plugins/* and tests/fixtures/* to wasm32-wasip2 components"
            );
            eprintln!("  run      build everything and start agentd with agents.toml");
            eprintln!("  test     build the plugins and run the whole test suite");
            eprintln!(
                "  bench    build the plugins and run agentd vs the reference Python client (BENCHMARKS.md)"
            );
            return if task == "help" {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
