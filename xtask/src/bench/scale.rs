//! `cargo xtask bench scale`: many concurrent sessions on one daemon.
//!
//! For each session count (default 1, 100, 1,000, 10,000), a fresh run:
//! the offline model in its own process (`agentd sim --listen`, so the
//! model's work is not counted as agentd's), the real release `agentd`
//! with the `calc` plugin, and one subscriber for all sessions — the
//! daemon-wide event stream `GET /v1/events?follow=1`, every line parsed as
//! JSON — rather than a control connection per session: a process may hold
//! at most 20,000 descriptors here, and each session already costs the
//! daemon one (its model connection). Then:
//!
//! 1. open N sessions (64 requests in flight): open time;
//! 2. let them settle, read `VmRSS` and the descriptors: per idle session;
//! 3. `turns` rounds; in each, every session sends `call calc.add {…}` (the
//!    sim answers with a tool call, agentd runs it in a fresh wasm instance,
//!    journals it, and the sim replies): a turn ends when the subscriber sees
//!    that session's `agent_end` after its `tool_end`. Turn latency is from
//!    before the message's POST to then. Turns/s over the whole phase,
//!    agentd's CPU (schedstat) per turn, `VmRSS` after: per busy session.
//!
//! Results: a table on stdout and in `bench/scale/summary.md`, one JSON
//! object per run appended to `bench/scale/results.jsonl`. A program, not a
//! test: nothing about timings is asserted.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentd_api::Client;
use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use serde_json::{Value, json};

use crate::bench::child::Proc;
use crate::bench::measure::{machine_state, proc_sched_cpu_s, proc_status_kb};
use crate::cargo::{cargo, root, status, target_dir};

/// `cargo xtask bench scale [OPTIONS]`.
#[derive(Debug, Clone, Args)]
pub struct ScaleArgs {
    /// Session counts, one run each.
    #[arg(long, value_delimiter = ',', default_value = "1,100,1000,10000")]
    pub sessions: Vec<usize>,
    /// Tool-call turns per session.
    #[arg(long, default_value_t = 3)]
    pub turns: usize,
    /// Requests in flight at once (opening sessions, sending messages).
    #[arg(long, default_value_t = 64)]
    pub in_flight: usize,
    /// `[daemon] journal_sync` of the daemon measured.
    #[arg(long, default_value = "normal")]
    pub journal_sync: String,
    /// Measure this agentd binary [default: the release build].
    #[arg(long)]
    pub agentd: Option<PathBuf>,
    /// Where results.jsonl and summary.md go [default: bench/scale].
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Use the plugins and binaries as they are.
    #[arg(long)]
    pub no_build: bool,
}

