//! `cargo xtask bench peer`: agentd against the reference Python client (the
//! OpenAI Agents SDK's `RealtimeSession`), both driven by the same scripted
//! Realtime server (`shared/bench/peer-python/mock_realtime_server.py`) and
//! the same five scenarios, in the same run, interleaved.
//!
//! ```sh
//! AGENTD_PEER_PYTHON=/tmp/peer-venv/bin/python cargo xtask bench --repeat 3
//! # = cargo xtask bench peer --repeat 3: plugins (tests/fixtures/peer.wasm), a release agentd, the runs
//! ```
//!
//! For each repetition and scenario it runs both sides, alternating which
//! goes first: [`agentd_side`] (the mock, then the real `agentd` binary, its
//! session followed over the control socket) and [`reference_side`]
//! (`run_peer.py scenario NAME`). Latencies (tool_rtt, turn_rtt,
//! guardrail_*_rtt, handoff_*) are measured by the mock server on both
//! sides, so they are comparable as they are. Every run is appended to
//! `results.jsonl`; [`summary`] makes the table of medians (`summary.md`,
//! and stdout).
//!
//! The driver's own subscriber is part of what is measured (a session's wall
//! time ends when it has read `session_closed`, and it shares the CPUs with
//! agentd), so a release run runs it optimised, as `cargo bench` did: a
//! debug `cargo xtask` builds xtask in release too and hands the run over to
//! it with the options resolved.
//!
//! It is a program, not a test: it asserts nothing about timings. Without
//! the peer harness beside the checkout, or a Python that has
//! `openai-agents` and `websockets`, it says so and exits 0, before building
//! anything.

mod agentd_side;
mod cli;
mod mock;
mod reference_side;
mod summary;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use serde_json::json;

pub use cli::PeerArgs;
use cli::{Options, Profile, Side};

use crate::bench::measure::machine_state;
use crate::cargo::{cargo, root, status, target_dir};
use crate::plugins;

/// The whole `bench peer` command.
pub fn run(args: PeerArgs) -> Result<ExitCode> {
    let mut o = Options::from(args);
    if !o.peer_dir.join("run_peer.py").exists() {
        println!(
            "peer bench skipped: the peer harness is not at {} (set AGENTD_PEER_DIR)",
            o.peer_dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let Some(py) = reference_side::find_python(&o) else {
        println!(
            "peer bench skipped: no Python with `openai-agents` and `websockets` \
             (set AGENTD_PEER_PYTHON, e.g. after \
             `python3 -m venv /tmp/peer-venv && /tmp/peer-venv/bin/pip install openai-agents websockets`)"
        );
        return Ok(ExitCode::SUCCESS);
    };
    // Found once: the optimised driver below is told which.
    o.python = Some(py.clone());
    if o.build {
        build(&o)?;
    }
    if !peer_plugin().exists() {
        println!(
            "peer bench skipped: {} is missing (build it with `cargo xtask plugins`, \
             or run `cargo xtask bench` without --no-build, which does)",
            peer_plugin().display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if o.profile == Profile::Release && cfg!(debug_assertions) {
        return run_optimised(&o);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a tokio runtime")?;
    Ok(match rt.block_on(drive(&o, &py)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("peer bench: some runs failed (see their `error`)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("peer bench: {e:#}");
            ExitCode::FAILURE
        }
    })
}

/// The plugins, agentd (unless one was given) and, for a release run from a
/// debug xtask, the release xtask that will drive it.
fn build(o: &Options) -> Result<()> {
    plugins::plugins()?;
    let mut cmd = cargo();
    cmd.current_dir(root()).args(["build", "--quiet"]);
    if o.profile == Profile::Release {
        cmd.arg("--release");
    }
    let mut targets = 0;
    if !o.agentd_given {
        cmd.args(["-p", "agentd", "--bin", "agentd"]);
        targets += 1;
    }
    if o.profile == Profile::Release && cfg!(debug_assertions) {
        cmd.args(["-p", "xtask", "--bin", "xtask"]);
        targets += 1;
    }
    if targets == 0 {
        return Ok(());
    }
    status(&mut cmd)
}

/// Hand the run to the release build of xtask, with every option resolved.
fn run_optimised(o: &Options) -> Result<ExitCode> {
    let driver = target_dir().join("release").join("xtask");
    if !driver.exists() {
        bail!(
            "{} is missing: run without --no-build, which builds it",
            driver.display()
        );
    }
    let resolved = Options {
        build: false,
        ..o.clone()
    };
    let mut cmd = Command::new(&driver);
    cmd.current_dir(root())
        .args(["bench", "peer"])
        .args(resolved.to_args());
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {}", driver.display()))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

/// The fixture plugin with the client profiles' tools and guardrail.
fn peer_plugin() -> PathBuf {
    root().join("tests/fixtures/peer.wasm")
}

/// The last `lines` lines of a log, for an error message.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Every repetition of every scenario, both sides; `false` if a run failed.
async fn drive(o: &Options, py: &std::path::Path) -> Result<bool> {
    std::fs::create_dir_all(&o.out_dir)
        .with_context(|| format!("creating {}", o.out_dir.display()))?;
    let results_path = o.out_dir.join("results.jsonl");
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&results_path)
        .with_context(|| format!("opening {}", results_path.display()))?;
    let profile = o.profile.name();
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    eprintln!(
        "peer bench: {} × {:?}, agentd {} ({profile} build), python {}, {}",
        o.repeat,
        o.scenarios,
        o.agentd.display(),
        py.display(),
        machine_state()
    );
    let mut results = Vec::new();
    let mut all_ok = true;
    for rep in 0..o.repeat {
        for name in &o.scenarios {
            // Alternate which side goes first, so drift in background load
            // does not always favour the same one.
            let sides = if rep.is_multiple_of(2) {
                [Side::Agentd, Side::Reference]
            } else {
                [Side::Reference, Side::Agentd]
            };
            for side in sides {
                if o.only.is_some_and(|only| only != side) {
                    continue;
                }
                let load = machine_state();
                let res = match side {
                    Side::Agentd => agentd_side::run(o, py, name).await,
                    Side::Reference => reference_side::run(o, py, name),
                };
                let side = side.name();
                let mut rec = res.unwrap_or_else(|e| {
                    json!({"side": side, "scenario": name, "ok": false, "error": format!("{e:#}")})
                });
                if let Some(m) = rec.as_object_mut() {
                    m.insert("rep".into(), json!(rep));
                    m.insert("run_started".into(), json!(started));
                    m.insert("machine".into(), json!(load));
                    m.insert("agentd_profile".into(), json!(profile));
                }
                all_ok &= rec["ok"] == true;
                eprintln!(
                    "  rep {rep} {name:<18} {side:<9} ok={} wall={}s cpu={}s {}",
                    rec["ok"],
                    rec["wall_s"],
                    rec["client_cpu_s"],
                    rec.get("error").map(|e| e.to_string()).unwrap_or_default()
                );
                writeln!(out, "{rec}").context("writing results.jsonl")?;
                results.push(rec);
            }
        }
    }
    let table = summary::table(&results, &o.scenarios);
    let md = format!(
        "Medians of {} repetition(s); agentd {profile} build; {}.\n\n{table}",
        o.repeat,
        machine_state()
    );
    let summary_path = o.out_dir.join("summary.md");
    std::fs::write(&summary_path, &md)
        .with_context(|| format!("writing {}", summary_path.display()))?;
    println!("{md}");
    eprintln!(
        "peer bench: results appended to {}, table in {}",
        results_path.display(),
        summary_path.display()
    );
    Ok(all_ok)
}
