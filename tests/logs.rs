//! `[daemon] log_format`: JSON lines carrying the session, agent, tool and
//! call_id fields, chosen by itself under journald; text lines carry the
//! session's span too.

mod common;

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

/// Run a session that asks for an approval; returns its id and call id.
async fn ask(d: &TestDaemon) -> (String, String) {
    let s = d.start_session("concierge").await;
    let mut ev = d.watch(&s);
    d.send(&s, r#"call calc.multiply {"a":4,"b":5}"#).await;
    let call_id = ev.approval_asked().await;
    (s, call_id)
}

fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

async fn check_json(d: &TestDaemon) {
    let (s, call_id) = ask(d).await;
    common::wait_until("the approval is logged", || async {
        d.log().contains("tool call waits for approval")
    })
    .await;
    let lines = json_lines(&d.log());
    for l in &lines {
        for key in ["timestamp", "level", "message"] {
            assert!(l.get(key).is_some(), "no {key}: {l}");
        }
    }
    let ready = lines.iter().find(|l| l["message"] == "agentd ready");
    assert!(ready.is_some_and(|l| l["agents"] == 1), "{lines:#?}");
    let started = lines
        .iter()
        .find(|l| l["message"] == "session started")
        .expect("a `session started` line");
    assert_eq!(started["session"], s.as_str());
    assert_eq!(started["agent"], "concierge");
    let asked = lines
        .iter()
        .find(|l| l["message"] == "tool call waits for approval")
        .expect("an approval line");
    assert_eq!(asked["session"], s.as_str());
    assert_eq!(asked["agent"], "concierge");
    assert_eq!(asked["tool"], "calc.multiply");
    assert_eq!(asked["call_id"], call_id.as_str());
    // Every line logged inside the session carries its id.
    for l in lines.iter().filter(|l| l.get("call_id").is_some()) {
        assert_eq!(l["session"], s.as_str(), "{l}");
    }
}

#[tokio::test]
async fn json_lines_carry_session_agent_tool_and_call_id() {
    let d = TestDaemon::start_with("log_format = \"json\"", &config()).await;
    check_json(&d).await;
}

#[tokio::test]
async fn json_is_chosen_under_journald() {
    let d = TestDaemon::start_with_env(&config(), &[("JOURNAL_STREAM", "8:12345")]).await;
    check_json(&d).await;
}

#[tokio::test]
async fn text_lines_carry_the_session_span() {
    let d = TestDaemon::start_with_env(&config(), &[("JOURNAL_STREAM", "")]).await;
    let (s, _) = ask(&d).await;
    common::wait_until("the approval is logged", || async {
        d.log().contains("tool call waits for approval")
    })
    .await;
    let log = d.log();
    assert!(serde_json::from_str::<Value>(log.lines().next().unwrap_or("")).is_err());
    let line = log
        .lines()
        .find(|l| l.contains("tool call waits for approval"))
        .unwrap_or_default();
    assert!(
        line.contains(&format!("session{{session={s} agent=concierge}}")),
        "{line}"
    );
}
