//! `agentd plugin build [DIR]`: a project made by `plugin new` into
//! `DIR/NAME.wasm`, installing what the build needs first:
//!
//! - Rust: the `wasm32-wasip2` target (through rustup), then
//!   `cargo build --release --target wasm32-wasip2`;
//! - Python: componentize-py [`COMPONENTIZE_PY`] in a virtualenv under
//!   [`toolchain_cache`] (from PyPI), then `componentize-py componentize`;
//! - JavaScript: jco [`JCO`] + componentize-js [`COMPONENTIZE_JS`] under
//!   [`toolchain_cache`] (from npm), then `jco componentize --disable all`
//!   (so the component imports no `wasi:http` it does not use).
//!
//! The versions are pinned: jco 1.35 fails before building (its WIT
//! pre-check cannot read host paths). A missing `rustup`, `python3` or `npm`
//! is an error saying what to install.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{AuthoringError, Lang, Manifest, toolchain_cache};

/// componentize-py, from PyPI.
pub const COMPONENTIZE_PY: &str = "0.25.1";
/// jco, from npm.
pub const JCO: &str = "1.30.0";
/// componentize-js, from npm (what jco 1.30 drives).
pub const COMPONENTIZE_JS: &str = "0.22.0";

const TARGET: &str = "wasm32-wasip2";

/// Build the project in `given`; returns the component's path (under
/// `given` as written).
pub fn build(given: &Path) -> Result<PathBuf, AuthoringError> {
    // The toolchains run inside the project with paths built from it: a
    // relative path would then be taken twice (`p/p/x.wasm`).
    let dir = &std::fs::canonicalize(given).map_err(|source| AuthoringError::ReadManifest {
        path: given.join(super::MANIFEST),
        source,
    })?;
    let manifest = Manifest::read(dir)?;
    let out = dir.join(format!("{}.wasm", manifest.name));
    match manifest.lang {
        Lang::Rust => build_rust(dir, &manifest, &out)?,
        Lang::Python => build_python(dir, &manifest, &out)?,
        Lang::Js => build_js(dir, &manifest, &out)?,
    }
    if !out.is_file() {
        return Err(AuthoringError::NoOutput(out));
    }
    Ok(given.join(format!("{}.wasm", manifest.name)))
}

fn run(cmd: &mut Command) -> Result<(), AuthoringError> {
    let shown = format!("{cmd:?}");
    eprintln!("agentd: running {shown}");
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(AuthoringError::Failed {
            command: shown,
            status: s.to_string(),
        }),
        Err(e) => Err(AuthoringError::Failed {
            command: shown,
            status: format!("could not start: {e}"),
        }),
    }
}

fn missing(what: &str, lang: &'static str, problem: String, fix: &str) -> AuthoringError {
    AuthoringError::Missing {
        what: what.to_string(),
        lang,
        problem,
        fix: fix.to_string(),
    }
}

fn ensure_rust_target() -> Result<(), AuthoringError> {
    let listed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| {
            missing(
                &format!("rustup (for the {TARGET} target)"),
                "Rust",
                format!("cannot be run: {e}"),
                "Install Rust with rustup (https://rustup.rs), then run `agentd plugin build` again.",
            )
        })?;
    if String::from_utf8_lossy(&listed.stdout)
        .lines()
        .any(|l| l.trim() == TARGET)
    {
        return Ok(());
    }
    eprintln!("agentd: installing the {TARGET} target");
    run(Command::new("rustup").args(["target", "add", TARGET])).map_err(|e| {
        missing(
            &format!("the {TARGET} target"),
            "Rust",
            format!("could not be installed ({e})"),
            "Run `rustup target add wasm32-wasip2` yourself and look at what it says.",
        )
    })
}

fn build_rust(dir: &Path, m: &Manifest, out: &Path) -> Result<(), AuthoringError> {
    ensure_rust_target()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(Command::new(cargo)
        .current_dir(dir)
        .args(["build", "--release", "--target", TARGET]))?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { dir.join(t) })
        .unwrap_or_else(|| dir.join("target"));
    let built = target_dir
        .join(TARGET)
        .join("release")
        .join(format!("{}.wasm", m.name.replace('-', "_")));
    copy_into_place(&built, out)
}

/// Copy then rename, so a watching agentd never sees half a file.
fn copy_into_place(from: &Path, to: &Path) -> Result<(), AuthoringError> {
    if !from.is_file() {
        return Err(AuthoringError::NoOutput(from.to_path_buf()));
    }
    let tmp = to.with_extension("wasm.tmp");
    std::fs::copy(from, &tmp)
        .and_then(|_| std::fs::rename(&tmp, to))
        .map_err(|source| AuthoringError::Write {
            path: to.to_path_buf(),
            source,
        })
}

