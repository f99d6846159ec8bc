//! Crash safety, proven: agentd is killed with SIGKILL at random moments
//! while a session makes tool calls back to back, some of them approved by
//! an operator; after each kill the journal must open cleanly (`PRAGMA
//! integrity_check`) and hold, for every effect a client observed — a tool
//! output the model received (its echo of the `function_call_output`), an
//! approval whose request was answered — the call with its decision and its
//! outcome, and the approval. Then the daemon is restarted on the same state.
//!
//! The run is bounded: at least `AGENTD_CRASH_KILLS` kills (default 100)
//! within `AGENTD_CRASH_SECS` seconds (default 90); fewer kills in that time
//! is a failure, not a pass.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentd_api::Client;
use common::{plugin, shared_cache_dir};
use serde_json::{Value, json};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Setup {
    _dir: tempfile::TempDir,
    config: PathBuf,
    socket: PathBuf,
    journal: PathBuf,
    log: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("agentd.sock");
    let state = dir.path().join("state");
    let config = dir.path().join("agents.toml");
    std::fs::write(
        &config,
        format!(
            r#"[daemon]
socket = "{socket}"
state_dir = "{state}"
cache_dir = "{cache}"
watch = false

[plugins.calc]
path = "{calc}"

[agents.worker]
instructions = "You compute."
tools = ["calc.*"]

[agents.worker.approval]
rules = [{{ tool = "calc.multiply", action = "ask" }}]
"#,
            socket = socket.display(),
            state = state.display(),
            cache = shared_cache_dir().display(),
            calc = plugin("calc").display(),
        ),
    )
    .expect("write config");
    Setup {
        journal: state.join("journal.sqlite3"),
        log: dir.path().join("agentd.log"),
        _dir: dir,
        config,
        socket,
    }
}

fn spawn(s: &Setup) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&s.log)
        .expect("log file");
    Command::new(env!("CARGO_BIN_EXE_agentd"))
        .arg("--config")
        .arg(&s.config)
        .env("AGENTD_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn agentd")
}

async fn wait_ready(child: &mut Child, s: &Setup) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "agentd exited ({status}):\n{}",
                std::fs::read_to_string(&s.log).unwrap_or_default()
            );
        }
        if s.socket.exists()
            && Client::new(&s.socket)
                .get::<Value>("/v1/status")
                .await
                .is_ok()
        {
            return;
        }
        assert!(Instant::now() < deadline, "agentd did not become ready");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What clients saw, across every run: `(session, call_id)`.
#[derive(Default)]
struct Observed {
    outputs: HashSet<(String, String)>,
    approvals: HashSet<(String, String)>,
}

