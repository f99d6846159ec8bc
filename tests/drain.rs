//! The graceful drain: SIGTERM (or `agentctl drain`) closes idle sessions at
//! once with reason `draining`, waits for sessions with a tool call in
//! flight, refuses new sessions meanwhile, stops at `drain_timeout`, and a
//! second SIGTERM stops at once.

mod common;

use std::time::Duration;

use common::{TestDaemon, plugin};
use serde_json::Value;

fn config() -> String {
    format!(
        r#"
[plugins.calc]
path = "{calc}"

[agents.concierge]
instructions = "You are a concierge."
tools = ["calc.*"]

[agents.concierge.approval]
rules = [{{ tool = "calc.multiply", action = "ask" }}]
"#,
        calc = plugin("calc").display(),
    )
}

/// A session whose tool call waits for a person: busy until decided.
async fn busy_session(d: &TestDaemon) -> (String, common::Events, String) {
    let s = d.start_session("concierge").await;
    let mut ev = d.watch(&s);
    d.send(&s, r#"call calc.multiply {"a":4,"b":5}"#).await;
    let call_id = ev.approval_asked().await;
    (s, ev, call_id)
}

async fn closed_reason(ev: &mut common::Events) -> String {
    ev.until_type("session_closed", &[]).await["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn sigterm_closes_idle_sessions_and_waits_for_calls_in_flight() {
    let mut d = TestDaemon::start(&config()).await;
    let idle = d.start_session("concierge").await;
    let mut idle_ev = d.watch(&idle);
    let (busy, mut busy_ev, call_id) = busy_session(&d).await;

    d.signal(libc::SIGTERM);
    assert_eq!(closed_reason(&mut idle_ev).await, "draining");
    // The busy session goes on; the daemon says it is draining and takes
    // no new sessions.
    let status: Value = d.client().get("/v1/status").await.expect("status");
    assert_eq!(status["draining"], true, "{status}");
    assert_eq!(status["sessions"], 1, "{status}");
    let refused = d
        .client()
        .post::<Value>("/v1/sessions", &serde_json::json!({"agent": "concierge"}))
        .await
        .expect_err("no new sessions while draining");
    assert!(refused.to_string().contains("draining"), "{refused}");
    assert!(d.running(), "the daemon waits for the call in flight");

    // Deciding lets the call finish; once idle the session is closed too
    // and the daemon exits cleanly, removing its socket.
    let (ok, _, err) = d.agentctl(&["approve", &call_id]);
    assert!(ok, "{err}");
    busy_ev
        .until_type("tool_end", &[("tool", "calc.multiply")])
        .await;
    assert_eq!(closed_reason(&mut busy_ev).await, "draining");
    let _ = busy;
    let status = d
        .wait_exit(Duration::from_secs(60))
        .await
        .unwrap_or_else(|| panic!("agentd did not exit once drained:\n{}", d.log()));
    assert!(status.success(), "{status}\n{}", d.log());
    assert!(!d.socket.exists(), "the socket is removed");
    assert!(d.log().contains("drained"), "{}", d.log());
}

#[tokio::test]
async fn the_drain_timeout_closes_what_is_left_with_its_reason() {
    let mut d = TestDaemon::start_with("drain_timeout = \"1s\"", &config()).await;
    let (_, mut ev, _) = busy_session(&d).await;
    d.signal(libc::SIGTERM);
    assert_eq!(closed_reason(&mut ev).await, "drain timeout");
    let status = d
        .wait_exit(Duration::from_secs(60))
        .await
        .unwrap_or_else(|| panic!("agentd did not exit:\n{}", d.log()));
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn a_second_sigterm_stops_at_once() {
    let mut d = TestDaemon::start(&config()).await;
    let (_, mut ev, _) = busy_session(&d).await;
    d.signal(libc::SIGTERM);
    common::wait_until("the daemon drains", || async {
        let st: Result<Value, _> = d.client().get("/v1/status").await;
        st.is_ok_and(|s| s["draining"] == true)
    })
    .await;
    d.signal(libc::SIGTERM);
    assert_eq!(closed_reason(&mut ev).await, "shutdown");
    let status = d
        .wait_exit(Duration::from_secs(60))
        .await
        .unwrap_or_else(|| panic!("agentd did not exit:\n{}", d.log()));
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn agentctl_drain_stops_the_daemon_like_sigterm() {
    let mut d = TestDaemon::start(&config()).await;
    let s = d.start_session("concierge").await;
    let mut ev = d.watch(&s);
    let (ok, out, err) = d.agentctl(&["drain"]);
    assert!(ok, "{err}");
    assert!(out.contains("draining: 1 live session"), "{out}");
    assert_eq!(closed_reason(&mut ev).await, "draining");
    let status = d
        .wait_exit(Duration::from_secs(60))
        .await
        .unwrap_or_else(|| panic!("agentd did not exit:\n{}", d.log()));
    assert!(status.success(), "{status}");
}
