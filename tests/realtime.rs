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

/// Set to `1` to skip the conformance tests when `../shared` is not beside
/// the checkout; without it, a missing reference file fails the test.
const SKIP_SHARED: &str = "AGENTD_SKIP_SHARED";

fn skip_shared() -> bool {
    std::env::var(SKIP_SHARED).is_ok_and(|v| v == "1")
}

/// `path` (under `../shared`) if it exists. A missing one fails the test,
/// naming it, unless `skip` is set: then a skip line is printed where it
/// shows even for a passing test (straight to stderr, not through the test
/// harness's capture) and the test has nothing to check.
fn shared_file(path: PathBuf, skip: bool) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    if skip {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {} is missing and {SKIP_SHARED}=1",
            path.display()
        );
        return None;
    }
    panic!(
        "{} is missing: the conformance tests need the reference captures in ../shared beside the checkout (set {SKIP_SHARED}=1 to skip them)",
        path.display()
    );
}

/// The peer benchmark's scenario `name` (see [`shared_file`] when it is missing).
fn peer_scenario(name: &str) -> Option<Scenario> {
    let path = shared()
        .join("bench/peer-python/scenarios")
        .join(format!("{name}.json"));
    let path = shared_file(path, skip_shared())?;
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
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the reference capture {}: {e}", path.display()));
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

/// Which approval requests to approve (by their order), and how many there are.
type Decisions = (fn(usize) -> bool, usize);

async fn run_scenario(
    scenario: Scenario,
    agents: &str,
    agent: &str,
    decide: Option<Decisions>,
) -> (TestDaemon, ScenarioServer) {
    let server = ScenarioServer::start(scenario)
        .await
        .expect("scenario server");
    let body = format!("{}\n{agents}", model(&server));
    let d = TestDaemon::start_with_env(&body, &[("AGENTD_TEST_KEY", KEY)]).await;
    let s = d.start_session(agent).await;
    let mut ev = d.watch(&s);
    d.send(&s, "start").await;
    if let Some((approve, calls)) = decide {
        // Approve even-numbered requests, reject odd ones, like the peer harness.
        for n in 0..calls {
            let e = ev.until_type("tool_approval_required", &[]).await;
            let call = e["call_id"].as_str().unwrap_or_default().to_string();
            let verb = if approve(n) { "approve" } else { "reject" };
            let (ok, _, err) = d.agentctl(&[verb, &call]);
            assert!(ok, "{err}");
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
        Some((|n| n % 2 == 0, 4)),
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

fn count(events: &[ClientRecord], conn: usize, pred: impl Fn(&Value) -> bool) -> usize {
    events
        .iter()
        .filter(|r| r.conn == conn && pred(&r.event))
        .count()
}

#[tokio::test]
async fn session_survives_drops_mid_tool_call_and_mid_response() {
    let created = json!({"emit": {"type": "session.created", "session": {"type": "realtime", "id": "sess_{{conn}}"}}});
    let settings =
        json!({"expect": "session.update", "match": {"session.instructions": "Use add."}});
    let tracing = json!({"expect": "session.update", "match": {"session.tracing": "auto"}, "optional": true, "timeout_s": 5});
    let call = json!({"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "add", "arguments": "{\"a\":2,\"b\":3}"});
    let mut done_call = call;
    done_call["status"] = json!("completed");
    let out = json!({"expect": "conversation.item.create", "match": {"item.type": "function_call_output", "item.call_id": "call_1", "item.output": "5"}});
    let audio = |resp: &str| {
        json!({"emit": {"type": "response.output_audio.delta", "response_id": resp, "item_id": format!("msg_{resp}"),
                        "output_index": 0, "content_index": 0, "delta": {"$pcm16_b64": 2400}}})
    };
    let scenario = json!({"name": "drops", "connections": [
        // 0: the model calls `add` and the socket dies before response.done.
        [created, settings, tracing,
         {"expect": "conversation.item.create", "match": {"item.role": "user"}},
         {"emit": {"type": "conversation.item.done", "previous_item_id": null, "item": {"id": "u_1", "type": "message", "role": "user", "status": "completed", "content": [{"type": "input_text", "text": "add"}]}}},
         {"expect": "response.create"},
         {"emit": {"type": "response.created", "response": {"id": "r_1", "status": "in_progress", "output": []}}},
         {"emit": {"type": "response.output_item.done", "response_id": "r_1", "output_index": 0, "item": done_call}},
         {"drop": true}],
        // 1: settings and conversation come back, the tool output arrives once,
        //    then the socket dies in the middle of a spoken reply.
        [created, settings, tracing,
         {"expect": "conversation.item.create", "match": {"item.id": "u_1", "item.role": "user"}},
         {"expect": "conversation.item.create", "match": {"item.type": "function_call", "item.call_id": "call_1"}},
         out,
         {"emit": {"type": "conversation.item.done", "previous_item_id": "fc_1", "item": {"id": "o_1", "type": "function_call_output", "call_id": "call_1", "output": "5"}}},
         {"expect": "response.create"},
         {"emit": {"type": "response.created", "response": {"id": "r_2", "status": "in_progress", "output": []}}},
         audio("r_2"), audio("r_2"),
         {"drop": true}],
        // 2: everything is replayed once more and the lost response is asked for again.
        [created, settings, tracing,
         {"expect": "conversation.item.create", "match": {"item.role": "user"}},
         {"expect": "conversation.item.create", "match": {"item.type": "function_call"}},
         {"expect": "conversation.item.create", "match": {"item.type": "function_call_output", "item.call_id": "call_1"}},
         {"expect": "response.create"},
         {"emit": {"type": "response.created", "response": {"id": "r_3", "status": "in_progress", "output": []}}},
         audio("r_3"),
         {"emit": {"type": "response.done", "response": {"id": "r_3", "status": "completed", "output": []}}},
         {"expect": "never.sent", "optional": true, "timeout_s": 60}]
    ]});
    let server = ScenarioServer::start(Scenario::from_value(&scenario).expect("scenario"))
        .await
        .expect("scenario server");
    let body = format!(
        "{}\n[plugins.calc]\npath = \"{}\"\n[agents.assistant]\ninstructions = \"Use add.\"\ntools = [{{ use = \"calc.add\", as = \"add\" }}]\n[agents.assistant.approval]\ndefault = \"ask\"\n",
        model(&server),
        plugin("calc").display()
    );
    let d = TestDaemon::start_with_env(&body, &[("AGENTD_TEST_KEY", KEY)]).await;
    let s = d.start_session("assistant").await;
    let mut ev = d.watch(&s);
    d.send(&s, "add").await;
    let ask = ev.until_type("tool_approval_required", &[]).await;
    // Decide only once the connection is known lost: the output is produced
    // while (or just after) reconnecting and must still reach the model once.
    ev.seen_or_until("connection_status", &[("status", "reconnecting")])
        .await;
    let (ok, _, err) = d.agentctl(&["approve", ask["call_id"].as_str().unwrap_or_default()]);
    assert!(ok, "{err}");
    ev.until("audio of the third connection", |e| {
        e["type"] == "audio" && e["response_id"] == "r_3"
    })
    .await;
    ev.until_type("agent_end", &[]).await;
    let (ok, _, err) = d.agentctl(&["session", "close", &s]);
    assert!(ok, "{err}");

    let results = server
        .finished(3, Duration::from_secs(60))
        .await
        .unwrap_or_else(|| panic!("scenario did not finish; log:\n{}", d.log()));
    for r in &results {
        assert_eq!(r.error, None, "connection {}; log:\n{}", r.conn, d.log());
        assert!(
            r.unconsumed.is_empty(),
            "connection {}: {:?}",
            r.conn,
            r.unconsumed
        );
    }
    let log = server.client_events();
    let output = |e: &Value| e["item"]["type"] == "function_call_output";
    assert_eq!(count(&log, 0, output), 0);
    assert_eq!(count(&log, 1, output), 1);
    assert_eq!(count(&log, 2, output), 1);
    assert_eq!(count(&log, 2, |e| e["item"]["type"] == "function_call"), 1);
    assert_eq!(count(&log, 2, |e| e["item"]["role"] == "user"), 1);

    let seen = &ev.seen;
    let of = |kind: &str| seen.iter().filter(|e| e["type"] == kind).count();
    assert_eq!(of("tool_start"), 1);
    assert_eq!(of("tool_end"), 1);
    let statuses: Vec<&str> = seen
        .iter()
        .filter(|e| e["type"] == "connection_status")
        .filter_map(|e| e["status"].as_str())
        .collect();
    assert_eq!(
        statuses,
        [
            "connected",
            "reconnecting",
            "connected",
            "reconnecting",
            "connected"
        ]
    );
    // The reply cut by the second drop was stopped for subscribers.
    assert!(
        seen.iter()
            .any(|e| e["type"] == "audio_interrupted" && e["item_id"] == "msg_r_2")
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it: (CA PEM, server config).
fn private_ca() -> (String, std::sync::Arc<rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().expect("server key");
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("server params")
        .signed_by(&key, &issuer)
        .expect("server certificate");
    let key_der =
        rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("server key DER");
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], key_der)
    .expect("server config");
    (ca_cert.pem(), std::sync::Arc::new(config))
}

/// Terminate TLS on a loopback port and pass the bytes on to `backend`.
async fn tls_front(
    config: std::sync::Arc<rustls::ServerConfig>,
    backend: std::net::SocketAddr,
) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind TLS front");
    let addr = listener.local_addr().expect("front address");
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses our certificate ends here, which is what one test wants.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn wss_endpoint_behind_a_private_ca_works_end_to_end() {
    let scenario = json!({"name": "tls", "steps": [
        {"emit": {"type": "session.created", "session": {"type": "realtime", "id": "sess_tls"}}},
        {"expect": "session.update", "match": {"session.instructions": "Talk."}},
        {"expect": "conversation.item.create", "match": {"item.content.0.text": "over tls?"}},
        {"expect": "response.create"},
        {"emit": {"type": "response.created", "response": {"id": "r_1", "status": "in_progress", "output": []}}},
        {"emit": {"type": "response.output_text.delta", "response_id": "r_1", "item_id": "m_1", "output_index": 0, "content_index": 0, "delta": "yes, encrypted"}},
        {"emit": {"type": "response.done", "response": {"id": "r_1", "status": "completed", "output": []}}},
        {"expect": "never.sent", "optional": true, "timeout_s": 60}
    ]});
    let server = ScenarioServer::start(Scenario::from_value(&scenario).expect("scenario"))
        .await
        .expect("scenario server");
    let backend: std::net::SocketAddr = server
        .url("x")
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .and_then(|a| a.parse().ok())
        .expect("scenario address");
    let (ca_pem, server_tls) = private_ca();
    let front = tls_front(server_tls, backend).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("private-ca.pem");
    std::fs::write(&ca_file, ca_pem).expect("write CA");
    let url = format!("wss://{front}/v1/realtime?model=gpt-realtime");
    let body = format!(
        "[models.default]\nprovider = \"openai\"\nurl = \"{url}\"\napi_key_env = \"AGENTD_TEST_KEY\"\nca_file = \"{}\"\n\
         [models.public_roots_only]\nprovider = \"openai\"\nurl = \"{url}\"\napi_key_env = \"AGENTD_TEST_KEY\"\n\
         [agents.assistant]\ninstructions = \"Talk.\"\n\
         [agents.untrusting]\nmodel = \"public_roots_only\"\ninstructions = \"Talk.\"\n",
        ca_file.display()
    );
    let d = TestDaemon::start_with_env(&body, &[("AGENTD_TEST_KEY", KEY)]).await;

    // Without the private CA the certificate is refused and nothing is sent.
    let refused = d
        .client()
        .post::<Value>("/v1/sessions", &json!({"agent": "untrusting"}))
        .await
        .expect_err("an untrusted certificate must fail the connection");
    assert!(
        refused.to_string().contains("invalid peer certificate"),
        "{refused}"
    );
    assert!(server.client_events().is_empty());

    let s = d.start_session("assistant").await;
    let mut ev = d.watch(&s);
    d.send(&s, "over tls?").await;
    let delta = ev.until_type("transcript_delta", &[]).await;
    assert_eq!(delta["delta"], "yes, encrypted");
    ev.until_type("agent_end", &[]).await;
    let hs = &server.client_events()[0].event;
    assert_eq!(hs["type"], "_handshake");
    assert_eq!(
        hs["headers"]["authorization"],
        format!("<redacted {} chars, scheme=Bearer>", KEY.len() + 7)
    );
    assert!(!d.log().contains(KEY));
}

#[tokio::test]
async fn a_sim_model_with_a_scenario_replays_it_through_the_daemon() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("replay.jsonl");
    // One step a line, the format a user gets by editing a capture.
    let steps = [
        json!({"emit": {"type": "session.created", "session": {"type": "realtime", "id": "sess_replay"}}}),
        json!({"expect": "session.update", "match": {"session.instructions": "Replay."}}),
        json!({"expect": "conversation.item.create", "match": {"item.content.0.text": "replay me"}}),
        json!({"expect": "response.create"}),
        json!({"emit": {"type": "response.created", "response": {"id": "r_1", "status": "in_progress", "output": []}}}),
        json!({"emit": {"type": "response.output_text.delta", "response_id": "r_1", "item_id": "m_1", "output_index": 0, "content_index": 0, "delta": "exactly as scripted"}}),
        json!({"emit": {"type": "response.done", "response": {"id": "r_1", "status": "completed", "output": []}}}),
        json!({"expect": "conversation.item.create", "match": {"item.content.0.text": "what the script expects"}, "timeout_s": 1}),
    ];
    let text: Vec<String> = steps.iter().map(Value::to_string).collect();
    std::fs::write(&script, text.join("\n")).expect("write scenario");
    let body = format!(
        "[models.default]\nprovider = \"sim\"\nscenario = \"{}\"\nreconnect_attempts = 0\n\
         [agents.replayer]\ninstructions = \"Replay.\"\n",
        script.display()
    );
    let d = TestDaemon::start(&body).await;
    let s = d.start_session("replayer").await;
    let mut ev = d.watch(&s);
    d.send(&s, "replay me").await;
    let delta = ev.until_type("transcript_delta", &[]).await;
    assert_eq!(delta["delta"], "exactly as scripted");
    ev.until_type("agent_end", &[]).await;
    // A client that does not do what the script expects (here: sends nothing
    // more) is reported to the session, with what was expected.
    let err = ev.until_type("error", &[("code", "scenario_failed")]).await;
    assert!(
        err["message"]
            .as_str()
            .unwrap_or_default()
            .contains("what the script expects"),
        "{err}"
    );
    ev.until_type("session_closed", &[]).await;
    // The server logs once its side of the connection is done, which may be
    // after the session saw the close.
    common::wait_until("the scenario's failure is logged", || async {
        d.log().contains("scenario connection failed")
    })
    .await;
}

#[test]
fn a_missing_reference_file_fails_unless_skipping_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let present = dir.path().join("present.json");
    std::fs::write(&present, "{}").unwrap();
    assert_eq!(shared_file(present.clone(), false), Some(present));
    let missing = dir.path().join("missing.json");
    assert_eq!(shared_file(missing.clone(), true), None);
    let failure = std::panic::catch_unwind(|| shared_file(missing.clone(), false))
        .expect_err("a missing reference file must fail the test");
    let msg = failure
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        msg.starts_with(&format!("{} is missing", missing.display())),
        "{msg}"
    );
    assert!(msg.contains("AGENTD_SKIP_SHARED=1"), "{msg}");
}

#[tokio::test]
async fn a_server_that_drops_every_connection_at_once_is_given_up_on() {
    // Connection 0 is a working session; every later one is accepted and
    // closed at once, before its `session.created`: none becomes usable, so
    // each counts as a failed attempt and agentd stops after the limit.
    let scenario = json!({"name": "flapping", "connections": [
        [{"emit": {"type": "session.created", "session": {"type": "realtime", "id": "sess_0"}}},
         {"expect": "session.update", "match": {"session.instructions": "Talk."}},
         {"expect": "conversation.item.create", "match": {"item.content.0.text": "hello"}},
         {"close": {"code": 1011, "reason": "restarting"}}],
        [{"close": {"code": 1013, "reason": "try again later"}}]
    ]});
    let server = ScenarioServer::start(Scenario::from_value(&scenario).expect("scenario"))
        .await
        .expect("scenario server");
    let body = format!(
        "{}reconnect_attempts = 3\nreconnect_backoff = \"10ms\"\nreconnect_backoff_max = \"20ms\"\n\
         [agents.assistant]\ninstructions = \"Talk.\"\n",
        model(&server)
    );
    let d = TestDaemon::start_with_env(&body, &[("AGENTD_TEST_KEY", KEY)]).await;
    let s = d.start_session("assistant").await;
    let mut ev = d.watch(&s);
    ev.until_type("connection_status", &[("status", "connected")])
        .await;
    d.send(&s, "hello").await;
    let err = ev
        .until_type("error", &[("code", "model_reconnect_failed")])
        .await;
    let message = err["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(
            "gave up reconnecting to the model after 3 attempts: model closed the connection: 1013 try again later"
        ),
        "{message}"
    );
    ev.until_type("session_closed", &[]).await;
    let attempts: Vec<u64> = ev
        .seen
        .iter()
        .filter(|e| e["type"] == "connection_status" && e["status"] == "reconnecting")
        .filter_map(|e| e["attempt"].as_u64())
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
    // The working connection, then one per attempt.
    let handshakes = server
        .client_events()
        .iter()
        .filter(|r| r.event["type"] == "_handshake")
        .count();
    assert_eq!(handshakes, 4);
}

/// A model that completes each WebSocket handshake and then never reads what
/// agentd sends; its receive buffer is small, so a client that sends a lot
/// soon has a send blocked on a full TCP buffer. Connection 0 keeps talking
/// (`session.created`, then an event every 50 ms), so only what it does not
/// read can tell it is dead; later connections send nothing either.
async fn deaf_model() -> String {
    use futures_util::SinkExt as _;
    use futures_util::StreamExt as _;
    use tokio_tungstenite::tungstenite::Message;

    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("small receive buffer");
    socket
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind");
    let addr = socket.local_addr().expect("local address");
    let listener = socket.listen(16).expect("listen");
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((tcp, _)) = listener.accept().await {
            let talks = n == 0;
            n += 1;
            tokio::spawn(async move {
                let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                // The read half is kept and never polled.
                let (mut sink, _unread) = ws.split();
                if !talks {
                    return std::future::pending().await;
                }
                let created = json!({"type": "session.created", "session": {"type": "realtime", "id": "sess_deaf"}});
                let _ = sink.send(Message::text(created.to_string())).await;
                for i in 0u64.. {
                    let ev = json!({"type": "rate_limits.updated", "event_id": format!("ev_{i}"), "rate_limits": []});
                    if sink.send(Message::text(ev.to_string())).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            });
        }
    });
    format!("ws://{addr}/v1/realtime?model=gpt-realtime")
}