/// Drive one session until killed: calls back to back, each `multiply`
/// approved as soon as it is asked about.
async fn drive(socket: PathBuf, observed: Arc<Mutex<Observed>>) {
    let c = Client::new(&socket);
    let Ok(started) = c
        .post::<Value>("/v1/sessions", &json!({"agent": "worker"}))
        .await
    else {
        return;
    };
    let Some(session) = started["id"].as_str().map(str::to_string) else {
        return;
    };
    let (asks_tx, mut asks) = tokio::sync::mpsc::unbounded_channel::<String>();
    let watcher = {
        let (c, session, observed) = (c.clone(), session.clone(), observed.clone());
        tokio::spawn(async move {
            let path = format!("/v1/sessions/{session}/events?since=0&follow=1");
            let _ = c
                .stream::<Value>(&path, |ev| {
                    if ev["type"] == "tool_approval_required"
                        && let Some(id) = ev["call_id"].as_str()
                    {
                        let _ = asks_tx.send(id.to_string());
                    }
                    let item = &ev["data"]["item"];
                    if ev["type"] == "raw_model_event"
                        && ev["data"]["type"] == "conversation.item.added"
                        && item["type"] == "function_call_output"
                        && let Some(id) = item["call_id"].as_str()
                    {
                        let mut o = observed.lock().unwrap_or_else(|p| p.into_inner());
                        o.outputs.insert((session.clone(), id.to_string()));
                    }
                    true
                })
                .await;
        })
    };
    let approver = {
        let (c, session, observed) = (c.clone(), session.clone(), observed.clone());
        tokio::spawn(async move {
            while let Some(id) = asks.recv().await {
                let decided = c
                    .post::<Value>(
                        &format!("/v1/approvals/{id}"),
                        &json!({"approve": true, "session": session, "reason": "crash test"}),
                    )
                    .await;
                if decided.is_ok() {
                    let mut o = observed.lock().unwrap_or_else(|p| p.into_inner());
                    o.approvals.insert((session.clone(), id));
                }
            }
        })
    };
    for i in 0u64.. {
        let tool = if i % 3 == 2 { "multiply" } else { "add" };
        let text = format!(r#"call calc.{tool} {{"a":{i},"b":2}}"#);
        if c.post::<Value>(
            &format!("/v1/sessions/{session}/messages"),
            &json!({ "text": text }),
        )
        .await
        .is_err()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    watcher.abort();
    approver.abort();
}

/// The journal opens cleanly and holds every observed effect.
fn check_journal(path: &Path, observed: &Observed, kill: u64) {
    let conn = rusqlite::Connection::open(path).expect("journal opens");
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check runs");
    assert_eq!(integrity, "ok", "after kill {kill}");
    let mut call = conn
        .prepare("SELECT decision, outcome FROM tool_calls WHERE session = ?1 AND call_id = ?2")
        .unwrap();
    for (session, id) in &observed.outputs {
        let row: Option<(String, Option<String>)> = call
            .query_row([session, id], |r| Ok((r.get(0)?, r.get(1)?)))
            .ok();
        match row {
            Some((decision, Some(outcome))) => {
                assert!(!decision.is_empty() && !outcome.is_empty())
            }
            Some((decision, None)) => panic!(
                "after kill {kill}: {session}/{id} reached the model but has no outcome (decision {decision})"
            ),
            None => {
                panic!("after kill {kill}: {session}/{id} reached the model but is not journaled")
            }
        }
    }
    let mut approval = conn
        .prepare(
            "SELECT count(*) FROM approvals WHERE session = ?1 AND call_id = ?2 AND approved = 1",
        )
        .unwrap();
    for (session, id) in &observed.approvals {
        let n: i64 = approval.query_row([session, id], |r| r.get(0)).unwrap();
        assert_eq!(
            n, 1,
            "after kill {kill}: approval of {session}/{id} was answered but not journaled"
        );
        let decided: i64 = call
            .query_row([session, id], |r| r.get::<_, String>(0))
            .map(|_| 1)
            .unwrap_or(0);
        assert_eq!(
            decided, 1,
            "after kill {kill}: approved {session}/{id} has no decision"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_observed_effect_survives_sigkill() {
    let target = env_or("AGENTD_CRASH_KILLS", 100);
    let budget = Duration::from_secs(env_or("AGENTD_CRASH_SECS", 90));
    let s = setup();
    let observed = Arc::new(Mutex::new(Observed::default()));
    let started = Instant::now();
    let mut kills = 0;
    while kills < target && started.elapsed() < budget {
        let mut child = spawn(&s);
        wait_ready(&mut child, &s).await;
        let driver = tokio::spawn(drive(s.socket.clone(), observed.clone()));
        // A random moment: while calls are decided, run, approved, answered.
        let wait = 20 + rand::random::<u64>() % 300;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        child.kill().expect("SIGKILL agentd");
        child.wait().expect("reap agentd");
        kills += 1;
        driver.abort();
        let _ = driver.await;
        let o = observed.lock().unwrap_or_else(|p| p.into_inner());
        check_journal(&s.journal, &o, kills);
    }
    let o = observed.lock().unwrap_or_else(|p| p.into_inner());
    eprintln!(
        "crash test: {kills} kills in {:.1}s; {} outputs and {} approvals observed, all journaled",
        started.elapsed().as_secs_f64(),
        o.outputs.len(),
        o.approvals.len()
    );
    assert!(
        kills >= target,
        "only {kills} of {target} kills fit in {budget:?} (raise AGENTD_CRASH_SECS on a slow machine)"
    );
    // The kills must have landed among real work, not only between runs.
    assert!(
        o.outputs.len() as u64 >= target,
        "only {} outputs observed",
        o.outputs.len()
    );
    assert!(!o.approvals.is_empty(), "no approval was observed");
}

/// The next event of type `kind`.
async fn until(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Value>, kind: &str) -> Value {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {kind}"))
            .expect("stream");
        if ev["type"] == kind {
            return ev;
        }
    }
}

/// A restart (SIGTERM, then the same state): answers remembered for an
/// agent still hold, and a closed session's conversation comes from the
/// journal once the daemon no longer has the session.
#[tokio::test]
async fn remembered_answers_and_closed_histories_survive_a_restart() {
    let s = setup();
    let mut child = spawn(&s);
    wait_ready(&mut child, &s).await;
    let c = Client::new(&s.socket);
    let session = |c: Client| async move {
        let v: Value = c
            .post("/v1/sessions", &json!({"agent": "worker"}))
            .await
            .expect("session");
        v["id"].as_str().unwrap().to_string()
    };
    let first = session(c.clone()).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let watch = |c: Client, id: String, tx: tokio::sync::mpsc::UnboundedSender<Value>| {
        tokio::spawn(async move {
            let path = format!("/v1/sessions/{id}/events?since=0&follow=1");
            let _ = c.stream::<Value>(&path, |ev| tx.send(ev).is_ok()).await;
        })
    };
    let w = watch(c.clone(), first.clone(), tx.clone());
    let _: Value = c
        .post(
            &format!("/v1/sessions/{first}/messages"),
            &json!({"text": r#"call calc.multiply {"a":6,"b":7}"#}),
        )
        .await
        .unwrap();
    let ask = until(&mut rx, "tool_approval_required").await;
    let id = ask["call_id"].as_str().unwrap();
    let _: Value = c
        .post(
            &format!("/v1/approvals/{id}"),
            &json!({"approve": true, "always": true, "remember": "agent"}),
        )
        .await
        .unwrap();
    until(&mut rx, "agent_end").await;
    c.close_session(&first).await.unwrap();
    until(&mut rx, "session_closed").await;
    w.abort();

    // A clean stop: SIGTERM, then the same config and state.
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().expect("agentd stops");
    let mut child = spawn(&s);
    wait_ready(&mut child, &s).await;

    let history = Command::new(env!("CARGO_BIN_EXE_agentctl"))
        .arg("--socket")
        .arg(&s.socket)
        .args(["history", &first])
        .output()
        .unwrap();
    assert!(
        history.status.success(),
        "{}",
        String::from_utf8_lossy(&history.stderr)
    );
    let items: Vec<Value> = serde_json::from_slice(&history.stdout).unwrap();
    let text = serde_json::to_string(&items).unwrap();
    assert!(
        text.contains("calc.multiply") && text.contains("42"),
        "{text}"
    );

    let second = session(c.clone()).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let w = watch(c.clone(), second.clone(), tx);
    let _: Value = c
        .post(
            &format!("/v1/sessions/{second}/messages"),
            &json!({"text": r#"call calc.multiply {"a":2,"b":21}"#}),
        )
        .await
        .unwrap();
    let end = until(&mut rx, "tool_end").await;
    assert_eq!(
        end["outcome"], "completed",
        "remembered across the restart: {end}"
    );
    w.abort();
    child.kill().ok();
    child.wait().ok();
}
