//! Side-by-side benchmark: agentd against the reference Python client (the
//! OpenAI Agents SDK's `RealtimeSession`), both driven by the same scripted
//! Realtime server (`shared/bench/peer-python/mock_realtime_server.py`) and
//! the same five scenarios, in the same run, interleaved.
//!
//! ```sh
//! AGENTD_PEER_PYTHON=/tmp/peer-venv/bin/python cargo xtask bench --repeat 3
//! # = cargo xtask plugins (tests/fixtures/peer.wasm) + cargo bench -p agentd --bench peer -- …
//! ```
//!
//! For each repetition and scenario it runs both sides (alternating which goes
//! first):
//!
//! - **agentd**: starts the mock server (`--max-conns 1`), then the real
//!   `agentd` binary (this build's profile) with a config whose model url
//!   points at the mock and whose agents match the scenario's
//!   `client_profile` (tools and guardrail from `tests/fixtures/peer.wasm`);
//!   once agentd is ready it starts a session, follows its event stream over
//!   the control socket, sends "start", approves even / rejects odd approval
//!   requests, and stops at `session_closed` (the mock closes after its last
//!   step; `reconnect_attempts = 0`). agentd's CPU time (the sum of
//!   `/proc/PID/task/*/schedstat`, ns; `/proc/PID/stat` ticks alongside) and peak RSS (`VmHWM`, reset at session start via
//!   `clear_refs`) cover the session only, not start-up.
//! - **reference**: `run_peer.py scenario NAME`, which starts the same mock
//!   server the same way and reports the same figures for its own process.
//!
//! Latencies (tool_rtt, turn_rtt, guardrail_*_rtt, handoff_*) are measured by
//! the mock server on both sides, so they are comparable as they are.
//!
//! It is a program, not a test: it asserts nothing about timings. Without
//! `--bench` (e.g. under `cargo test --all-targets`) it does nothing; without
//! a Python that has `openai-agents` and `websockets`, or without the peer
//! harness beside the checkout, it says so and exits 0.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use agentd_api::Client;
use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

const SCENARIOS: &[&str] = &[
    "transcript_stream",
    "tool_calls",
    "approval",
    "guardrail",
    "handoff",
];

struct Options {
    repeat: usize,
    scenarios: Vec<String>,
    vars: Vec<String>,
    peer_dir: PathBuf,
    python: Option<PathBuf>,
    agentd: PathBuf,
    out_dir: PathBuf,
    only: Option<String>,
}

fn repo() -> PathBuf {
    let up = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::canonicalize(&up).unwrap_or(up)
}

const USAGE: &str = "usage: cargo bench -p agentd --bench peer -- [--repeat N] [--var K=V]... \
[--peer-dir DIR] [--python PY] [--agentd BIN] [--out-dir DIR] [--only agentd|reference] [SCENARIO...]";

fn parse_args() -> Result<Option<Options>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let bench = args.iter().any(|a| a == "--bench");
    args.retain(|a| a != "--bench");
    if !bench {
        // `cargo test --all-targets` runs bench targets without `--bench`.
        println!("peer bench: not run without --bench (run `cargo bench -p agentd --bench peer`)");
        return Ok(None);
    }
    let mut o = Options {
        repeat: 3,
        scenarios: Vec::new(),
        vars: Vec::new(),
        peer_dir: std::env::var_os("AGENTD_PEER_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join("..").join("shared/bench/peer-python")),
        python: std::env::var_os("AGENTD_PEER_PYTHON").map(PathBuf::from),
        agentd: PathBuf::from(env!("CARGO_BIN_EXE_agentd")),
        out_dir: repo().join("bench").join("peer"),
        only: None,
    };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| anyhow!("{name} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--repeat" => {
                let v = value("--repeat")?;
                o.repeat = v
                    .parse()
                    .with_context(|| format!("--repeat {v}: not a number"))?;
            }
            "--var" => o.vars.push(value("--var")?),
            "--peer-dir" => o.peer_dir = value("--peer-dir")?.into(),
            "--python" => o.python = Some(value("--python")?.into()),
            "--agentd" => o.agentd = value("--agentd")?.into(),
            "--out-dir" => o.out_dir = value("--out-dir")?.into(),
            "--only" => {
                let v = value("--only")?;
                if v != "agentd" && v != "reference" {
                    bail!("--only takes agentd or reference, not {v}");
                }
                o.only = Some(v);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            s if s.starts_with('-') => bail!("unknown option {s}\n{USAGE}"),
            s if SCENARIOS.contains(&s) => o.scenarios.push(s.to_string()),
            s => bail!("unknown scenario {s} (one of {})", SCENARIOS.join(", ")),
        }
    }
    if o.scenarios.is_empty() {
        o.scenarios = SCENARIOS.iter().map(|s| s.to_string()).collect();
    }
    Ok(Some(o))
}

