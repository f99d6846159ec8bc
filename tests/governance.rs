//! Governance end to end, on the real binaries: arguments checked against
//! the tool's schema before policy, predicates that fail closed, `on_timeout`,
//! the daemon-wide approvals list with who decided, why and how long it
//! took, answers remembered for an agent (lapsing with its policy, revocable),
//! `policy explain`, the audit filters, a closed session's history from the
//! journal, and the shadowed-rule warning of `agentd check`.

mod common;

use std::time::Duration;

use common::{TestDaemon, fixture, plugin, wait_until};
use serde_json::Value;

fn config(approval: &str) -> String {
    format!(
        r#"
[plugins.calc]
path = "{calc}"

[plugins.faulty]
path = "{faulty}"

[agents.payer]
instructions = "You pay."
tools = ["calc.*", "faulty.echo"]

[agents.payer.approval]
{approval}

[plugins.blocklist]
path = "{blocklist}"

[agents.guarded]
tools = ["calc.*"]
input_guardrails = ["blocklist.blocklist"]
"#,
        calc = plugin("calc").display(),
        faulty = fixture("faulty").display(),
        blocklist = plugin("blocklist").display(),
    )
}

const ASK_MULTIPLY: &str = r#"rules = [{ tool = "calc.multiply", action = "ask" }]"#;

async fn audit(d: &TestDaemon, session: &str) -> Vec<Value> {
    d.client()
        .get(&format!("/v1/audit?session={session}"))
        .await
        .expect("audit")
}

fn call<'a>(audit: &'a [Value], call_id: &str) -> &'a Value {
    audit
        .iter()
        .find(|c| c["call_id"] == call_id)
        .unwrap_or_else(|| panic!("no call {call_id} in {audit:#?}"))
}

