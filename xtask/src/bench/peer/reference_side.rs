//! One reference run of a scenario: `run_peer.py scenario NAME` from the
//! peer harness, unchanged (it starts its own mock server the same way and
//! reports the same figures for its own process), and finding a Python that
//! can run it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::cli::Options;
use super::tail;
use crate::bench::child::Proc;

/// The first Python that can import both the SDK and websockets.
pub fn find_python(o: &Options) -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = match &o.python {
        Some(p) => vec![p.clone()],
        None => vec![
            o.peer_dir.join(".venv/bin/python"),
            PathBuf::from("/tmp/peer-venv/bin/python"),
            PathBuf::from("python3"),
        ],
    };
    candidates.into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import agents, websockets"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// One reference run: `run_peer.py scenario NAME` (it starts its own mock server).
pub fn run(o: &Options, py: &Path, name: &str) -> Result<Value> {
    let mut cmd = Command::new(py);
    cmd.arg(o.peer_dir.join("run_peer.py"))
        .args(["scenario", name]);
    for v in &o.vars {
        cmd.args(["--var", v]);
    }
    let dir = tempfile::tempdir().context("creating a temp dir")?;
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    let child = cmd
        .current_dir(dir.path())
        .stdout(std::fs::File::create(&out_path).context("creating stdout file")?)
        .stderr(std::fs::File::create(&err_path).context("creating stderr file")?)
        .spawn()
        .with_context(|| format!("cannot run run_peer.py with {}", py.display()))?;
    let mut proc = Proc {
        name: "run_peer.py",
        child,
    };
    proc.wait_exit(Duration::from_secs(420))?;
    let out = std::fs::read_to_string(&out_path).unwrap_or_default();
    let line = out.lines().rev().find(|l| l.trim_start().starts_with('{'));
    let Some(line) = line else {
        let err = std::fs::read_to_string(&err_path).unwrap_or_default();
        bail!("run_peer.py printed no result:\n{}", tail(&err, 20));
    };
    let mut v: Value = serde_json::from_str(line).context("parsing run_peer.py's result")?;
    let ok = v["client_error"].is_null() && v["server_ok"] == true;
    if let Some(m) = v.as_object_mut() {
        m.insert("side".into(), json!("reference"));
        m.insert("ok".into(), json!(ok));
        // Large and not needed for the comparison.
        m.remove("raw_model_events_by_type");
        m.remove("server_emitted_by_type");
    }
    Ok(v)
}