/// The first Python that can import both the SDK and websockets.
fn find_python(o: &Options) -> Option<PathBuf> {
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

/// A child process killed (and reaped) when dropped.
struct Proc {
    name: &'static str,
    child: Child,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait up to `limit` for the process to exit by itself.
    fn wait_exit(&mut self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Ok(None) => bail!("{} did not exit within {limit:?}", self.name),
                Err(e) => bail!("cannot wait for {}: {e}", self.name),
            }
        }
    }

    /// SIGTERM, then SIGKILL after 10 s.
    fn stop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) on our own child's pid; it has not been reaped yet.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        if self.wait_exit(Duration::from_secs(10)).is_err() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The mock server on loopback, started as run_peer.py's `ServerProc` does.
fn start_mock(o: &Options, py: &Path, scenario: &Path, stats: &Path) -> Result<(Proc, u16)> {
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

/// agents.toml body (after `[daemon]`) for a scenario's client_profile.
fn agents_for(profile: &str, plugin: &Path) -> Result<(String, &'static str)> {
    let plugin = format!("[plugins.peer]\npath = \"{}\"\n", plugin.display());
    let (agents, start) = match profile {
        "plain" => (
            "[agents.assistant]\ninstructions = \"You are a voice assistant.\"\n".to_string(),
            "assistant",
        ),
        "tool_calls" => (
            "[agents.assistant]\ninstructions = \"Use add.\"\n\
             tools = [{ use = \"peer.add\", as = \"add\" }]\n"
                .to_string(),
            "assistant",
        ),
        "approval" => (
            "[agents.assistant]\ninstructions = \"Use add.\"\n\
             tools = [{ use = \"peer.add\", as = \"add\" }]\n\
             [agents.assistant.approval]\ndefault = \"ask\"\n"
                .to_string(),
            "assistant",
        ),
        "guardrail" => (
            "[agents.assistant]\ninstructions = \"Talk.\"\n\
             guardrails = [\"peer.forbidden_word\"]\n"
                .to_string(),
            "assistant",
        ),
        "handoff" => (
            "[agents.triage_agent]\ninstructions = \"Route the caller.\"\n\
             handoffs = [\"billing_agent\"]\n\
             [agents.billing_agent]\ninstructions = \"You handle billing.\"\n\
             tools = [{ use = \"peer.lookup_invoice\", as = \"lookup_invoice\" }]\n"
                .to_string(),
            "triage_agent",
        ),
        other => bail!("unknown client_profile {other}"),
    };
    Ok((format!("{plugin}{agents}"), start))
}

/// user+sys CPU seconds of a process, all threads (10 ms ticks).
fn proc_cpu_s(pid: u32) -> Result<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let after = text
        .rsplit_once(") ")
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow!("unexpected /proc/{pid}/stat: {text}"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .ok_or_else(|| anyhow!("no field {i} in /proc/{pid}/stat"))
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as f64 } else { 100.0 };
    // Fields 14 and 15 of stat(5), counted from the state (field 3).
    Ok((tick(11)? + tick(12)?) / hz)
}

