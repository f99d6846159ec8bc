//! End-to-end tests of the realtime wire protocol: the real `agentd` binary
//! against the scenario server ([`agentd::realtime::scenario`]) playing the
//! peer benchmark's scenarios, with agentd's outgoing events compared to what
//! the reference client sent in the same situation (`shared/protocol/`).

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use agentd::realtime::scenario::{ClientRecord, Scenario, ScenarioServer};
use common::{TestDaemon, plugin};
use serde_json::{Value, json};

const KEY: &str = "sk-test-0123456789abcdefghijklmnop";

fn shared() -> PathBuf {
    common::repo().join("..").join("shared")
}

/// The peer benchmark's scenario `name`, or `None` when shared/ is not beside the checkout.
fn peer_scenario(name: &str) -> Option<Scenario> {
    let path = shared()
        .join("bench/peer-python/scenarios")
        .join(format!("{name}.json"));
    if !path.exists() {
        eprintln!("skipped: {} is missing", path.display());
        return None;
    }
    match Scenario::load(&path) {
        Ok(s) => Some(s),
        Err(e) => panic!("{e}"),
    }
}

/// The leaf paths of an event (array indices as `[]`), which is what
/// "the same fields" means: values (ids, timing, texts) are not compared, nor
/// tool parameter schemas, which come from the plugins.
fn shape(ev: &Value) -> String {
    fn walk(v: &Value, path: String, out: &mut BTreeSet<String>) {
        if path.ends_with(".parameters") {
            out.insert(path);
            return;
        }
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, v) in m {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(v, p, out);
                }
            }
            Value::Array(a) if !a.is_empty() => {
                for v in a {
                    walk(v, format!("{path}[]"), out);
                }
            }
            _ => {
                out.insert(path);
            }
        }
    }
    let mut leaves = BTreeSet::new();
    walk(ev, String::new(), &mut leaves);
    let kind = ev["type"].as_str().unwrap_or("?");
    let item = ev["item"]["type"]
        .as_str()
        .map(|t| format!("({t})"))
        .unwrap_or_default();
    format!(
        "{kind}{item} {{{}}}",
        leaves.into_iter().collect::<Vec<_>>().join(", ")
    )
}

fn shapes(events: impl IntoIterator<Item = Value>) -> BTreeSet<String> {
    events
        .into_iter()
        .filter(|e| e["type"] != "_handshake")
        .map(|e| shape(&e))
        .collect()
}

/// Distinct shapes of what the reference client sent in scenario `name`.
fn reference_shapes(name: &str) -> BTreeSet<String> {
    let path = shared()
        .join("protocol")
        .join(format!("{name}.client_events.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    shapes(text.lines().filter_map(|l| {
        serde_json::from_str::<Value>(l)
            .ok()
            .map(|v| v["event"].clone())
    }))
}

fn agentd_events(server: &ScenarioServer) -> Vec<Value> {
    server
        .client_events()
        .into_iter()
        .map(|ClientRecord { event, .. }| event)
        .collect()
}

/// A model entry pointing at `server`, with a bearer key from the environment.
fn model(server: &ScenarioServer) -> String {
    format!(
        "[models.default]\nprovider = \"openai\"\nurl = \"{}\"\nmodel = \"gpt-realtime\"\napi_key_env = \"AGENTD_TEST_KEY\"\n",
        server.url("gpt-realtime")
    )
}

async fn run_scenario(
    scenario: Scenario,
    agents: &str,
    agent: &str,
    decide: Option<fn(usize) -> bool>,
) -> (TestDaemon, ScenarioServer) {
    let server = ScenarioServer::start(scenario)
        .await
        .expect("scenario server");
    let body = format!("{}\n{agents}", model(&server));
    let d = TestDaemon::start_with_env(&body, &[("AGENTD_TEST_KEY", KEY)]).await;
    let s = d.start_session(agent).await;
    let mut ev = d.watch(&s);
    d.send(&s, "start").await;
    if let Some(approve) = decide {
        // Approve even-numbered requests, reject odd ones, like the peer harness.
        let mut n = 0;
        loop {
            let e = ev
                .until("approval or end", |e| {
                    e["type"] == "tool_approval_required" || e["type"] == "session_closed"
                })
                .await;
            if e["type"] == "session_closed" {
                break;
            }
            let call = e["call_id"].as_str().unwrap_or_default().to_string();
            let verb = if approve(n) { "approve" } else { "reject" };
            let (ok, _, err) = d.agentctl(&[verb, &call]);
            assert!(ok, "{err}");
            n += 1;
        }
    }
    let results = server
        .finished(1, Duration::from_secs(120))
        .await
        .unwrap_or_else(|| panic!("scenario did not finish; daemon log:\n{}", d.log()));
    assert_eq!(results[0].error, None, "daemon log:\n{}", d.log());
    assert!(
        results[0].unconsumed.is_empty(),
        "{:?}",
        results[0].unconsumed
    );
    (d, server)
}