/// Post input audio to session `s` until `stop` is set (or the session ends).
fn post_audio_until(
    d: &TestDaemon,
    s: &str,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    let client = d.client();
    let path = format!("/v1/sessions/{s}/audio");
    tokio::spawn(async move {
        let chunk = json!({"audio": "A".repeat(256 * 1024), "commit": false});
        // At most 100 MB: far more than any socket buffer holds.
        for _ in 0..400 {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            if client.post::<Value>(&path, &chunk).await.is_err() {
                return;
            }
        }
    })
}

#[tokio::test]
async fn a_model_that_stops_reading_is_taken_as_dead_and_replaced() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let url = deaf_model().await;
    let body = format!(
        "[models.default]\nprovider = \"openai\"\nurl = \"{url}\"\napi_key_env = \"AGENTD_TEST_KEY\"\n\
         keepalive = \"200ms\"\ndead_after = \"1s\"\nreconnect_attempts = 5\n\
         reconnect_backoff = \"10ms\"\nreconnect_backoff_max = \"20ms\"\n\
         [agents.assistant]\ninstructions = \"Talk.\"\n"
    );
    let d = TestDaemon::start_with_env(&body, &[("AGENTD_TEST_KEY", KEY)]).await;
    let s = d.start_session("assistant").await;
    let mut ev = d.watch(&s);
    ev.until_type("connection_status", &[("status", "connected")])
        .await;
    let reconnecting =
        |e: &Value| e["type"] == "connection_status" && e["status"] == "reconnecting";

    // The model talks but reads nothing: the send check alone can tell.
    let stop = Arc::new(AtomicBool::new(false));
    let poster = post_audio_until(&d, &s, stop.clone());
    let lost = ev.until("the deaf model given up on", reconnecting).await;
    stop.store(true, Ordering::Relaxed);
    let _ = poster.await;
    assert_eq!(
        lost["reason"], "model read nothing for 1s (dead peer)",
        "{lost}"
    );
    ev.until_type("connection_status", &[("status", "connected")])
        .await;

    // The next one neither reads nor talks, while agentd keeps sending.
    let stop = Arc::new(AtomicBool::new(false));
    let poster = post_audio_until(&d, &s, stop.clone());
    let lost = ev.until("the mute model given up on", reconnecting).await;
    stop.store(true, Ordering::Relaxed);
    let _ = poster.await;
    let reason = lost["reason"].as_str().unwrap_or_default();
    assert!(reason.ends_with("for 1s (dead peer)"), "{lost}");
    ev.until_type("connection_status", &[("status", "connected")])
        .await;
}