/// On-CPU seconds of a process's live threads, in ns precision (the sum of
/// `/proc/PID/task/*/schedstat`); `None` when schedstat is unavailable.
/// Threads that exit in between would be missed: compared with the 10 ms
/// ticks of [`proc_cpu_s`], which count them, in the results.
fn proc_sched_cpu_s(pid: u32) -> Option<f64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut ns = 0u64;
    for t in tasks.flatten() {
        let text = std::fs::read_to_string(t.path().join("schedstat")).ok()?;
        ns += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(ns as f64 / 1e9)
}

/// A `kB` line of /proc/PID/status, in KiB.
fn proc_status_kb(pid: u32, key: &str) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow!("no {key} in /proc/{pid}/status"))
}

fn own_cpu_s() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// Nearest-rank percentile, as run_peer.py's `pct`.
fn pct(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut s = values.to_vec();
    s.sort_by(f64::total_cmp);
    let k = ((p / 100.0 * (s.len() - 1) as f64).round() as usize).min(s.len() - 1);
    Some(s[k])
}

fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}

/// run_peer.py's `lat_summary` of the mock's latencies (seconds → ms).
fn lat_summary(latencies: &Value) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(m) = latencies.as_object() {
        for (name, v) in m {
            let xs: Vec<f64> = v
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            let ms = |p| pct(&xs, p).map(|x| round(x * 1000.0, 3));
            out.insert(
                name.clone(),
                json!({"n": xs.len(), "p50_ms": ms(50.0), "p99_ms": ms(99.0)}),
            );
        }
    }
    Value::Object(out)
}