/// `<cache>/python-0.25.1/bin/componentize-py`, installed when missing.
pub fn componentize_py() -> Result<PathBuf, AuthoringError> {
    let venv = toolchain_cache().join(format!("python-{COMPONENTIZE_PY}"));
    let tool = venv.join("bin").join("componentize-py");
    if tool.is_file() {
        return Ok(tool);
    }
    let python = std::env::var_os("PYTHON").unwrap_or_else(|| "python3".into());
    eprintln!(
        "agentd: installing componentize-py {COMPONENTIZE_PY} into {}",
        venv.display()
    );
    run(Command::new(&python).arg("-m").arg("venv").arg(&venv)).map_err(|e| {
        missing(
            "python3 with the venv module",
            "Python",
            format!("could not make a virtualenv ({e})"),
            "Install Python 3.10 or later with venv (Debian: `apt-get install python3-venv`).",
        )
    })?;
    run(Command::new(venv.join("bin").join("pip"))
        .args(["install", "--quiet"])
        .arg(format!("componentize-py=={COMPONENTIZE_PY}")))
    .map_err(|e| {
        missing(
            &format!("componentize-py {COMPONENTIZE_PY}"),
            "Python",
            format!("could not be installed from PyPI ({e})"),
            "Check that PyPI is reachable (pip's message is above), then run `agentd plugin build` again.",
        )
    })?;
    Ok(tool)
}

/// The project's `wit/`, or the contract compiled into this binary written
/// to a temporary folder (kept alive by the returned guard).
fn wit_dir(dir: &Path) -> Result<(PathBuf, Option<tempfile::TempDir>), AuthoringError> {
    let own = dir.join("wit");
    if own.is_dir() {
        return Ok((std::fs::canonicalize(&own).unwrap_or(own), None));
    }
    let tmp = tempfile::Builder::new()
        .prefix("agentd-wit-")
        .tempdir()
        .map_err(|source| AuthoringError::Write {
            path: std::env::temp_dir(),
            source,
        })?;
    let path = tmp.path().join("plugin.wit");
    super::new::write_file(&path, super::sdk::WIT)?;
    Ok((tmp.path().to_path_buf(), Some(tmp)))
}

fn build_python(dir: &Path, m: &Manifest, out: &Path) -> Result<(), AuthoringError> {
    let tool = componentize_py()?;
    let (wit, _guard) = wit_dir(dir)?;
    let tmp = out.with_extension("wasm.tmp");
    run(Command::new(tool)
        .current_dir(dir)
        .arg("-d")
        .arg(&wit)
        .args([
            "-w",
            m.world.wit_name(),
            "componentize",
            "-p",
            ".",
            "app",
            "-o",
        ])
        .arg(&tmp))?;
    std::fs::rename(&tmp, out).map_err(|source| AuthoringError::Write {
        path: out.to_path_buf(),
        source,
    })
}

/// `<cache>/js-1.30.0/node_modules/.bin/jco`, installed when missing.
pub fn jco() -> Result<PathBuf, AuthoringError> {
    let prefix = toolchain_cache().join(format!("js-{JCO}"));
    let tool = prefix.join("node_modules").join(".bin").join("jco");
    if tool.is_file() {
        return Ok(tool);
    }
    std::fs::create_dir_all(&prefix).map_err(|source| AuthoringError::Write {
        path: prefix.clone(),
        source,
    })?;
    eprintln!(
        "agentd: installing jco {JCO} and componentize-js {COMPONENTIZE_JS} into {}",
        prefix.display()
    );
    run(Command::new("npm")
        .arg("install")
        .arg("--prefix")
        .arg(&prefix)
        .args(["--no-audit", "--no-fund", "--silent"])
        .arg(format!("@bytecodealliance/jco@{JCO}"))
        .arg(format!("@bytecodealliance/componentize-js@{COMPONENTIZE_JS}")))
    .map_err(|e| {
        missing(
            &format!("jco {JCO} and componentize-js {COMPONENTIZE_JS}"),
            "JavaScript",
            format!("could not be installed with npm ({e})"),
            "Install Node.js 18 or later with npm, check that the npm registry is reachable, then run `agentd plugin build` again.",
        )
    })?;
    Ok(tool)
}

fn build_js(dir: &Path, m: &Manifest, out: &Path) -> Result<(), AuthoringError> {
    let tool = jco()?;
    let (wit, _guard) = wit_dir(dir)?;
    let tmp = out.with_extension("wasm.tmp");
    run(Command::new(tool)
        .current_dir(dir)
        .args(["componentize", "app.js", "--wit"])
        .arg(&wit)
        .args(["--world-name", m.world.wit_name(), "--disable", "all", "-o"])
        .arg(&tmp))?;
    std::fs::rename(&tmp, out).map_err(|source| AuthoringError::Write {
        path: out.to_path_buf(),
        source,
    })
}
