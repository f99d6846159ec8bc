//! Issue 9's structural pieces, through the real binaries: the offline model
//! in its own process (`agentd sim --listen`), the daemon-wide event stream
//! (`GET /v1/events?follow=1`), and events kept past `[daemon] event_memory`
//! by spilling them to disk, still served from any `since` with gap-free
//! sequence numbers.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::TestDaemon;
use serde_json::Value;
use tokio::sync::mpsc;

/// `agentd sim --listen 127.0.0.1:0`, killed when dropped.
struct Sim {
    child: Child,
    url: String,
}

impl Sim {
    fn start() -> Sim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_agentd"))
            .args(["sim", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn agentd sim");
        let stdout = child.stdout.take().expect("sim stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("sim prints its url");
        let url = line.trim().to_string();
        assert!(
            url.starts_with("ws://127.0.0.1:") && url.ends_with("/v1/realtime"),
            "{url:?}"
        );
        Sim { child, url }
    }

    fn model_config(&self) -> String {
        format!(
            "[models.default]\nprovider = \"openai\"\nurl = \"{}?model=agentd-sim\"\napi_key_env = \"AGENTD_TEST_KEY\"\nreconnect_attempts = 0\n",
            self.url
        )
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sim ignores the key; the openai provider needs one set.
const KEY: &[(&str, &str)] = &[("AGENTD_TEST_KEY", "sk-test")];

const AGENT: &str = "[agents.a]\ninstructions = \"Be brief.\"\noutput_modalities = [\"text\"]\n";

/// Every line of `path` as it arrives, until the stream ends.
fn stream(d: &TestDaemon, path: &str) -> mpsc::UnboundedReceiver<Value> {
    let (tx, rx) = mpsc::unbounded_channel();
    let client = d.client();
    let path = path.to_string();
    tokio::spawn(async move {
        let _ = client.stream(&path, |ev| tx.send(ev).is_ok()).await;
    });
    rx
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Value>, what: &str) -> Value {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .unwrap_or_else(|| panic!("stream ended before {what}"))
}

#[tokio::test]
async fn the_offline_model_runs_in_its_own_process() {
    let sim = Sim::start();
    let d = TestDaemon::start_full("", &format!("{}\n{AGENT}", sim.model_config()), KEY).await;
    let s = d.start_session("a").await;
    let mut ev = d.watch(&s);
    d.send(&s, "hello there").await;
    ev.until_type("agent_end", &[]).await;
    assert_eq!(ev.last_reply(), "You said: hello there");
    // The daemon started no model server of its own.
    assert!(!d.log().contains("offline model started"), "{}", d.log());
}

#[tokio::test]
async fn the_daemon_wide_stream_names_each_session_with_gap_free_numbers() {
    let sim = Sim::start();
    let d = TestDaemon::start_full("", &format!("{}\n{AGENT}", sim.model_config()), KEY).await;
    let before = d.start_session("a").await;
    let mut all = stream(&d, "/v1/events?follow=1");
    // The stream is live: give it a moment to subscribe, then make events.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let s2 = d.start_session("a").await;
    d.send(&before, "one").await;
    d.send(&s2, "two").await;
    let mut per_session: std::collections::HashMap<String, Vec<u64>> = Default::default();
    let mut ended = 0;
    while ended < 2 {
        let e = next(&mut all, "two finished turns").await;
        assert_ne!(e["type"], "events_lost", "{e}");
        let session = e["session"].as_str().expect("each event names its session");
        per_session
            .entry(session.to_string())
            .or_default()
            .push(e["seq"].as_u64().expect("seq"));
        if e["type"] == "agent_end" {
            ended += 1;
        }
    }
    assert_eq!(per_session.len(), 2, "{per_session:?}");
    // The new session from its first event; both without holes.
    assert_eq!(per_session[&s2][0], 1);
    for seqs in per_session.values() {
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    }
    // The earlier session's events already sent before the stream was
    // asked for are not repeated.
    assert!(per_session[&before][0] > 1);

    // since and no follow are refused with a reason.
    let err = d
        .client()
        .get::<Value>("/v1/events?since=3&follow=1")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("live only"), "{err}");
    let (ok, _, _) = d.agentctl(&["status"]);
    assert!(ok);
}

#[tokio::test]
async fn events_over_the_memory_budget_spill_and_are_still_served() {
    let sim = Sim::start();
    let d = TestDaemon::start_full(
        "event_memory = \"1MiB\"",
        &format!(
            "{}\n[agents.a]\ninstructions = \"x\"\noutput_modalities = [\"audio\"]\n",
            sim.model_config()
        ),
        KEY,
    )
    .await;
    let s = d.start_session("a").await;
    let mut ev = d.watch(&s);
    // Audio replies: 50 ms of 24 kHz PCM16 per word, ≈ 3.2 KiB of base64 in
    // each audio event and again in its raw model event. 40 turns of 40
    // words make ≈ 10 MiB of events, ten times the budget.
    let words = vec!["word"; 40].join(" ");
    for _ in 0..40 {
        d.send(&s, &words).await;
        let n = ev.count("agent_end");
        ev.until("the turn's end", |e| e["type"] == "agent_end")
            .await;
        assert_eq!(ev.count("agent_end"), n + 1);
    }
    let spill = d.dir.path().join("state/events");
    common::wait_until("events spill to disk", || async {
        std::fs::read_dir(&spill)
            .map(|mut r| r.next().is_some())
            .unwrap_or(false)
    })
    .await;
    // A late subscriber gets every event from 1, in order, from disk and memory.
    let mut seqs = Vec::new();
    d.client()
        .stream(&format!("/v1/sessions/{s}/events?since=0"), |e: Value| {
            assert_ne!(e["type"], "events_lost", "{e}");
            seqs.push(e["seq"].as_u64().expect("seq"));
            true
        })
        .await
        .expect("read the kept events");
    let last = seqs.last().copied().unwrap_or(0);
    assert!(last > 3_000, "{last}");
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>());
    // And from the middle.
    let mut from = Vec::new();
    d.client()
        .stream(
            &format!("/v1/sessions/{s}/events?since=1000"),
            |e: Value| {
                from.push(e["seq"].as_u64().expect("seq"));
                true
            },
        )
        .await
        .expect("read from 1000");
    assert_eq!(from.first(), Some(&1000));
    assert_eq!(from.len() as u64, last - 999);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_loses_nothing_while_events_spill() {
    let sim = Sim::start();
    let d = TestDaemon::start_full(
        "event_memory = \"1MiB\"",
        &format!(
            "{}\n[agents.a]\ninstructions = \"x\"\noutput_modalities = [\"audio\"]\n",
            sim.model_config()
        ),
        KEY,
    )
    .await;
    let s = d.start_session("a").await;
    // A recorder that reads slowly: it stalls on its first lines, so the
    // session runs far ahead of it and what it has not read spills to disk.
    let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
    let client = d.client();
    let path = format!("/v1/sessions/{s}/events?since=0&follow=1");
    let recorder = tokio::spawn(async move {
        let mut n = 0u64;
        client
            .stream(&path, |e: Value| {
                n += 1;
                if n <= 5 {
                    std::thread::sleep(Duration::from_millis(400));
                }
                tx.send(e).is_ok()
            })
            .await
    });
    let mut ev = d.watch(&s);
    let words = vec!["word"; 40].join(" ");
    for _ in 0..30 {
        d.send(&s, &words).await;
        let n = ev.count("agent_end");
        ev.until("the turn's end", |e| e["type"] == "agent_end")
            .await;
        assert_eq!(ev.count("agent_end"), n + 1);
    }
    d.client()
        .close_session(&s)
        .await
        .expect("close the session");
    let mut seqs = Vec::new();
    loop {
        let e = next(&mut rx, "session_closed on the recorder's stream").await;
        assert_ne!(e["type"], "events_lost", "{e}");
        seqs.push(e["seq"].as_u64().expect("seq"));
        if e["type"] == "session_closed" {
            break;
        }
    }
    let last = *seqs.last().unwrap();
    assert!(last > 2_000, "{last}");
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>());
    recorder.await.unwrap().expect("the stream ends cleanly");
}