fn read_stats(path: &Path) -> Result<(Value, Value)> {
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

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The fixture plugin with the client profiles' tools and guardrail.
fn peer_plugin() -> PathBuf {
    repo().join("tests/fixtures/peer.wasm")
}

/// One agentd run of `name`: mock server, daemon, session, measurements.
async fn run_agentd(o: &Options, py: &Path, name: &str) -> Result<Value> {
    let scenario = o.peer_dir.join("scenarios").join(format!("{name}.json"));
    let scen: Value = serde_json::from_str(
        &std::fs::read_to_string(&scenario)
            .with_context(|| format!("reading {}", scenario.display()))?,
    )
    .with_context(|| format!("parsing {}", scenario.display()))?;
    let profile = scen["client_profile"].as_str().unwrap_or("plain");
    let limit = Duration::from_secs_f64(scen["timeout_s"].as_f64().unwrap_or(300.0) + 60.0);
    let plugin = peer_plugin();

    let dir = tempfile::tempdir().context("creating a temp dir")?;
    let stats = dir.path().join("stats.jsonl");
    let (mut mock, port) = start_mock(o, py, &scenario, &stats)?;

    let socket = dir.path().join("agentd.sock");
    let config = dir.path().join("agents.toml");
    let (agents, start_agent) = agents_for(profile, &plugin)?;
    let text = format!(
        "[daemon]\nsocket = \"{}\"\nstate_dir = \"{}\"\n\n\
         [models.default]\nprovider = \"openai\"\n\
         url = \"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime\"\n\
         model = \"gpt-realtime\"\napi_key_env = \"AGENTD_BENCH_KEY\"\nreconnect_attempts = 0\n\n{agents}",
        socket.display(),
        dir.path().join("state").display()
    );
    std::fs::write(&config, text).context("writing agents.toml")?;
    let log_path = dir.path().join("agentd.log");
    let log = std::fs::File::create(&log_path).context("creating agentd.log")?;
    let child = Command::new(&o.agentd)
        .arg("--config")
        .arg(&config)
        .env("AGENTD_LOG", "info")
        .env("AGENTD_BENCH_KEY", "sk-mock-local-not-a-real-key")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", o.agentd.display()))?;
    let mut daemon = Proc {
        name: "agentd",
        child,
    };
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let client = Client::new(&socket);

    let ready = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = daemon.child.try_wait() {
            bail!("agentd exited early ({status}):\n{}", tail(&log(), 30));
        }
        if socket.exists() && client.get::<Value>("/v1/status").await.is_ok() {
            break;
        }
        if Instant::now() > ready {
            bail!("agentd did not become ready in 60 s:\n{}", tail(&log(), 30));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let pid = daemon.pid();
    let rss_before = proc_status_kb(pid, "VmRSS")?;
    let startup_peak = proc_status_kb(pid, "VmHWM")?;
    // Reset VmHWM so the peak below is the session's (clear_refs(5), Linux ≥ 4.0).
    let hwm_reset = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{pid}/clear_refs"))
        .and_then(|mut f| f.write_all(b"5"))
        .is_ok();
    let cpu0 = proc_cpu_s(pid)?;
    let sched0 = proc_sched_cpu_s(pid);
    let own0 = own_cpu_s();
    let t0 = Instant::now();

    let started: Value = client
        .post("/v1/sessions", &json!({ "agent": start_agent }))
        .await
        .map_err(|e| anyhow!("starting a session: {e}\n{}", tail(&log(), 30)))?;
    let session = started["id"]
        .as_str()
        .ok_or_else(|| anyhow!("no session id in {started}"))?
        .to_string();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let follower = client.clone();
    let path = format!("/v1/sessions/{session}/events?since=0&follow=1");
    let stream = tokio::spawn(async move {
        let _ = follower.stream(&path, |ev| tx.send(ev).is_ok()).await;
    });
    let _: Value = client
        .post(
            &format!("/v1/sessions/{session}/messages"),
            &json!({"text": "start"}),
        )
        .await
        .map_err(|e| anyhow!("sending \"start\": {e}"))?;

    let mut events = 0u64;
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    let mut approvals = 0usize;
    let mut error_codes: Vec<String> = Vec::new();
    let mut last_seq = 0u64;
    let mut closed_reason = None;
    let deadline = tokio::time::Instant::now() + limit;
    while closed_reason.is_none() {
        let ev = match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(ev)) => ev,
            Ok(None) => break,
            Err(_) => {
                stream.abort();
                bail!(
                    "session did not close within {limit:?}:\n{}",
                    tail(&log(), 30)
                )
            }
        };
        events += 1;
        last_seq = ev["seq"].as_u64().unwrap_or(last_seq).max(last_seq);
        let kind = ev["type"].as_str().unwrap_or("?").to_string();
        match kind.as_str() {
            "tool_approval_required" => {
                let call = ev["call_id"].as_str().unwrap_or_default();
                let approve = approvals.is_multiple_of(2);
                approvals += 1;
                let _: Value = client
                    .post(
                        &format!("/v1/approvals/{call}"),
                        &json!({"approve": approve, "session": session}),
                    )
                    .await
                    .map_err(|e| anyhow!("deciding {call}: {e}"))?;
            }
            // With reconnect_attempts = 0, the mock's closing of the socket at
            // the end of its script is reported as this error: not a failure.
            "error" if ev["code"] != "model_reconnect_failed" => {
                error_codes.push(ev["code"].as_str().unwrap_or("?").to_string());
            }
            "session_closed" => {
                closed_reason = Some(ev["reason"].as_str().unwrap_or("").to_string());
            }
            _ => {}
        }
        *by_type.entry(kind).or_default() += 1;
    }
    let wall = t0.elapsed().as_secs_f64();
    let ticks = proc_cpu_s(pid)? - cpu0;
    let sched = match (sched0, proc_sched_cpu_s(pid)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    // ns precision when available (the handoff session is ~1 tick long).
    let cpu = sched.unwrap_or(ticks);
    let own = own_cpu_s() - own0;
    let session_peak = proc_status_kb(pid, "VmHWM")?;
    stream.abort();
    daemon.stop();
    mock.wait_exit(Duration::from_secs(30))?;
    let (conn, summary) = read_stats(&stats)?;
    let server_cpu = summary["server_cpu_user_s"].as_f64().unwrap_or(0.0)
        + summary["server_cpu_sys_s"].as_f64().unwrap_or(0.0);
    let emitted = conn["emitted"].as_f64().unwrap_or(0.0);
    Ok(json!({
        "side": "agentd",
        "scenario": name,
        "vars": o.vars,
        "ok": conn["ok"] == true && closed_reason.is_some() && error_codes.is_empty(),
        "server_error": conn["error"],
        "session_closed": closed_reason,
        "wall_s": round(wall, 4),
        "client_events": events,
        "client_events_per_s": round(events as f64 / wall, 1),
        // Sequence numbers the subscriber never saw: it fell further behind
        // than the session's kept events (KEPT_EVENTS / KEPT_BYTES).
        "client_events_missed": last_seq.saturating_sub(events),
        "server_events_emitted": conn["emitted"],
        "server_events_per_s": round(emitted / wall, 1),
        "client_cpu_s": round(cpu, 3),
        "client_cpu_pct_of_wall": round(100.0 * cpu / wall, 1),
        "client_cpu_ticks_s": round(ticks, 3),
        "client_cpu_source": if sched.is_some() { "schedstat" } else { "stat ticks" },
        "client_rss_before_kb": rss_before,
        "client_startup_peak_rss_kb": startup_peak,
        "client_session_peak_rss_kb": if hwm_reset { Some(session_peak) } else { None },
        "client_peak_rss_kb": startup_peak.max(session_peak),
        "subscriber_cpu_s": round(own, 3),
        "server_cpu_s": round(server_cpu, 3),
        "latency": lat_summary(&conn["latencies"]),
        "n_errors": error_codes.len(),
        "error_codes": error_codes,
        "events_by_type": by_type,
        "client_sent_by_type": conn["received_by_type"],
        "unconsumed_client_events": conn["unconsumed_client_events"],
        "skipped_optional_expects": conn["skipped_optional_expects"],
    }))
}

/// One reference run: `run_peer.py scenario NAME` (it starts its own mock server).
fn run_reference(o: &Options, py: &Path, name: &str) -> Result<Value> {
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

fn median(mut xs: Vec<f64>) -> Option<f64> {
    xs.retain(|x| x.is_finite());
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    })
}