#[tokio::test]
async fn arguments_that_do_not_match_the_schema_never_reach_policy_or_the_plugin() {
    let d = TestDaemon::start(&config(r#"default = "allow""#)).await;
    let s = d.start_session("payer").await;
    let mut ev = d.watch(&s);
    d.send(&s, r#"call calc.multiply {"a":"5000","b":2}"#).await;
    let end = ev
        .until_type("tool_end", &[("tool", "calc.multiply")])
        .await;
    assert_eq!(end["outcome"], "rejected");
    let output = end["output"].as_str().unwrap();
    assert!(
        output.starts_with("error: arguments do not match the tool's schema: `/a`:"),
        "{output}"
    );
    assert!(
        !ev.seen.iter().any(|e| e["type"] == "tool_start"),
        "the plugin must not run"
    );
    let id = end["call_id"].as_str().unwrap();
    let audit = audit(&d, &s).await;
    let c = call(&audit, id);
    assert!(
        c["decision"]
            .as_str()
            .unwrap()
            .starts_with("refused (arguments do not match"),
        "{c}"
    );
    assert_eq!(c["outcome"], "rejected");
    // The direct call of a plugin author gets the same check.
    let (ok, _, err) = d.agentctl(&["tool", "call", "calc.add", r#"{"a":1}"#]);
    assert!(!ok);
    assert!(err.contains("missing properties 'b'"), "{err}");
}

#[tokio::test]
async fn a_condition_on_a_missing_argument_fails_closed() {
    // `echo` takes `text`; a rule on an `/amount` it does not have cannot
    // tell, so the call is asked about instead of falling through to allow.
    let d = TestDaemon::start(&config(
        r#"default = "allow"
rules = [{ tool = "faulty.echo", action = "ask", when = { arg = "/amount", gt = 100 } }]"#,
    ))
    .await;
    let s = d.start_session("payer").await;
    let mut ev = d.watch(&s);
    d.send(&s, r#"call faulty.echo {"text":"pay 5000"}"#).await;
    let ask = ev
        .until_type("tool_approval_required", &[("tool", "faulty.echo")])
        .await;
    let id = ask["call_id"].as_str().unwrap().to_string();
    let audit = audit(&d, &s).await;
    assert_eq!(
        call(&audit, &id)["decision"],
        "ask (policy default, failed closed)"
    );
    // `policy explain` says why, without running anything.
    let (ok, out, err) = d.agentctl(&[
        "policy",
        "explain",
        "payer",
        "faulty.echo",
        r#"{"text":"x"}"#,
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains(
            "rule 1 `ask faulty.echo when /amount gt 100`: cannot tell (`/amount` is missing)"
        ),
        "{out}"
    );
    assert!(
        out.contains("decision: ask (made stricter by a condition that could not be evaluated)"),
        "{out}"
    );
    let (ok, out, _) = d.agentctl(&[
        "--json",
        "policy",
        "explain",
        "payer",
        "calc.multiply",
        r#"{"a":"5000","b":1}"#,
    ]);
    assert!(ok);
    let e: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(e["decision"], "refused");
    let (ok, _, err) = d.agentctl(&["policy", "explain", "payer", "calc.nope", "{}"]);
    assert!(
        !ok && err.contains("agent `payer` has no tool `calc.nope`"),
        "{err}"
    );
}

#[tokio::test]
async fn on_timeout_approve_runs_the_call_and_the_journal_says_timeout() {
    let d = TestDaemon::start(&config(&format!(
        "timeout = \"300ms\"\non_timeout = \"approve\"\n{ASK_MULTIPLY}"
    )))
    .await;
    let s = d.start_session("payer").await;
    let mut ev = d.watch(&s);
    d.send(&s, r#"call calc.multiply {"a":4,"b":5}"#).await;
    let end = ev
        .until_type("tool_end", &[("tool", "calc.multiply")])
        .await;
    assert_eq!(
        (end["outcome"].as_str(), end["output"].as_str()),
        (Some("completed"), Some("20"))
    );
    let audit = audit(&d, &s).await;
    let a = &call(&audit, end["call_id"].as_str().unwrap())["approvals"][0];
    assert_eq!(
        (a["approved"].as_bool(), a["decided_by"].as_str()),
        (Some(true), Some("timeout"))
    );
    assert!(a["latency_ms"].as_u64().unwrap() >= 300, "{a}");
}

#[tokio::test]
async fn approvals_are_listed_daemon_wide_and_decided_with_a_reason() {
    let d = TestDaemon::start(&config(ASK_MULTIPLY)).await;
    let (s1, s2) = (
        d.start_session("payer").await,
        d.start_session("payer").await,
    );
    let (mut e1, mut e2) = (d.watch(&s1), d.watch(&s2));
    d.send(&s1, r#"call calc.multiply {"a":2,"b":3}"#).await;
    d.send(&s2, r#"call calc.multiply {"a":7,"b":6}"#).await;
    let c1 = e1.until_type("tool_approval_required", &[]).await["call_id"]
        .as_str()
        .unwrap()
        .to_string();
    e2.until_type("tool_approval_required", &[]).await;
    let (ok, out, err) = d.agentctl(&["approvals"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    // Oldest first; the two calls race, so each is found by its session.
    for (s, args) in [(&s1, r#"{"a":2,"b":3}"#), (&s2, r#"{"a":7,"b":6}"#)] {
        let line = lines
            .iter()
            .find(|l| l.contains(s.as_str()))
            .unwrap_or_else(|| panic!("{s} is not listed: {out}"));
        assert!(line.contains("payer calc.multiply"), "{line}");
        assert!(line.contains(&format!("args={args} waiting ")), "{line}");
    }
    let (ok, out, _) = d.agentctl(&["--json", "approvals"]);
    assert!(ok);
    let listed: Vec<Value> = serde_json::from_str(&out).unwrap();
    let since: Vec<u64> = listed
        .iter()
        .map(|p| p["since_ms"].as_u64().unwrap())
        .collect();
    assert!(since[0] > 0 && since[0] <= since[1], "{listed:?}");
    let mut sessions: Vec<&str> = listed
        .iter()
        .map(|p| p["session"].as_str().unwrap())
        .collect();
    sessions.sort();
    let mut want = [s1.as_str(), s2.as_str()];
    want.sort();
    assert_eq!(sessions, want);

    tokio::time::sleep(Duration::from_millis(50)).await;
    // The sim numbers calls per session: the id is pending in both, so name the session.
    let (ok, _, err) = d.agentctl(&[
        "approve",
        &c1,
        "--session",
        &s1,
        "--reason",
        "invoice checked",
    ]);
    assert!(ok, "{err}");
    e1.until_type("tool_end", &[("outcome", "completed")]).await;
    let audit = audit(&d, &s1).await;
    let a = &call(&audit, &c1)["approvals"][0];
    assert_eq!(a["reason"], "invoice checked");
    assert!(a["decided_by"].as_str().unwrap().starts_with("uid:"), "{a}");
    assert!(a["latency_ms"].as_u64().unwrap() >= 50, "{a}");
    let (ok, out, _) = d.agentctl(&["audit", "--session", &s1]);
    assert!(ok && out.contains("(invoice checked) after "), "{out}");
    // Only s2's call is left.
    let (_, out, _) = d.agentctl(&["approvals"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    // `--remember` needs `--always`.
    let (ok, _, err) = d.agentctl(&["approve", "nope", "--remember", "agent"]);
    assert!(!ok && err.contains("--always"), "{err}");
}

#[tokio::test]
async fn an_answer_remembered_for_the_agent_lapses_with_its_policy_and_can_be_forgotten() {
    let d = TestDaemon::start(&config(ASK_MULTIPLY)).await;
    let s = d.start_session("payer").await;
    let mut ev = d.watch(&s);
    d.send(&s, r#"call calc.multiply {"a":2,"b":3}"#).await;
    let id = ev.approval_asked().await;
    let (ok, _, err) = d.agentctl(&["approve", &id, "--always", "--remember", "agent"]);
    assert!(ok, "{err}");
    ev.until_type("tool_end", &[("outcome", "completed")]).await;

    // Another session of the same agent: no question.
    let runs_without_asking = |d: &TestDaemon| {
        let d_client = d.client();
        async move {
            let s: Value = d_client
                .post("/v1/sessions", &serde_json::json!({"agent": "payer"}))
                .await
                .unwrap();
            s["id"].as_str().unwrap().to_string()
        }
    };
    let s2 = runs_without_asking(&d).await;
    let mut ev2 = d.watch(&s2);
    d.send(&s2, r#"call calc.multiply {"a":3,"b":3}"#).await;
    let end = ev2.until_type("tool_end", &[]).await;
    assert_eq!(end["outcome"], "completed");
    assert!(
        !ev2.seen
            .iter()
            .any(|e| e["type"] == "tool_approval_required")
    );
    let audit2 = audit(&d, &s2).await;
    let decision = call(&audit2, end["call_id"].as_str().unwrap())["decision"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        decision.starts_with("allow (remembered for agent payer: approved by uid:"),
        "{decision}"
    );
    let (ok, out, _) = d.agentctl(&["approvals", "remembered"]);
    assert!(
        ok && out.starts_with("payer calc.multiply approve by uid:"),
        "{out}"
    );
    assert!(!out.contains("stale"), "{out}");

    // The policy changes (a reload): the answer lapses and a person is asked again.
    d.rewrite_config(&config(&format!(
        "default = \"allow\"\n{ASK_MULTIPLY}\ntimeout = \"1h\""
    )));
    wait_until("the reload is applied", || async {
        let (_, out, _) = d.agentctl(&["approvals", "remembered"]);
        out.contains("stale")
    })
    .await;
    let s3 = runs_without_asking(&d).await;
    let mut ev3 = d.watch(&s3);
    d.send(&s3, r#"call calc.multiply {"a":4,"b":4}"#).await;
    let ask = ev3.until_type("tool_approval_required", &[]).await;
    let id3 = ask["call_id"].as_str().unwrap().to_string();
    let (ok, _, err) = d.agentctl(&["approve", &id3, "--always", "--remember", "agent"]);
    assert!(ok, "{err}");
    ev3.until_type("tool_end", &[]).await;

    // Forgotten: asked again.
    let (ok, out, err) = d.agentctl(&["approvals", "forget", "payer"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "forgot 1 remembered answers of agent payer");
    let s4 = runs_without_asking(&d).await;
    let mut ev4 = d.watch(&s4);
    d.send(&s4, r#"call calc.multiply {"a":5,"b":5}"#).await;
    ev4.until_type("tool_approval_required", &[]).await;
}

#[tokio::test]
async fn an_always_approval_settles_asks_but_never_loosens_a_deny() {
    let d = TestDaemon::start(&config(
        r#"rules = [
  { tool = "calc.multiply", action = "deny", when = { arg = "/a", gt = 100 } },
  { tool = "calc.multiply", action = "ask" },
]"#,
    ))
    .await;
    let s = d.start_session("payer").await;
    let mut ev = d.watch(&s);
    d.send(&s, r#"call calc.multiply {"a":2,"b":3}"#).await;
    let id = ev.approval_asked().await;
    let (ok, _, err) = d.agentctl(&["approve", &id, "--always"]);
    assert!(ok, "{err}");
    ev.until_type("tool_end", &[("output", "6")]).await;
    ev.until_type("agent_end", &[]).await;
    // Another ask of the tool: settled by the session's answer.
    d.send(&s, r#"call calc.multiply {"a":3,"b":3}"#).await;
    ev.until_type("tool_end", &[("output", "9")]).await;
    ev.until_type("agent_end", &[]).await;
    // What the policy denies stays denied.
    d.send(&s, r#"call calc.multiply {"a":500,"b":3}"#).await;
    let end = ev.until_type("tool_end", &[("outcome", "rejected")]).await;
    let asks = ev.count("tool_approval_required");
    assert_eq!(asks, 1, "only the first call was asked about");
    let audit = audit(&d, &s).await;
    assert_eq!(
        call(&audit, end["call_id"].as_str().unwrap())["decision"],
        "deny (policy rule 1)"
    );
}

#[tokio::test]
async fn audits_filter_by_tool_and_time_and_closed_sessions_keep_their_history() {
    let d = TestDaemon::start(&config(r#"default = "allow""#)).await;
    let s = d.start_session("payer").await;
    let mut ev = d.watch(&s);
    d.send(&s, r#"call calc.add {"a":1,"b":2}"#).await;
    ev.until_type("tool_end", &[("tool", "calc.add")]).await;
    ev.until_type("agent_end", &[]).await;
    d.send(&s, r#"call faulty.echo {"text":"hi"}"#).await;
    ev.until_type("tool_end", &[("tool", "faulty.echo")]).await;
    ev.until_type("agent_end", &[]).await;
    let (ok, out, err) = d.agentctl(&["audit", "--tool", "calc.*", "--since", "1h"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("calc.add") && !out.contains("faulty.echo"),
        "{out}"
    );
    let (ok, out, _) = d.agentctl(&[
        "audit",
        "--tool",
        "*.echo",
        "--since",
        "2999-01-01T00:00:00Z",
    ]);
    assert!(ok && out.trim().is_empty(), "{out}");
    let (ok, _, err) = d.agentctl(&["audit", "--tool", "calc"]);
    assert!(
        !ok && err.contains("must be written `plugin.tool`"),
        "{err}"
    );

    let (ok, _, err) = d.agentctl(&["session", "close", &s]);
    assert!(ok, "{err}");
    ev.until_type("session_closed", &[]).await;
    let journal: Value = d
        .client()
        .get(&format!("/v1/journal/sessions/{s}"))
        .await
        .unwrap();
    assert_eq!(journal["agent"], "payer");
    assert!(journal["ended_ms"].as_u64().is_some());
    // The conversation in its final form: the user's calls and the replies.
    let items = journal["items"].as_array().unwrap();
    let contents: Vec<Value> = items
        .iter()
        .map(|i| serde_json::from_str(i["content"].as_str().unwrap()).unwrap())
        .collect();
    let roles: Vec<&str> = items.iter().map(|i| i["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        ["user", "assistant", "user", "assistant"],
        "{contents:#?}"
    );
    let text = serde_json::to_string(&contents).unwrap();
    assert!(
        text.contains(r#"call calc.add {\"a\":1,\"b\":2}"#),
        "{text}"
    );
    assert!(text.contains("is 3"), "{text}");
    // `agentctl history` of the ended session reads the journal.
    let (ok, out, err) = d.agentctl(&["history", &s]);
    assert!(ok, "{err}");
    let printed: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(printed, contents);
}

/// Guardrail trips and each start and reload (with the SHA-256 of the
/// config serving) are in the journal.
#[tokio::test]
async fn guardrail_trips_and_reloads_are_journaled() {
    let d = TestDaemon::start(&config(r#"default = "allow""#)).await;
    let s = d.start_session("guarded").await;
    let mut ev = d.watch(&s);
    d.send(&s, "this is forbidden").await;
    ev.until_type("guardrail_tripped", &[("direction", "input")])
        .await;
    let journal: Value = d
        .client()
        .get(&format!("/v1/journal/sessions/{s}"))
        .await
        .unwrap();
    let trips = journal["guardrail_trips"].as_array().unwrap();
    assert_eq!(trips.len(), 1, "{journal}");
    assert_eq!(
        (
            trips[0]["direction"].as_str(),
            trips[0]["guardrails"].as_str(),
            trips[0]["message"].as_str()
        ),
        (
            Some("input"),
            Some("blocklist.blocklist"),
            Some("this is forbidden")
        )
    );

    let hash = |path: &std::path::Path| {
        use sha2::{Digest, Sha256};
        Sha256::digest(std::fs::read(path).unwrap())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let started = hash(&d.config);
    d.rewrite_config(&config(r#"default = "ask""#));
    let reloaded = hash(&d.config);
    let path = d.dir.path().join("state").join("journal.sqlite3");
    let rows = || {
        let c = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let mut q = c
            .prepare("SELECT outcome, config_hash FROM reloads ORDER BY rowid")
            .unwrap();
        q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    };
    wait_until("the reload is journaled", || async { rows().len() >= 2 }).await;
    let rows = rows();
    assert_eq!(rows[0], ("started".to_string(), started));
    assert_eq!(rows[1], ("applied (watch)".to_string(), reloaded));
}

#[test]
fn agentd_check_prints_a_shadowed_rule_as_a_warning_and_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agents.toml");
    let text = format!(
        "[plugins.calc]\npath = \"{}\"\n[agents.a]\ntools = [\"calc.*\"]\n[agents.a.approval]\nrules = [\n  {{ tool = \"calc.*\", action = \"deny\" }},\n  {{ tool = \"calc.add\", action = \"ask\", when = {{ arg = \"/a\", gt = 1 }} }},\n]\n",
        plugin("calc").display()
    );
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_agentd"))
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "warning: {}:8:3: this rule never decides: the rule at 7:3 (`deny calc.*`) already covers every call it could match",
            path.display()
        )),
        "{err}"
    );
}
