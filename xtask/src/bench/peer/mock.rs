//! The peer harness's scripted Realtime server (`mock_realtime_server.py`)
//! for the agentd side: started as run_peer.py starts it (one connection, no
//! compression), its port read from its `LISTENING host port` line, and its
//! stats file read once it has exited. It measures the latencies, so they
//! mean the same on both sides.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use super::cli::Options;
use crate::bench::child::Proc;

/// The mock server on loopback, started as run_peer.py's `ServerProc` does.
pub fn start(o: &Options, py: &Path, scenario: &Path, stats: &Path) -> Result<(Proc, u16)> {
    let mut cmd = Command::new(py);
    cmd.arg(o.peer_dir.join("mock_realtime_server.py"))
        .arg("--scenario")
        .arg(scenario)
        .arg("--stats")
        .arg(stats)
        .args([
            "--max-conns",
            "1",
            "--compression",
            "none",
            "--lifetime",
            "900",
        ]);
    for v in &o.vars {
        cmd.args(["--var", v]);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start the mock server with {}", py.display()))?;
    let stdout = child.stdout.take();
    let mut proc = Proc {
        name: "mock server",
        child,
    };
    let mut line = String::new();
    if let Some(out) = stdout {
        BufReader::new(out)
            .read_line(&mut line)
            .context("reading the mock server's LISTENING line")?;
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    let port = match words.as_slice() {
        ["LISTENING", _, port] => port.parse::<u16>().ok(),
        _ => None,
    };
    match port {
        Some(p) => Ok((proc, p)),
        None => {
            proc.stop();
            bail!("the mock server did not print `LISTENING host port` (got {line:?})")
        }
    }
}

/// The mock's stats: its connection line and its summary line (`Null` if absent).
pub fn read_stats(path: &Path) -> Result<(Value, Value)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the mock's stats {}", path.display()))?;
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let conn = lines
        .iter()
        .find(|l| l.get("conn").is_some())
        .cloned()
        .ok_or_else(|| anyhow!("the mock's stats have no connection line: {text}"))?;
    let summary = lines
        .iter()
        .find(|l| l["server_summary"] == true)
        .cloned()
        .unwrap_or(Value::Null);
    Ok((conn, summary))
}