fn fmt(x: Option<f64>, digits: usize) -> String {
    x.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "–".into())
}

/// Median of a field over runs.
fn med(runs: &[&Value], f: impl Fn(&Value) -> Option<f64>) -> Option<f64> {
    median(runs.iter().filter_map(|r| f(r)).collect())
}

/// The markdown table of medians, per scenario: agentd, reference, ratio.
fn summary(results: &[Value], scenarios: &[String]) -> String {
    let mut s = String::from(
        "| scenario | side | ok | wall s | server ev/s | client ev/s | client CPU s | peak RSS MiB (before) | mock CPU s | latency p50 / p99 ms |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for name in scenarios {
        let mut medians = BTreeMap::new();
        for side in ["agentd", "reference"] {
            let runs: Vec<&Value> = results
                .iter()
                .filter(|r| r["scenario"] == name.as_str() && r["side"] == side)
                .collect();
            if runs.is_empty() {
                continue;
            }
            let ok = runs.iter().filter(|r| r["ok"] == true).count();
            let wall = med(&runs, |r| r["wall_s"].as_f64());
            let cpu = med(&runs, |r| r["client_cpu_s"].as_f64());
            let peak = med(&runs, |r| r["client_peak_rss_kb"].as_f64());
            let before = med(&runs, |r| r["client_rss_before_kb"].as_f64());
            let mut lat_names: Vec<String> = runs
                .iter()
                .filter_map(|r| r["latency"].as_object())
                .flat_map(|m| m.keys().cloned())
                .collect();
            lat_names.sort();
            lat_names.dedup();
            let lat: Vec<String> = lat_names
                .iter()
                .map(|l| {
                    let p50 = med(&runs, |r| r["latency"][l]["p50_ms"].as_f64());
                    let p99 = med(&runs, |r| r["latency"][l]["p99_ms"].as_f64());
                    format!("{l} {} / {}", fmt(p50, 2), fmt(p99, 2))
                })
                .collect();
            s += &format!(
                "| {name} | {side} | {ok}/{} | {} | {} | {} | {} | {} ({}) | {} | {} |\n",
                runs.len(),
                fmt(wall, 3),
                fmt(med(&runs, |r| r["server_events_per_s"].as_f64()), 0),
                fmt(med(&runs, |r| r["client_events_per_s"].as_f64()), 0),
                fmt(cpu, 3),
                fmt(peak.map(|k| k / 1024.0), 1),
                fmt(before.map(|k| k / 1024.0), 1),
                fmt(med(&runs, |r| r["server_cpu_s"].as_f64()), 3),
                lat.join("; "),
            );
            medians.insert(side, (wall, cpu, peak));
        }
        if let (Some((aw, ac, ap)), Some((rw, rc, rp))) =
            (medians.get("agentd"), medians.get("reference"))
        {
            let ratio = |a: &Option<f64>, r: &Option<f64>| match (a, r) {
                (Some(a), Some(r)) if *r > 0.0 => Some(a / r),
                _ => None,
            };
            s += &format!(
                "| {name} | **agentd / reference** | | **{}×** | | | **{}×** | **{}×** | | |\n",
                fmt(ratio(aw, rw), 2),
                fmt(ratio(ac, rc), 2),
                fmt(ratio(ap, rp), 2),
            );
        }
    }
    s
}

