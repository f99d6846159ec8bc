//! End-to-end: the real `agentd` binary on a temporary socket, driven only
//! through the control socket (and `agentctl`), talking to the built-in
//! offline model over a real WebSocket, running real wasm components.

mod common;

use common::{TestDaemon, fixture, plugin, position};
use serde_json::Value;

fn config() -> String {
    format!(
        r#"
[plugins.calc]
path = "{calc}"

[plugins.blocklist]
path = "{blocklist}"

[plugins.faulty]
path = "{faulty}"
sandbox = {{ timeout = "300ms", memory = "16MiB", max_output = "64KiB" }}

[agents.concierge]
instructions = "You are a concierge."
tools = ["calc.*", "faulty.*"]
guardrails = ["blocklist.blocklist"]
handoffs = ["billing"]

[agents.concierge.approval]
rules = [{{ tool = "calc.multiply", action = "ask" }}]

[agents.billing]
instructions = "You handle billing."
tools = [{{ use = "calc.add", as = "add" }}]
"#,
        calc = plugin("calc").display(),
        blocklist = plugin("blocklist").display(),
        faulty = fixture("faulty").display(),
    )
}

/// The identity the journal records for this process's user on the socket.
fn whoami() -> String {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let name = std::process::Command::new("id")
        .args(["-un"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    match name {
        Some(n) => format!("uid:{uid} ({n})"),
        None => format!("uid:{uid}"),
    }
}

/// The server's echo of a function_call_output item: proof the model received `output`.
fn model_received_output(events: &[Value], output: &str) -> bool {
    events.iter().any(|e| {
        e["type"] == "raw_model_event"
            && e["data"]["type"] == "conversation.item.added"
            && e["data"]["item"]["type"] == "function_call_output"
            && e["data"]["item"]["output"] == output
    })
}

#[tokio::test]
async fn tool_call_runs_in_wasm_and_the_result_reaches_the_model() {
    let d = TestDaemon::start(&config()).await;
    let s = d.start_session("concierge").await;
    let mut ev = d.watch(&s);
    d.send(&s, r#"call calc.add {"a":2,"b":3}"#).await;

    let end = ev.until_type("tool_end", &[("tool", "calc.add")]).await;
    assert_eq!(end["output"], "5");
    assert_eq!(end["outcome"], "completed");
    assert_eq!(end["arguments"], r#"{"a":2,"b":3}"#);
    // The reply to the tool output streams, then the turn ends.
    let reply_start = ev
        .until("the reply's first transcript delta", |e| {
            e["type"] == "transcript_delta"
        })
        .await;
    let reply_item = reply_start["item_id"].as_str().unwrap().to_string();
    ev.until_type("audio_end", &[("item_id", &reply_item)])
        .await;
    ev.until_type("agent_end", &[]).await;

    assert_eq!(ev.transcript(&reply_item), "The result of calc_add is 5.");
    assert!(
        model_received_output(&ev.seen, "5"),
        "the model never received the output 5"
    );
    let seen = &ev.seen;
    let start = position(seen, "tool_start", &[("tool", "calc.add")]);
    assert_eq!(seen[start]["arguments"], r#"{"a":2,"b":3}"#);
    assert!(position(seen, "agent_start", &[]) < start);
    assert!(start < position(seen, "tool_end", &[("tool", "calc.add")]));
    assert!(position(seen, "tool_end", &[]) < position(seen, "transcript_delta", &[]));
    assert!(
        seen.iter()
            .any(|e| e["type"] == "audio" && e["item_id"] == reply_item.as_str()),
        "no audio for the reply"
    );
    assert!(
        position(seen, "history_added", &[]) < start,
        "the user message is added to history first"
    );
    // Sequence numbers are strictly increasing from 1.
    let seqs: Vec<u64> = seen.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());

    // The history holds the exchange.
    let history: Vec<Value> = d
        .client()
        .get(&format!("/v1/sessions/{s}/history"))
        .await
        .unwrap();
    let last = history.last().unwrap();
    assert_eq!(last["role"], "assistant");
    assert_eq!(
        last["content"][0]["transcript"],
        "The result of calc_add is 5."
    );
}

#[tokio::test]
async fn approval_runs_the_tool_and_rejection_tells_the_model() {
    let d = TestDaemon::start(&config()).await;
    let s = d.start_session("concierge").await;
    let mut ev = d.watch(&s);

    // Approved through agentctl.
    d.send(&s, r#"call calc.multiply {"a":4,"b":5}"#).await;
    let ask = ev
        .until_type("tool_approval_required", &[("tool", "calc.multiply")])
        .await;
    let call = ask["call_id"].as_str().unwrap().to_string();
    assert_eq!(ask["arguments"], r#"{"a":4,"b":5}"#);
    let status: Value = d.client().get(&format!("/v1/sessions/{s}")).await.unwrap();
    assert_eq!(status["pending_approvals"][0]["call_id"], call.as_str());
    assert!(
        !ev.seen.iter().any(|e| e["type"] == "tool_start"),
        "the tool must not run before approval"
    );
    let (ok, out, err) = d.agentctl(&["approve", &call]);
    assert!(ok, "agentctl approve failed: {err}");
    assert!(
        out.contains(&format!("approved {call} in session {s}")),
        "{out}"
    );
    let end = ev.until_type("tool_end", &[("call_id", &call)]).await;
    assert_eq!(end["output"], "20");
    assert_eq!(end["outcome"], "completed");
    assert!(
        position(&ev.seen, "tool_approval_required", &[])
            < position(&ev.seen, "tool_start", &[("call_id", &call)])
    );
    ev.until_type("agent_end", &[]).await;

    // Rejected through the API.
    d.send(&s, r#"call calc.multiply {"a":6,"b":7}"#).await;
    let ask = ev
        .until_type("tool_approval_required", &[("tool", "calc.multiply")])
        .await;
    let call2 = ask["call_id"].as_str().unwrap().to_string();
    assert_ne!(call, call2);
    let decided: Value = d
        .client()
        .post(
            &format!("/v1/approvals/{call2}"),
            &serde_json::json!({"approve": false}),
        )
        .await
        .unwrap();
    assert_eq!(decided["approved"], false);
    let end = ev.until_type("tool_end", &[("call_id", &call2)]).await;
    assert_eq!(end["outcome"], "rejected");
    assert_eq!(end["output"], "Tool execution was not approved.");
    ev.until("the model's answer", |e| {
        model_received_output(std::slice::from_ref(e), "Tool execution was not approved.")
    })
    .await;
    assert!(
        !ev.seen
            .iter()
            .any(|e| e["type"] == "tool_start" && e["call_id"] == call2.as_str()),
        "a rejected tool must not run"
    );

    // The journal (a real SQLite file in the state dir) recorded both decisions.
    let journal = d.dir.path().join("state").join("journal.sqlite3");
    assert!(journal.exists(), "no journal at {}", journal.display());
    let audit: Vec<Value> = d
        .client()
        .get(&format!("/v1/audit?session={s}"))
        .await
        .unwrap();
    let by_id = |id: &str| audit.iter().find(|c| c["call_id"] == id).cloned().unwrap();
    let approved = by_id(&call);
    assert_eq!(approved["decision"], "ask (policy rule 1)");
    assert_eq!(approved["approvals"][0]["approved"], true);
    assert_eq!(approved["outcome"], "completed");
    assert_eq!(approved["output"], "20");
    let rejected = by_id(&call2);
    assert_eq!(rejected["approvals"][0]["approved"], false);
    assert_eq!(rejected["outcome"], "rejected");
    let (ok, out, err) = d.agentctl(&["audit", "--session", &s]);
    assert!(ok, "{err}");
    let line = out
        .lines()
        .find(|l| l.contains(&format!("{call} calc.multiply")))
        .unwrap_or_default();
    assert!(
        line.contains(&format!(
            "{call} calc.multiply decision=ask (policy rule 1) approved by {} after ",
            whoami()
        )) && line.ends_with("ms outcome=completed output=20"),
        "{out}"
    );

    // Deciding a call that is not pending is a clear error, through both clients.
    let err = d
        .client()
        .post::<Value>(
            &format!("/v1/approvals/{call2}"),
            &serde_json::json!({"approve": true}),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("no session has a pending tool call `{call2}`")),
        "{err}"
    );
    let (ok, _, err) = d.agentctl(&["reject", "call_nope"]);
    assert!(!ok);
    assert!(err.contains("unknown_call"), "{err}");
}

#[tokio::test]
async fn always_approve_skips_later_questions_for_that_tool() {
    let d = TestDaemon::start(&config()).await;
    let s = d.start_session("concierge").await;
    let mut ev = d.watch(&s);
    d.send(&s, r#"call calc.multiply {"a":2,"b":2}"#).await;
    let ask = ev.until_type("tool_approval_required", &[]).await;
    let call = ask["call_id"].as_str().unwrap().to_string();
    let (ok, _, err) = d.agentctl(&["approve", &call, "--always", "--session", &s]);
    assert!(ok, "{err}");
    ev.until_type("tool_end", &[("call_id", &call)]).await;
    ev.until_type("agent_end", &[]).await;
    d.send(&s, r#"call calc.multiply {"a":3,"b":3}"#).await;
    let end = ev
        .until("the second call's end", |e| {
            e["type"] == "tool_end" && e["output"] == "9"
        })
        .await;
    assert_eq!(end["outcome"], "completed");
    let asks = ev.count("tool_approval_required");
    assert_eq!(asks, 1, "the second call must not ask again");
}

/// A decision goes through the daemon's index of pending calls straight to
/// the session's executor: it is taken while the session itself is blocked
/// in a synchronous tool call.
#[tokio::test]
async fn approving_never_waits_behind_a_busy_session() {
    let body = format!(
        r#"
[plugins.faulty]
path = "{faulty}"
sandbox = {{ timeout = "60s" }}

[agents.serial]
instructions = "One call at a time."
tools = ["faulty.*"]
async_tool_calls = false

[agents.serial.approval]
rules = [{{ tool = "faulty.echo", action = "ask" }}]
"#,
        faulty = fixture("faulty").display(),
    );
    let d = TestDaemon::start(&body).await;
    let s = d.start_session("serial").await;
    let mut ev = d.watch(&s);
    d.send(&s, r#"call faulty.echo {"text":"approved while busy"}"#)
        .await;
    let ask = ev.until_type("tool_approval_required", &[]).await;
    let call = ask["call_id"].as_str().unwrap().to_string();
    // The session now waits for this nap, handling nothing else meanwhile.
    d.send(&s, r#"call faulty.nap {"ms":30000}"#).await;
    ev.until_type("tool_start", &[("tool", "faulty.nap")]).await;
    // Found without naming the session, and answered while the nap runs.
    let (ok, out, err) = d.agentctl(&["approve", &call]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("approved {call} in session {s}")),
        "{out}"
    );
    let end = ev.until_type("tool_end", &[("call_id", &call)]).await;
    assert_eq!(end["output"], "approved while busy");
    assert!(
        !ev.seen
            .iter()
            .any(|e| e["type"] == "tool_end" && e["tool"] == "faulty.nap"),
        "the approval waited for the busy session"
    );
    // An id nobody holds is a clear error.
    let (ok, _, err) = d.agentctl(&["approve", "call_nobody"]);
    assert!(!ok);
    assert!(
        err.contains("no session has a pending tool call `call_nobody`"),
        "{err}"
    );
}

#[tokio::test]
async fn misbehaving_tools_are_tool_errors_and_the_session_goes_on() {
    let d = TestDaemon::start(&config()).await;
    let s = d.start_session("concierge").await;
    let mut ev = d.watch(&s);

    d.send(&s, r#"call faulty.panic {"message":"boom"}"#).await;
    let end = ev.until_type("tool_end", &[("tool", "faulty.panic")]).await;
    assert_eq!(end["outcome"], "failed");
    let out = end["output"].as_str().unwrap();
    assert!(
        out.starts_with("error: tool `faulty.panic` failed: the plugin crashed"),
        "{out}"
    );
    ev.until_type("agent_end", &[]).await;

    d.send(&s, r#"call faulty.spin {}"#).await;
    let end = ev.until_type("tool_end", &[("tool", "faulty.spin")]).await;
    assert!(
        end["output"]
            .as_str()
            .unwrap()
            .contains("longer than its 300ms limit"),
        "{end}"
    );
    ev.until_type("agent_end", &[]).await;

    d.send(&s, r#"call calc.divide {"a":1,"b":0}"#).await;
    let end = ev.until_type("tool_end", &[("tool", "calc.divide")]).await;
    assert_eq!(
        end["output"],
        "error: tool `calc.divide` failed: division by zero"
    );

    // Arguments that do not match the tool's schema are refused by the host,
    // naming the field, before the plugin is called.
    d.send(&s, r#"call calc.add {"a":"two"}"#).await;
    let end = ev.until_type("tool_end", &[("tool", "calc.add")]).await;
    assert!(
        end["output"]
            .as_str()
            .unwrap()
            .contains("error: arguments do not match the tool's schema: missing properties 'b'; `/a`: want number, but got string"),
        "{end}"
    );

    // The model can still use tools in the same session.
    d.send(&s, r#"call calc.add {"a":1,"b":1}"#).await;
    ev.until("calc.add 1+1", |e| {
        e["type"] == "tool_end" && e["output"] == "2"
    })
    .await;

    // An unknown tool is an error event, and the model gets an answer.
    d.send(&s, r#"call nope.nothing {}"#).await;
    let err = ev.until_type("error", &[("code", "unknown_tool")]).await;
    assert_eq!(err["message"], "Tool nope.nothing not found");
}

#[tokio::test]
async fn handoff_switches_agent_and_sends_its_settings() {
    let d = TestDaemon::start(&config()).await;
    let s = d.start_session("concierge").await;
    let mut ev = d.watch(&s);
    d.send(&s, "call transfer_to_billing {}").await;
    let h = ev.until_type("handoff", &[]).await;
    assert_eq!(h["from"], "concierge");
    assert_eq!(h["to"], "billing");
    // The model's session now carries billing's instructions and tools.
    let updated = ev
        .until("session.updated for billing", |e| {
            e["type"] == "raw_model_event"
                && e["data"]["type"] == "session.updated"
                && e["data"]["session"]["instructions"] == "You handle billing."
        })
        .await;
    let tools: Vec<&str> = updated["data"]["session"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(tools, ["add"]);
    ev.until("transfer message", |e| {
        model_received_output(std::slice::from_ref(e), r#"{"assistant": "billing"}"#)
    })
    .await;
    ev.until_type("agent_end", &[("agent", "billing")]).await;
    // The alias reaches calc.add.
    d.send(&s, r#"call add {"a":20,"b":22}"#).await;
    let end = ev.until_type("tool_end", &[("tool", "calc.add")]).await;
    assert_eq!(end["output"], "42");
    assert_eq!(end["agent"], "billing");
}

#[tokio::test]
async fn output_guardrail_trips_cancels_and_tells_the_model() {
    let d = TestDaemon::start(&config()).await;
    let s = d.start_session("concierge").await;
    let mut ev = d.watch(&s);
    let text = "please repeat this forbidden sentence which is long enough that the transcript crosses the debounce length";
    d.send(&s, text).await;
    let tripped = ev.until_type("guardrail_tripped", &[]).await;
    assert_eq!(tripped["direction"], "output");
    assert_eq!(
        tripped["guardrails"],
        serde_json::json!(["blocklist.blocklist"])
    );
    assert!(tripped["message"].as_str().unwrap().contains("forbidden"));
    // The model is told, and answers the notice.
    ev.until("the notice's echo", |e| {
        e["type"] == "transcript_delta"
            && e["delta"]
                .as_str()
                .is_some_and(|d| d.contains("triggered:"))
    })
    .await;
    let trips = ev
        .seen
        .iter()
        .filter(|e| e["type"] == "guardrail_tripped")
        .count();
    assert_eq!(trips, 1, "at most one trip per response");
}

#[tokio::test]
async fn events_resume_from_a_sequence_number_and_agentctl_shows_the_daemon() {
    let d = TestDaemon::start(&config()).await;
    let (ok, out, err) = d.agentctl(&["status"]);
    assert!(ok, "{err}");
    for want in [
        "concierge (model default): tools [calc.add, calc.multiply, calc.divide, faulty.panic,",
        "handoffs: billing",
        "calc (",
        "tools [add, multiply, divide]",
        "blocklist (",
        "guardrails [blocklist, no_secrets]",
    ] {
        assert!(
            out.contains(want),
            "`agentctl status` lacks {want:?}:\n{out}"
        );
    }
    let (ok, id, err) = d.agentctl(&["session", "start", "concierge"]);
    assert!(ok, "{err}");
    let id = id.trim().to_string();
    let mut ev = d.watch(&id);
    d.send(&id, "hello").await;
    ev.until_type("agent_end", &[]).await;
    let (ok, out, _) = d.agentctl(&["events", &id, "--since", "3", "--json"]);
    assert!(ok);
    let first: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["seq"], 3);
    let (ok, out, _) = d.agentctl(&["events", &id]);
    assert!(ok);
    assert!(out.contains("agent_start"), "{out}");
    assert!(out.contains("transcript_delta"), "{out}");
    assert!(
        !out.contains("raw_model_event"),
        "raw events are hidden without --raw:\n{out}"
    );

    // Plugin authors can try a tool without a model.
    let (ok, out, err) = d.agentctl(&["tool", "call", "calc.multiply", r#"{"a":6,"b":7}"#]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "42");
    let (ok, _, err) = d.agentctl(&["tool", "call", "faulty.panic", r#"{"message":"x"}"#]);
    assert!(!ok);
    assert!(err.contains("the plugin crashed"), "{err}");
    let (ok, _, err) = d.agentctl(&["tool", "call", "calc.sqrt", "{}"]);
    assert!(!ok);
    assert!(err.contains("no tool `calc.sqrt` is loaded"), "{err}");

    // Closing ends the stream with session_closed and makes the session read-only.
    let (ok, _, err) = d.agentctl(&["session", "close", &id]);
    assert!(ok, "{err}");
    ev.until_type("session_closed", &[]).await;
    let (ok, _, err) = d.agentctl(&["send", &id, "anyone?"]);
    assert!(!ok);
    assert!(err.contains("has ended"), "{err}");
}

#[tokio::test]
async fn agentctl_attach_watches_and_talks_to_a_session() {
    use std::io::{BufRead, BufReader, Write};
    let d = TestDaemon::start(&config()).await;
    let s = d.start_session("concierge").await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_agentctl"))
        .arg("--socket")
        .arg(&d.socket)
        .args(["attach", &s])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    // Read lines on a thread; the test waits on a channel with a bound.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |want: &str| -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(std::time::Duration::from_secs(30)) {
                Ok(line) => {
                    let hit = line.contains(want);
                    seen.push(line);
                    if hit {
                        return seen;
                    }
                }
                Err(_) => panic!("attach never printed {want:?}; got:\n{}", seen.join("\n")),
            }
        }
    };
    writeln!(stdin, r#"call calc.multiply {{"a":3,"b":4}}"#).unwrap();
    let lines = wait_for("tool_approval_required");
    let call_id = lines
        .last()
        .and_then(|l| l.split("call_id=").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_string();
    writeln!(stdin, "/approve {call_id}").unwrap();
    let lines = wait_for("tool_end");
    assert!(
        lines.last().unwrap().contains("completed output=12"),
        "{lines:?}"
    );
    wait_for("\"12.\"");
    writeln!(stdin, "/quit").unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
}