/// The whole `bench scale` command.
pub fn run(args: ScaleArgs) -> Result<ExitCode> {
    if !args.no_build {
        crate::plugins::plugins()?;
        let mut cmd = cargo();
        cmd.current_dir(root())
            .args(["build", "--quiet", "--release"]);
        if args.agentd.is_none() {
            cmd.args(["-p", "agentd", "--bin", "agentd"]);
        }
        // The subscriber parses every event: it runs optimised too.
        cmd.args(["-p", "xtask", "--bin", "xtask"]);
        status(&mut cmd)?;
    }
    if cfg!(debug_assertions) {
        let driver = target_dir().join("release").join("xtask");
        if driver.exists() {
            let mut cmd = Command::new(&driver);
            cmd.current_dir(root())
                .args(["bench", "scale", "--no-build"]);
            cmd.arg("--sessions").arg(
                args.sessions
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            );
            cmd.arg("--turns").arg(args.turns.to_string());
            cmd.arg("--in-flight").arg(args.in_flight.to_string());
            cmd.arg("--journal-sync").arg(&args.journal_sync);
            if let Some(a) = &args.agentd {
                cmd.arg("--agentd").arg(a);
            }
            if let Some(o) = &args.out_dir {
                cmd.arg("--out-dir").arg(o);
            }
            let st = cmd
                .status()
                .with_context(|| format!("cannot run {}", driver.display()))?;
            return Ok(if st.success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        eprintln!("scale bench: no release xtask; driving from this debug build");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a tokio runtime")?;
    rt.block_on(drive(&args))
}

async fn drive(args: &ScaleArgs) -> Result<ExitCode> {
    let agentd = args
        .agentd
        .clone()
        .unwrap_or_else(|| target_dir().join("release").join("agentd"));
    let calc = root().join("plugins/calc.wasm");
    for f in [&agentd, &calc] {
        if !f.exists() {
            bail!("{} is missing (run without --no-build)", f.display());
        }
    }
    let out_dir = args
        .out_dir
        .clone()
        .unwrap_or_else(|| root().join("bench/scale"));
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let mut results = Vec::new();
    let mut all_ok = true;
    for &n in &args.sessions {
        let load = machine_state();
        eprintln!("scale bench: {n} sessions × {} turns ({load})", args.turns);
        let mut rec = match one_run(args, &agentd, &calc, n).await {
            Ok(r) => r,
            Err(e) => json!({"sessions": n, "ok": false, "error": format!("{e:#}")}),
        };
        if let Some(m) = rec.as_object_mut() {
            m.insert("machine".into(), json!(load));
            m.insert("journal_sync".into(), json!(args.journal_sync));
            m.insert(
                "date".into(),
                json!(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0)
                ),
            );
        }
        all_ok &= rec["ok"] == true;
        eprintln!("  {rec}");
        let path = out_dir.join("results.jsonl");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        writeln!(f, "{rec}").context("writing results.jsonl")?;
        results.push(rec);
    }
    let md = format!(
        "agentd release build; model out of process (`agentd sim --listen`); one daemon-wide subscriber; journal_sync = {}; {}.\n\n{}",
        args.journal_sync,
        machine_state(),
        table(&results)
    );
    std::fs::write(out_dir.join("summary.md"), &md).context("writing summary.md")?;
    println!("{md}");
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn table(results: &[Value]) -> String {
    let mut t = String::from(
        "| sessions | open s | RSS/idle session KiB | RSS/busy session KiB | fds/session | turns | turns/s | turn p50 / p99 ms | agentd CPU/turn ms | errors |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        if r["ok"] != true {
            t.push_str(&format!(
                "| {} | failed: {} |||||||||\n",
                r["sessions"],
                r["error"].as_str().unwrap_or("?")
            ));
            continue;
        }
        t.push_str(&format!(
            "| {} | {:.2} | {:.1} | {:.1} | {:.2} | {} | {:.0} | {:.1} / {:.1} | {:.3} | {} |\n",
            r["sessions"],
            r["open_s"].as_f64().unwrap_or(0.0),
            r["rss_per_idle_session_kib"].as_f64().unwrap_or(0.0),
            r["rss_per_busy_session_kib"].as_f64().unwrap_or(0.0),
            r["fds_per_session"].as_f64().unwrap_or(0.0),
            r["turns_done"],
            r["turns_per_s"].as_f64().unwrap_or(0.0),
            r["turn_p50_ms"].as_f64().unwrap_or(0.0),
            r["turn_p99_ms"].as_f64().unwrap_or(0.0),
            r["cpu_per_turn_ms"].as_f64().unwrap_or(0.0),
            r["errors"],
        ));
    }
    t
}

/// `agentd sim --listen 127.0.0.1:0`, and the url it prints.
fn start_sim(agentd: &Path) -> Result<(Proc, String)> {
    let mut child = Command::new(agentd)
        .args(["sim", "--listen", "127.0.0.1:0"])
        .env("AGENTD_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {} sim", agentd.display()))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no sim stdout"))?;
    let sim = Proc {
        name: "agentd sim",
        child,
    };
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .context("reading the sim's url")?;
    let url = line.trim().to_string();
    if !url.starts_with("ws://") {
        bail!("agentd sim printed {url:?}, not its url");
    }
    Ok((sim, url))
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// What the subscriber saw, per session.
#[derive(Default)]
struct Seen {
    /// A `tool_end` came and its turn's `agent_end` not yet.
    tool_done: HashMap<String, bool>,
    /// When each session's turns ended.
    ended: HashMap<String, Vec<Instant>>,
    errors: Vec<String>,
    lost: u64,
    events: u64,
}

async fn one_run(args: &ScaleArgs, agentd: &Path, calc: &Path, n: usize) -> Result<Value> {
    let (sim, url) = start_sim(agentd)?;
    let dir = tempfile::tempdir().context("creating a temp dir")?;
    let socket = dir.path().join("agentd.sock");
    let config = dir.path().join("agents.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\nsocket = \"{}\"\nstate_dir = \"{}\"\nwatch = false\njournal_sync = \"{}\"\n\n\
             [models.default]\nprovider = \"openai\"\nurl = \"{url}?model=agentd-sim\"\n\
             api_key_env = \"AGENTD_BENCH_KEY\"\nreconnect_attempts = 0\n\n\
             [plugins.calc]\npath = \"{}\"\n\n\
             [agents.a]\ninstructions = \"Add.\"\noutput_modalities = [\"text\"]\ntools = [\"calc.add\"]\n",
            socket.display(),
            dir.path().join("state").display(),
            args.journal_sync,
            calc.display()
        ),
    )
    .context("writing agents.toml")?;
    let log = std::fs::File::create(dir.path().join("agentd.log")).context("agentd.log")?;
    let child = Command::new(agentd)
        .arg("--config")
        .arg(&config)
        .env("AGENTD_LOG", "warn")
        .env("AGENTD_BENCH_KEY", "sk-local-sim-not-a-key")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting agentd")?;
    let mut daemon = Proc {
        name: "agentd",
        child,
    };
    let pid = daemon.pid();
    let client = Client::new(&socket);
    let ready_by = Instant::now() + Duration::from_secs(120);
    loop {
        if socket.exists() && client.get::<Value>("/v1/status").await.is_ok() {
            break;
        }
        if Instant::now() > ready_by {
            bail!("agentd did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The one subscriber: every session's events.
    let seen = Arc::new(Mutex::new(Seen::default()));
    let sub_seen = seen.clone();
    let sub_client = Client::new(&socket);
    let subscriber = tokio::spawn(async move {
        let r = sub_client
            .stream("/v1/events?follow=1", |e: Value| {
                let mut s = sub_seen.lock().unwrap_or_else(|p| p.into_inner());
                s.events += 1;
                let session = e["session"].as_str().unwrap_or_default().to_string();
                match e["type"].as_str().unwrap_or_default() {
                    "tool_end" => {
                        s.tool_done.insert(session, true);
                    }
                    "agent_end" if s.tool_done.insert(session.clone(), false) == Some(true) => {
                        s.ended.entry(session).or_default().push(Instant::now());
                    }
                    "error" => s.errors.push(e.to_string()),
                    "events_lost" => {
                        s.lost +=
                            e["last"].as_u64().unwrap_or(0) + 1 - e["first"].as_u64().unwrap_or(0)
                    }
                    _ => {}
                }
                true
            })
            .await;
        if let Err(e) = r {
            eprintln!("scale bench: the subscriber's stream ended: {e}");
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss0 = proc_status_kb(pid, "VmRSS")?;
    let fds0 = fds(pid);

    // 1. Open.
    let t = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(args.in_flight.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let permit = sem.clone().acquire_owned().await?;
        let c = Client::new(&socket);
        set.spawn(async move {
            let r: Result<Value, _> = c.post("/v1/sessions", &json!({"agent": "a"})).await;
            drop(permit);
            r.map_err(|e| e.to_string())
                .and_then(|v| v["id"].as_str().map(str::to_string).ok_or("no id".into()))
        });
    }
    let mut ids = Vec::with_capacity(n);
    let mut request_errors = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(id)) => ids.push(id),
            Ok(Err(e)) => request_errors.push(e),
            Err(e) => request_errors.push(e.to_string()),
        }
    }
    let open_s = t.elapsed().as_secs_f64();
    if !request_errors.is_empty() {
        bail!(
            "{} of {n} sessions failed to open, e.g. {}",
            request_errors.len(),
            request_errors[0]
        );
    }
    // 2. Idle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = proc_status_kb(pid, "VmRSS")?;
    let fds_idle = fds(pid);

    // 3. Turns.
    let cpu0 = proc_sched_cpu_s(pid).unwrap_or(0.0);
    let phase = Instant::now();
    let mut latencies = Vec::with_capacity(n * args.turns);
    for turn in 0..args.turns {
        let mut starts: HashMap<String, Instant> = HashMap::with_capacity(n);
        let mut set = tokio::task::JoinSet::new();
        for id in &ids {
            let permit = sem.clone().acquire_owned().await?;
            let c = Client::new(&socket);
            let path = format!("/v1/sessions/{id}/messages");
            let text = format!("call calc.add {{\"a\":{turn},\"b\":{}}}", id.len());
            starts.insert(id.clone(), Instant::now());
            set.spawn(async move {
                let r: Result<Value, _> = c.post(&path, &json!({ "text": text })).await;
                drop(permit);
                r.map(drop).map_err(|e| e.to_string())
            });
        }
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => request_errors.push(e),
                Err(e) => request_errors.push(e.to_string()),
            }
        }
        // Every session's turn `turn` ends (or the round times out).
        let by = Instant::now() + Duration::from_secs(120 + n as u64 / 50);
        loop {
            let done = {
                let s = seen.lock().unwrap_or_else(|p| p.into_inner());
                ids.iter()
                    .filter(|id| s.ended.get(*id).is_some_and(|v| v.len() > turn))
                    .count()
            };
            if done == ids.len() || Instant::now() > by {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let s = seen.lock().unwrap_or_else(|p| p.into_inner());
        for id in &ids {
            if let (Some(end), Some(start)) =
                (s.ended.get(id).and_then(|v| v.get(turn)), starts.get(id))
            {
                latencies.push(end.duration_since(*start).as_secs_f64() * 1e3);
            }
        }
    }
    let phase_s = phase.elapsed().as_secs_f64();
    let cpu = proc_sched_cpu_s(pid).unwrap_or(0.0) - cpu0;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_busy = proc_status_kb(pid, "VmRSS")?;
    let hwm = proc_status_kb(pid, "VmHWM")?;

    latencies.sort_by(|a, b| a.total_cmp(b));
    let turns_done = latencies.len();
    let (errors, lost, events) = {
        let s = seen.lock().unwrap_or_else(|p| p.into_inner());
        (s.errors.clone(), s.lost, s.events)
    };
    subscriber.abort();
    daemon.stop();
    drop(sim);
    let per = |kib: u64| (kib.saturating_sub(rss0)) as f64 / n.max(1) as f64;
    let ok =
        turns_done == n * args.turns && errors.is_empty() && request_errors.is_empty() && lost == 0;
    Ok(json!({
        "sessions": n,
        "turns": args.turns,
        "ok": ok,
        "open_s": open_s,
        "rss_base_kib": rss0,
        "rss_idle_kib": rss_idle,
        "rss_busy_kib": rss_busy,
        "rss_peak_kib": hwm,
        "rss_per_idle_session_kib": per(rss_idle),
        "rss_per_busy_session_kib": per(rss_busy),
        "fds_base": fds0,
        "fds_idle": fds_idle,
        "fds_per_session": (fds_idle.saturating_sub(fds0)) as f64 / n.max(1) as f64,
        "turns_done": turns_done,
        "turn_phase_s": phase_s,
        "turns_per_s": turns_done as f64 / phase_s.max(1e-9),
        "turn_p50_ms": pct(&latencies, 0.5),
        "turn_p99_ms": pct(&latencies, 0.99),
        "turn_max_ms": latencies.last().copied().unwrap_or(0.0),
        "cpu_s": cpu,
        "cpu_per_turn_ms": cpu * 1e3 / turns_done.max(1) as f64,
        "events_seen": events,
        "events_lost": lost,
        "errors": errors.len() + request_errors.len(),
        "first_error": errors.first().or(request_errors.first()),
    }))
}