fn machine_state() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!(
        "{cpus} CPUs, load average {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

async fn run(o: Options) -> Result<bool> {
    if !o.peer_dir.join("run_peer.py").exists() {
        println!(
            "peer bench skipped: the peer harness is not at {} (set AGENTD_PEER_DIR)",
            o.peer_dir.display()
        );
        return Ok(true);
    }
    if !peer_plugin().exists() {
        println!(
            "peer bench skipped: {} is missing (build it with `cargo xtask plugins`, \
             or run `cargo xtask bench`, which does)",
            peer_plugin().display()
        );
        return Ok(true);
    }
    let Some(py) = find_python(&o) else {
        println!(
            "peer bench skipped: no Python with `openai-agents` and `websockets` \
             (set AGENTD_PEER_PYTHON, e.g. after \
             `python3 -m venv /tmp/peer-venv && /tmp/peer-venv/bin/pip install openai-agents websockets`)"
        );
        return Ok(true);
    };
    std::fs::create_dir_all(&o.out_dir)
        .with_context(|| format!("creating {}", o.out_dir.display()))?;
    let results_path = o.out_dir.join("results.jsonl");
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&results_path)
        .with_context(|| format!("opening {}", results_path.display()))?;
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    eprintln!(
        "peer bench: {} × {:?}, agentd {} ({profile} bench build), python {}, {}",
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
            let sides: [&str; 2] = if rep.is_multiple_of(2) {
                ["agentd", "reference"]
            } else {
                ["reference", "agentd"]
            };
            for side in sides {
                if o.only.as_deref().is_some_and(|only| only != side) {
                    continue;
                }
                let load = machine_state();
                let res = if side == "agentd" {
                    run_agentd(&o, &py, name).await
                } else {
                    run_reference(&o, &py, name)
                };
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
    let table = summary(&results, &o.scenarios);
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

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(Some(o)) => o,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peer bench: {e:#}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("peer bench: cannot start a tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(opts)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("peer bench: some runs failed (see their `error`)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("peer bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