fn assert_conforms(name: &str, server: &ScenarioServer) {
    let ours = shapes(agentd_events(server));
    let theirs = reference_shapes(name);
    let missing: Vec<_> = theirs.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&theirs).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{name}: the reference sent shapes agentd did not:\n{missing:#?}\nagentd sent shapes the reference did not:\n{extra:#?}"
    );
}

#[tokio::test]
async fn tool_calls_conform_to_the_reference() {
    let Some(s) = peer_scenario("tool_calls") else {
        return;
    };
    let agents = format!(
        "[plugins.calc]\npath = \"{}\"\n[agents.assistant]\ninstructions = \"Use add.\"\ntools = [{{ use = \"calc.add\", as = \"add\" }}]\n",
        plugin("calc").display()
    );
    let (d, server) = run_scenario(s.with_var("calls", json!(5)), &agents, "assistant", None).await;
    assert_conforms("tool_calls", &server);
    let events = agentd_events(&server);
    // Each call's output reached the model exactly once, and one response.create followed each.
    for i in 0..5 {
        let outputs = events
            .iter()
            .filter(|e| e["item"]["call_id"] == format!("call_{i}"))
            .count();
        assert_eq!(outputs, 1, "call_{i}");
    }
    let creates = events
        .iter()
        .filter(|e| e["type"] == "response.create")
        .count();
    assert_eq!(creates, 6);
    // The bearer key went in the handshake and nowhere in the log.
    let hs = &events[0];
    assert_eq!(
        hs["headers"]["authorization"],
        format!("<redacted {} chars, scheme=Bearer>", KEY.len() + 7)
    );
    assert!(!d.log().contains(KEY));
}

#[tokio::test]
async fn approval_conforms_to_the_reference() {
    let Some(s) = peer_scenario("approval") else {
        return;
    };
    let agents = format!(
        "[plugins.calc]\npath = \"{}\"\n[agents.assistant]\ninstructions = \"Use add.\"\ntools = [{{ use = \"calc.add\", as = \"add\" }}]\n[agents.assistant.approval]\ndefault = \"ask\"\n",
        plugin("calc").display()
    );
    let (_d, server) = run_scenario(
        s.with_var("calls", json!(4)),
        &agents,
        "assistant",
        Some(|n| n % 2 == 0),
    )
    .await;
    assert_conforms("approval", &server);
    let outputs: Vec<String> = agentd_events(&server)
        .iter()
        .filter(|e| e["item"]["type"] == "function_call_output")
        .map(|e| e["item"]["output"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        outputs,
        [
            "1",
            "Tool execution was not approved.",
            "3",
            "Tool execution was not approved."
        ]
    );
}

#[tokio::test]
async fn handoff_conforms_to_the_reference() {
    let Some(s) = peer_scenario("handoff") else {
        return;
    };
    let agents = format!(
        "[plugins.calc]\npath = \"{}\"\n[agents.triage_agent]\ninstructions = \"Route the caller.\"\nhandoffs = [\"billing_agent\"]\n[agents.billing_agent]\ninstructions = \"You handle billing.\"\ntools = [{{ use = \"calc.add\", as = \"lookup_invoice\" }}]\n",
        plugin("calc").display()
    );
    let (_d, server) = run_scenario(s, &agents, "triage_agent", None).await;
    assert_conforms("handoff", &server);
    let events = agentd_events(&server);
    // The new agent's settings go before the handoff's output, as in the reference.
    let update = events.iter().position(|e| {
        e["type"] == "session.update" && e["session"]["instructions"] == "You handle billing."
    });
    let output = events
        .iter()
        .position(|e| e["item"]["call_id"] == "call_h1");
    assert!(update.is_some() && update < output, "{events:#?}");
}

#[tokio::test]
async fn guardrail_conforms_to_the_reference() {
    let Some(s) = peer_scenario("guardrail") else {
        return;
    };
    let agents = format!(
        "[plugins.blocklist]\npath = \"{}\"\n[agents.assistant]\ninstructions = \"Talk.\"\nguardrails = [\"blocklist.blocklist\"]\n",
        plugin("blocklist").display()
    );
    let (_d, server) = run_scenario(s, &agents, "assistant", None).await;
    assert_conforms("guardrail", &server);
    let events = agentd_events(&server);
    let truncate = events
        .iter()
        .find(|e| e["type"] == "conversation.item.truncate")
        .expect("truncate");
    // Audio delivered before the cancel (at least the 249 deltas before the
    // tripping one, 50 ms each), not wall-clock time (about 2 ms a delta here).
    let ms = truncate["audio_end_ms"].as_u64().unwrap_or_default();
    assert!(ms >= 249 * 50 && ms % 50 == 0, "{ms}");
}
