//! Scenario tests of the session engine against a puppet model: each test
//! feeds an exact sequence of server events over a real WebSocket and checks
//! the exact session events and the exact client events agentd sends back.
//! Where the reference client was captured in the same situation
//! (../shared/protocol), agentd's messages are compared with its.

mod common;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use agentd::catalog::Catalog;
use agentd::config::{Config, Modality, SettingsOverlay};
use agentd::plugin::PluginHost;
use agentd::realtime::client::{Endpoint, Resilience};
use agentd::session::events::Logged;
use agentd::session::{self, SessionHandle};
use agentd::store::Journal;
use common::puppet::{Conn, Puppet, reference_events, same_shape};
use common::{fixture, plugin};
use serde_json::{Value, json};
use tokio::sync::broadcast;

fn config_text() -> String {
    format!(
        r#"
[guardrails]
debounce_text_length = 20

[models.default]
provider = "sim"

[models.untraced]
provider = "sim"
tracing = false
defaults = {{ voice = "verse", output_modalities = ["text"] }}

[plugins.calc]
path = "{calc}"
[plugins.blocklist]
path = "{blocklist}"
[plugins.faulty]
path = "{faulty}"
sandbox = {{ timeout = "300ms" }}
# The same component with a long deadline: a call that is still running when the test looks.
[plugins.slowpoke]
path = "{faulty}"
sandbox = {{ timeout = "60s" }}

[agents.main]
instructions = "Main agent."
tools = ["calc.*", {{ use = "faulty.spin", as = "slow" }}, {{ use = "slowpoke.spin", as = "stall" }}, {{ use = "faulty.echo", approval = true }}]
guardrails = ["faulty.crash", "blocklist.blocklist", "blocklist.blocklist"]
input_guardrails = ["blocklist.blocklist"]
tool_guardrails = ["blocklist.no_secrets"]
handoffs = ["billing", {{ agent = "support", tool_name = "escalate", description = "Escalate to a person." }}, {{ agent = "hidden", enabled = false }}]
rejection_message = "Not allowed: {{tool}} ({{call_id}})"
[agents.main.approval]
rules = [{{ tool = "calc.multiply", action = "ask" }}, {{ tool = "calc.divide", action = "deny" }}]

[agents.sync]
model = "untraced"
instructions = "Synchronous."
tools = [{{ use = "faulty.spin", as = "slow" }}, "calc.add"]
async_tool_calls = false

[agents.asker]
tools = ["faulty.echo"]
tool_guardrails = [{{ use = "blocklist.no_secrets", before_approval = true }}]
[agents.asker.approval]
default = "ask"

[agents.impatient]
tools = ["faulty.echo"]
[agents.impatient.approval]
default = "ask"
timeout = "100ms"

[agents.billing]
instructions = "Billing."
handoff_description = "Invoices and payments."
tools = [{{ use = "calc.add", as = "add" }}]

[agents.support]
instructions = "Support."

[agents.hidden]
instructions = "Hidden."
"#,
        calc = plugin("calc").display(),
        blocklist = plugin("blocklist").display(),
        faulty = fixture("faulty").display(),
    )
}

/// One catalog for every test: plugins compile once per test binary.
fn catalog() -> Arc<Catalog> {
    static CATALOG: OnceLock<Arc<Catalog>> = OnceLock::new();
    CATALOG
        .get_or_init(|| {
            std::thread::spawn(|| {
                let rt = tokio::runtime::Runtime::new().expect("runtime");
                rt.block_on(async {
                    // The host owns the epoch ticker; it must outlive every test.
                    let host: &'static PluginHost =
                        Box::leak(Box::new(PluginHost::new().expect("host")));
                    let config =
                        Config::parse(std::path::Path::new("/test/agents.toml"), &config_text())
                            .unwrap_or_else(|e| panic!("{e}"));
                    Arc::new(
                        Catalog::build(config, host)
                            .await
                            .unwrap_or_else(|e| panic!("{e}")),
                    )
                })
            })
            .join()
            .expect("catalog thread")
        })
        .clone()
}

/// A person deciding through the control socket, as root.
fn operator() -> agentd::session::Identity {
    agentd::session::Identity::Uid {
        uid: 0,
        name: Some("root".into()),
    }
}

struct H {
    s: SessionHandle,
    m: Conn,
    /// The model's listener, for reconnects.
    p: Puppet,
    rx: broadcast::Receiver<Arc<Logged>>,
    seen: Vec<Value>,
    backlog: Vec<Value>,
}

impl H {
    async fn new(agent: &str) -> H {
        H::with(agent, SettingsOverlay::default()).await
    }

    async fn with(agent: &str, overrides: SettingsOverlay) -> H {
        H::build(agent, overrides, Resilience::default()).await
    }

    async fn build(agent: &str, overrides: SettingsOverlay, resilience: Resilience) -> H {
        let journal = Journal::in_memory().expect("journal");
        H::build_on(agent, overrides, resilience, journal).await
    }

    async fn build_on(
        agent: &str,
        overrides: SettingsOverlay,
        resilience: Resilience,
        journal: Journal,
    ) -> H {
        let mut puppet = Puppet::start().await;
        let endpoint = Endpoint {
            url: puppet.url(),
            api_key: None,
            headers: Vec::new(),
            tracing: Some(json!("auto")),
            resilience,
            ca_file: None,
            media: Default::default(),
        };
        let options = session::SessionOptions {
            endpoint,
            overrides,
            journal,
            notices: None,
            call: None,
            call_hooks: None,
            events: Default::default(),
        };
        let (s, m) = tokio::join!(
            // No supervisor here: the catalog never changes.
            session::start(
                "t",
                tokio::sync::watch::channel(catalog()).1,
                agent,
                options
            ),
            puppet.accept()
        );
        let s = s.unwrap_or_else(|e| panic!("{e}"));
        let (backlog, rx) = s.bus.subscribe(0);
        let backlog = backlog
            .memory
            .iter()
            .map(|e| serde_json::from_slice(e.line().expect("a line")).unwrap())
            .collect();
        H {
            s,
            m,
            p: puppet,
            rx,
            seen: Vec::new(),
            backlog,
        }
    }

    /// The next session event of type `kind` (earlier ones are kept in `seen`).
    async fn next(&mut self, kind: &str) -> Value {
        loop {
            let ev = if self.backlog.is_empty() {
                let env = tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
                    .await
                    .unwrap_or_else(|_| {
                        panic!("no {kind} event within 10 s; saw {:#?}", self.kinds())
                    })
                    .expect("event bus");
                serde_json::from_slice(env.line().expect("a line")).unwrap()
            } else {
                self.backlog.remove(0)
            };
            self.seen.push(ev.clone());
            if ev["type"] == kind {
                return ev;
            }
        }
    }

    /// The first event of type `kind`, already seen or still to come.
    async fn find(&mut self, kind: &str) -> Value {
        match self.seen.iter().find(|e| e["type"] == kind) {
            Some(e) => e.clone(),
            None => self.next(kind).await,
        }
    }

    /// Types of the events seen so far, raw model events left out.
    fn kinds(&self) -> Vec<String> {
        self.seen
            .iter()
            .filter(|e| e["type"] != "raw_model_event")
            .map(|e| e["type"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

fn created(resp: &str) -> Value {
    json!({"type": "response.created", "response": {"id": resp, "object": "realtime.response", "status": "in_progress", "output": []}})
}

fn done(resp: &str, total: u64) -> Value {
    json!({"type": "response.done", "response": {"id": resp, "status": "completed", "output": [],
           "usage": {"total_tokens": total, "input_tokens": total / 2, "output_tokens": total - total / 2}}})
}

fn call(resp: &str, call_id: &str, name: &str, args: &str) -> Vec<Value> {
    let item = |status: &str, a: &str| json!({"id": format!("fc_{call_id}"), "type": "function_call", "status": status, "name": name, "call_id": call_id, "arguments": a});
    vec![
        json!({"type": "response.output_item.added", "response_id": resp, "output_index": 0, "item": item("in_progress", "")}),
        json!({"type": "response.function_call_arguments.done", "response_id": resp, "item_id": format!("fc_{call_id}"), "output_index": 0, "call_id": call_id, "name": name, "arguments": args}),
        json!({"type": "response.output_item.done", "response_id": resp, "output_index": 0, "item": item("completed", args)}),
    ]
}

fn transcript(resp: &str, item: &str, delta: &str) -> Value {
    json!({"type": "response.output_audio_transcript.delta", "response_id": resp, "item_id": item, "output_index": 0, "content_index": 0, "delta": delta})
}

fn audio(resp: &str, item: &str) -> Value {
    // 4,800 bytes of PCM16 = 100 ms at 24 kHz.
    let b64 = "AAAA".repeat(1600);
    json!({"type": "response.output_audio.delta", "response_id": resp, "item_id": item, "output_index": 0, "content_index": 0, "delta": b64})
}

fn message(id: &str, role: &str, content: Value, previous: Option<&str>) -> Value {
    json!({"type": "conversation.item.added", "previous_item_id": previous,
           "item": {"id": id, "type": "message", "role": role, "status": "completed", "content": content}})
}

/// A function_call_output client event for `call_id`.
fn output_of(ev: &Value) -> (&str, &str) {
    assert_eq!(ev["type"], "conversation.item.create", "{ev}");
    assert_eq!(ev["item"]["type"], "function_call_output", "{ev}");
    (
        ev["item"]["call_id"].as_str().unwrap(),
        ev["item"]["output"].as_str().unwrap(),
    )
}

fn tool_names(update: &Value) -> Vec<String> {
    update["session"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

// 1. Settings merge ------------------------------------------------------------

#[tokio::test]
async fn initial_settings_come_from_the_agent_with_handoffs_as_tools() {
    let mut h = H::new("main").await;
    let update = h.m.expect("session.update").await;
    let s = &update["session"];
    assert_eq!(s["type"], "realtime");
    assert_eq!(s["instructions"], "Main agent.");
    assert_eq!(s["output_modalities"], json!(["audio"]));
    assert_eq!(s["audio"]["output"]["voice"], "ash");
    assert_eq!(
        s["audio"]["input"]["format"],
        json!({"type": "audio/pcm", "rate": 24000})
    );
    assert_eq!(
        tool_names(&update),
        [
            "calc_add",
            "calc_multiply",
            "calc_divide",
            "slow",
            "stall",
            "faulty_echo",
            "transfer_to_billing",
            "escalate"
        ],
        "tools in list order, then enabled handoffs (hidden is disabled)"
    );
    let tools = s["tools"].as_array().unwrap();
    assert_eq!(tools[0]["parameters"]["properties"]["a"]["type"], "number");
    assert_eq!(
        tools[6]["description"],
        "Handoff to the billing agent to handle the request. Invoices and payments."
    );
    assert_eq!(tools[7]["description"], "Escalate to a person.");
    assert_eq!(
        tools[7]["parameters"],
        json!({"additionalProperties": false, "type": "object", "properties": {}, "required": []})
    );
    // Same shape as the reference's first session.update (values aside).
    if let Some(reference) = reference_events("handoff") {
        let mut keys: Vec<&String> = s.as_object().unwrap().keys().collect();
        let mut want: Vec<&String> = reference[0]["session"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        keys.sort();
        want.sort();
        assert_eq!(keys, want);
    }
    // Tracing comes in its own update once the session exists, as the reference sends it.
    h.m.send(json!({"type": "session.created", "session": {"type": "realtime", "model": "gpt-realtime"}}))
        .await;
    let tracing = h.m.expect("session.update").await;
    assert_eq!(tracing["session"]["tracing"], "auto", "{tracing}");
}

#[tokio::test]
async fn model_defaults_then_agent_then_session_overrides_and_tracing_off() {
    // `sync` runs on a model with defaults and tracing = false.
    let mut h = H::new("sync").await;
    let s = h.m.expect("session.update").await["session"].clone();
    assert_eq!(s["audio"]["output"]["voice"], "verse");
    assert_eq!(s["output_modalities"], json!(["text"]));
    // tracing = false: no tracing update after session.created; the next message is the user's.
    h.m.send(json!({"type": "session.created", "session": {"type": "realtime"}}))
        .await;
    h.s.send_text("hi".into()).await.unwrap();
    h.m.expect("conversation.item.create").await;

    let overrides = SettingsOverlay {
        instructions: Some("Overridden.".into()),
        voice: Some("coral".into()),
        output_modalities: Some(vec![Modality::Text]),
    };
    let mut h = H::with("main", overrides).await;
    let s = h.m.expect("session.update").await["session"].clone();
    assert_eq!(
        s["instructions"], "Overridden.",
        "explicit overrides win at connect"
    );
    assert_eq!(s["audio"]["output"]["voice"], "coral");
    assert_eq!(s["output_modalities"], json!(["text"]));
    // After a handoff the new agent's instructions win; the rest of the override stays.
    h.m.send(created("r1")).await;
    h.m.send_all(call("r1", "c1", "transfer_to_billing", "{}"))
        .await;
    let s = h.m.expect("session.update").await["session"].clone();
    assert_eq!(s["instructions"], "Billing.");
    assert_eq!(s["audio"]["output"]["voice"], "coral");
}

// 2. Events ---------------------------------------------------------------------

#[tokio::test]
async fn every_model_event_is_raw_first_then_typed() {
    let mut h = H::new("main").await;
    h.m.expect("session.update").await;
    h.m.send_all([
        created("r1"),
        audio("r1", "m1"),
        transcript("r1", "m1", "Hi"),
        json!({"type": "response.output_audio.done", "response_id": "r1", "item_id": "m1", "output_index": 0, "content_index": 0}),
        json!({"type": "input_audio_buffer.timeout_triggered", "audio_start_ms": 0, "audio_end_ms": 10, "item_id": "u9"}),
        json!({"type": "error", "error": {"type": "invalid_request_error", "code": "bad_thing", "message": "It broke."}}),
        json!({"type": "some.future_event", "x": 1}),
        done("r1", 10),
    ])
    .await;
    let end = h.next("agent_end").await;
    assert_eq!(end["agent"], "main");
    assert_eq!(
        h.kinds(),
        [
            // The reference's first event: the empty history, once connected.
            "history_updated",
            "connection_status",
            "agent_start",
            "audio",
            "history_added",
            "transcript_delta",
            "audio_end",
            "input_audio_timeout_triggered",
            "error",
            "agent_end"
        ]
    );
    // Each typed event directly follows the raw event it came from.
    let raw_types: Vec<&str> = h
        .seen
        .iter()
        .filter(|e| e["type"] == "raw_model_event")
        .map(|e| e["data"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        raw_types,
        [
            "response.created",
            "response.output_audio.delta",
            "response.output_audio_transcript.delta",
            "response.output_audio.done",
            "input_audio_buffer.timeout_triggered",
            "error",
            "some.future_event",
            "response.done"
        ]
    );
    assert_eq!(
        (
            h.seen[0]["seq"].as_u64(),
            &h.seen[0]["item"],
            &h.seen[0]["history_len"]
        ),
        (Some(1), &Value::Null, &json!(0))
    );
    let err = h.seen.iter().find(|e| e["type"] == "error").unwrap();
    assert_eq!(err["code"], "bad_thing");
    assert_eq!(err["message"], "It broke.");
    let a = h.seen.iter().find(|e| e["type"] == "audio").unwrap();
    assert_eq!(
        (a["item_id"].as_str(), a["response_id"].as_str()),
        (Some("m1"), Some("r1"))
    );
    let t = h
        .seen
        .iter()
        .find(|e| e["type"] == "transcript_delta")
        .unwrap();
    assert_eq!(t["delta"], "Hi");
    // Sequence numbers have no gaps.
    let seqs: Vec<u64> = h.seen.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
}

// 3. Inputs ---------------------------------------------------------------------

#[tokio::test]
async fn inputs_reach_the_model_as_the_reference_sends_them() {
    let mut h = H::new("main").await;
    h.m.expect("session.update").await;

    h.s.send_text("start".into()).await.unwrap();
    let create = h.m.expect("conversation.item.create").await;
    let rc = h.m.expect("response.create").await;
    if let Some(reference) = reference_events("tool_calls") {
        assert!(
            same_shape(&create, &reference[1]),
            "{create} vs {}",
            reference[1]
        );
        assert!(same_shape(&rc, &reference[3]), "{rc} vs {}", reference[3]);
    }

    // While a response is in progress, a new message waits for its response.done.
    h.m.send(created("r1")).await;
    h.next("agent_start").await;
    h.s.send_input(vec![
        agentd::realtime::protocol::ContentPart::InputText {
            text: Some("look".into()),
        },
        agentd::realtime::protocol::ContentPart::InputImage {
            image_url: Some("data:image/png;base64,AAAA".into()),
        },
    ])
    .await
    .unwrap();
    let create = h.m.expect("conversation.item.create").await;
    assert_eq!(
        create["item"]["content"],
        json!([{"type": "input_text", "text": "look"}, {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}])
    );
    // An explicit interrupt cancels the response in progress.
    h.s.interrupt().await.unwrap();
    let cancel = h.m.expect("response.cancel").await;
    assert_eq!(cancel["response_id"], "r1");
    h.m.send(done("r1", 0)).await;
    h.m.expect("response.create").await;

    h.s.send_audio("AAAA".into(), false).await.unwrap();
    h.s.send_audio("BBBB".into(), true).await.unwrap();
    assert_eq!(
        h.m.expect("input_audio_buffer.append").await["audio"],
        "AAAA"
    );
    assert_eq!(
        h.m.expect("input_audio_buffer.append").await["audio"],
        "BBBB"
    );
    h.m.expect("input_audio_buffer.commit").await;

    // Changing the agent of a live session sends its settings.
    h.s.set_agent("billing").await.unwrap();
    let update = h.m.expect("session.update").await;
    assert_eq!(update["session"]["instructions"], "Billing.");
    assert_eq!(tool_names(&update), ["add"]);
    assert!(
        h.s.set_agent("nobody")
            .await
            .unwrap_err()
            .to_string()
            .contains("no agent named `nobody`")
    );
}

// 4. Tool calls -------------------------------------------------------------------

#[tokio::test]
async fn async_tool_calls_do_not_block_the_model_stream() {
    let mut h = H::new("main").await;
    h.m.expect("session.update").await;
    h.m.send(created("r1")).await;
    // `stall` spins for up to a minute; meanwhile the model keeps talking.
    h.m.send_all(call("r1", "c1", "stall", "{}")).await;
    h.m.send(transcript("r1", "m1", "still here")).await;
    h.m.send(done("r1", 1)).await;
    h.next("agent_end").await;
    let start = h.find("tool_start").await;
    assert_eq!(start["tool"], "slowpoke.spin");
    assert!(h.kinds().contains(&"transcript_delta".to_string()));
    assert!(
        !h.kinds().contains(&"tool_end".to_string()),
        "the stream went on while the tool ran: {:?}",
        h.kinds()
    );
    assert_eq!(h.s.status().await.unwrap().running_tools, 1);
    h.s.close().await.unwrap();

    // A failing tool's error goes back as its output, with a request for the next response.
    let mut h = H::new("main").await;
    h.m.expect("session.update").await;
    h.m.send_all(call("r1", "c1", "slow", "{}")).await;
    let end = h.next("tool_end").await;
    assert_eq!(end["outcome"], "failed");
    assert_eq!(
        end["output"],
        "error: tool `faulty.spin` failed: the call took longer than its 300ms limit and was stopped"
    );
    let ev = h.m.expect("conversation.item.create").await;
    assert_eq!(output_of(&ev), ("c1", end["output"].as_str().unwrap()));
    h.m.expect("response.create").await;
}

#[tokio::test]
async fn sync_tool_calls_finish_before_later_events_are_handled() {
    let mut h = H::new("sync").await;
    h.m.expect("session.update").await;
    h.m.send(created("r1")).await;
    h.m.send_all(call("r1", "c1", "slow", "{}")).await;
    h.m.send(transcript("r1", "m1", "after")).await;
    h.next("transcript_delta").await;
    let kinds = h.kinds();
    let pos = |k: &str| kinds.iter().position(|x| x == k).unwrap();
    assert!(pos("tool_end") < pos("transcript_delta"), "{kinds:?}");
}

#[tokio::test]
async fn tool_output_is_sent_once_even_when_both_done_events_arrive() {
    let mut h = H::new("main").await;
    h.m.expect("session.update").await;
    h.m.send(created("r1")).await;
    h.m.send_all(call("r1", "c1", "calc_add", r#"{"a":1,"b":2}"#))
        .await;
    h.m.send(done("r1", 1)).await;
    let ev = h.m.expect("conversation.item.create").await;
    assert_eq!(output_of(&ev), ("c1", "3"));
    h.m.expect("response.create").await;
    let end = h.next("tool_end").await;
    assert_eq!(
        (
            end["tool"].as_str(),
            end["arguments"].as_str(),
            end["output"].as_str()
        ),
        (Some("calc.add"), Some(r#"{"a":1,"b":2}"#), Some("3"))
    );
    // A second call proves nothing else was queued for c1.
    h.m.send(created("r2")).await;
    h.m.send_all(call("r2", "c2", "calc_add", r#"{"a":2,"b":2}"#))
        .await;
    let ev = h.m.expect("conversation.item.create").await;
    assert_eq!(output_of(&ev), ("c2", "4"));
    assert_eq!(h.s.status().await.unwrap().history_len, 0);
}

/// `response.function_call_arguments.done` alone, as some servers send it.
fn args_done(resp: &str, call_id: &str, name: &str, args: &str) -> Value {
    json!({"type": "response.function_call_arguments.done", "response_id": resp, "item_id": format!("fc_{call_id}"),
           "output_index": 0, "call_id": call_id, "name": name, "arguments": args})
}

#[tokio::test]
async fn a_call_announced_only_by_arguments_done_runs_once() {
    // The reference ignores this event and never runs the tool (observation 1).
    let mut h = H::new("main").await;
    h.m.expect("session.update").await;
    h.m.send(created("r1")).await;
    h.m.send(args_done("r1", "c1", "calc_add", r#"{"a":1,"b":2}"#))
        .await;
    let ev = h.m.expect("conversation.item.create").await;
    assert_eq!(output_of(&ev), ("c1", "3"));
    h.m.send(done("r1", 1)).await;
    h.m.expect("response.create").await;
    let end = h.next("tool_end").await;
    assert_eq!(end["call_id"], "c1");
    // A repeated arguments.done (a replayed or buggy server) does not run it again:
    // the next client event is the output of the next call.
    h.m.send(created("r2")).await;
    h.m.send(args_done("r2", "c1", "calc_add", r#"{"a":1,"b":2}"#))
        .await;
    h.m.send(args_done("r2", "c2", "calc_add", r#"{"a":2,"b":2}"#))
        .await;
    let ev = h.m.expect("conversation.item.create").await;
    assert_eq!(output_of(&ev), ("c2", "4"));
    h.next("tool_end").await;
    let starts = h.kinds().iter().filter(|k| *k == "tool_start").count();
    assert_eq!(starts, 2, "{:?}", h.kinds());
}

#[tokio::test]
async fn a_call_is_dispatched_once_when_output_item_done_comes_first() {
    let mut h = H::new("main").await;
    h.m.expect("session.update").await;
    h.m.send(created("r1")).await;
    let [added, args, item_done]: [Value; 3] = call("r1", "c1", "calc_add", r#"{"a":1,"b":2}"#)
        .try_into()
        .unwrap();
    h.m.send_all([added, item_done, args]).await;
    h.m.send_all(call("r1", "c2", "calc_add", r#"{"a":5,"b":5}"#))
        .await;
    let first = h.m.expect("conversation.item.create").await;
    let second = h.m.expect("conversation.item.create").await;
    let mut outputs = [output_of(&first), output_of(&second)];
    outputs.sort();
    // Tool calls run concurrently, so the two outputs may come in either order; c1 comes once.
    assert_eq!(outputs, [("c1", "3"), ("c2", "10")]);
    h.next("tool_end").await;
    h.next("tool_end").await;
    let starts: Vec<&str> = h
        .seen
        .iter()
        .filter(|e| e["type"] == "tool_start")
        .filter_map(|e| e["call_id"].as_str())
        .collect();
    assert_eq!(starts.len(), 2, "{starts:?}");
}

#[tokio::test]
async fn response_create_waits_for_the_response_in_progress_and_collapses() {
    let mut h = H::new("main").await;
    h.m.expect("session.update").await;
    h.m.send(created("r1")).await;
    h.next("agent_start").await;
    // Three requests for a response while r1 is still running.
    for text in ["one", "two", "three"] {
        h.s.send_text(text.into()).await.unwrap();
        let ev = h.m.expect("conversation.item.create").await;
        assert_eq!(ev["item"]["content"][0]["text"], text);
    }
    h.m.send(done("r1", 1)).await;
    let create = h.m.expect("response.create").await;
    assert!(
        create["event_id"]
            .as_str()
            .unwrap()
            .starts_with("agentd_response_create_"),
        "{create}"
    );
    // The one request covers all three: the next response cycle asks for nothing more,
    // and the next client event is the next user message.
    h.m.send_all([created("r2"), done("r2", 1)]).await;
    h.next("agent_end").await;
    h.next("agent_end").await;
    h.s.send_text("four".into()).await.unwrap();
    let ev = h.m.recv().await;
    assert_eq!(
        (
            ev["type"].as_str(),
            ev["item"]["content"][0]["text"].as_str()
        ),
        (Some("conversation.item.create"), Some("four")),
        "a second response.create was sent: {:#?}",
        h.m.received
    );
    h.m.expect("response.create").await;
}

#[tokio::test]
async fn unknown_tool_is_an_error_naming_it_and_the_model_is_answered() {
    let mut h = H::new("main").await;
    h.m.expect("session.update").await;
    h.m.send(created("r1")).await;
    h.m.send_all(call("r1", "c1", "launch_rockets", "{}")).await;
    let err = h.next("error").await;
    assert_eq!(err["message"], "Tool launch_rockets not found");
    let ev = h.m.expect("conversation.item.create").await;
    assert_eq!(
        output_of(&ev),
        ("c1", "error: there is no tool named `launch_rockets`")
    );
}

// 5. Approvals --------------------------------------------------------------------

#[tokio::test]
async fn approval_always_applies_both_ways_with_the_configured_message() {
    let mut h = H::new("main").await;
    h.m.expect("session.update").await;
    h.m.send(created("r1")).await;
    h.m.send_all(call("r1", "c1", "calc_multiply", r#"{"a":2,"b":3}"#))
        .await;
    h.m.send(done("r1", 1)).await;
    let ask = h.next("tool_approval_required").await;
    assert_eq!(
        (
            ask["tool"].as_str(),
            ask["call_id"].as_str(),
            ask["arguments"].as_str()
        ),
        (Some("calc.multiply"), Some("c1"), Some(r#"{"a":2,"b":3}"#))
    );
    let status = h.s.status().await.unwrap();
    assert_eq!(status.pending_approvals.len(), 1);
    assert_eq!(status.pending_approvals[0].call_id, "c1");

    // Unknown call ids are an error to the caller, not silence.
    let err =
        h.s.decide("c404", true, false, operator())
            .await
            .unwrap_err();
    assert_eq!(
        err.to_string(),
        "session `t` has no pending tool call `c404`"
    );

    h.s.decide("c1", false, true, operator()).await.unwrap();
    let ev = h.m.expect("conversation.item.create").await;
    assert_eq!(output_of(&ev), ("c1", "Not allowed: calc.multiply (c1)"));
    h.m.expect("response.create").await;
    let end = h.next("tool_end").await;
    assert_eq!(end["outcome"], "rejected");

    // `always` rejection: the next call is refused without asking.
    h.m.send(created("r2")).await;
    h.m.send_all(call("r2", "c2", "calc_multiply", r#"{"a":1,"b":1}"#))
        .await;
    let ev = h.m.expect("conversation.item.create").await;
    assert_eq!(output_of(&ev), ("c2", "Not allowed: calc.multiply (c2)"));
    h.m.send(done("r2", 1)).await;
    h.m.expect("response.create").await;

    // A deny rule refuses at once; a per-tool `approval = true` asks.
    h.m.send(created("r3")).await;
    h.m.send_all(call("r3", "c3", "calc_divide", r#"{"a":1,"b":1}"#))
        .await;
    let ev = h.m.expect("conversation.item.create").await;
    assert_eq!(output_of(&ev), ("c3", "Not allowed: calc.divide (c3)"));
    h.m.send_all(call("r3", "c4", "faulty_echo", r#"{"text":"hi"}"#))
        .await;
    let ask = h.next("tool_approval_required").await;
    assert_eq!(ask["call_id"], "c4");
    h.s.decide("c4", true, true, operator()).await.unwrap();
    let ev = h.m.expect("conversation.item.create").await;
    assert_eq!(output_of(&ev), ("c4", "hi"));
    h.m.send(done("r3", 1)).await;
    h.m.expect("response.create").await;
    // `always` approval: no second question.
    h.m.send(created("r4")).await;
    h.m.send_all(call("r4", "c5", "faulty_echo", r#"{"text":"again"}"#))
        .await;
    let ev = h.m.expect("conversation.item.create").await;
    assert_eq!(output_of(&ev), ("c5", "again"));
    let asks = h
        .seen
        .iter()
        .filter(|e| e["type"] == "tool_approval_required")
        .count();
    assert_eq!(asks, 2);
}

#[tokio::test]
async fn an_unanswered_approval_is_rejected_after_the_timeout() {
    let mut h = H::new("impatient").await;
    h.m.expect("session.update").await;
    h.m.send_all(call("r1", "c1", "faulty_echo", r#"{"text":"x"}"#))
        .await;
    let ask = h.next("tool_approval_required").await;
    assert_eq!(ask["call_id"], "c1");
    let status = h.s.status().await.unwrap();
    assert!(status.pending_approvals[0].expires_ms.is_some());
    let ev = h.m.expect("conversation.item.create").await;
    assert_eq!(output_of(&ev), ("c1", "Tool execution was not approved."));
    let end = h.next("tool_end").await;
    assert_eq!(end["outcome"], "rejected");
    assert!(h.s.status().await.unwrap().pending_approvals.is_empty());
}

#[tokio::test]
async fn approval_messages_match_the_reference_capture() {
    let Some(reference) = reference_events("approval") else {
        return; // shared/ is not beside this checkout
    };
    let mut h = H::new("asker").await;
    h.m.expect("session.update").await;
    h.s.send_text("start".into()).await.unwrap();
    h.m.expect("conversation.item.create").await;
    h.m.expect("response.create").await;
    h.m.send(created("r1")).await;
    h.m.send_all(call("r1", "call_0", "faulty_echo", r#"{"text":"1"}"#))
        .await;
    h.m.send(done("r1", 1)).await;
    h.next("tool_approval_required").await;
    h.s.decide("call_0", true, false, operator()).await.unwrap();
    let approved = h.m.expect("conversation.item.create").await;
    let rc = h.m.expect("response.create").await;
    h.m.send(created("r2")).await;
    h.m.send_all(call("r2", "call_1", "faulty_echo", r#"{"text":"2"}"#))
        .await;
    h.m.send(done("r2", 1)).await;
    h.next("tool_approval_required").await;
    h.s.decide("call_1", false, false, operator())
        .await
        .unwrap();
    let rejected = h.m.expect("conversation.item.create").await;
    // Reference lines: 4 = approved output "1", 5 = response.create, 6 = rejection.
    assert!(
        same_shape(&approved, &reference[4]),
        "{approved} vs {}",
        reference[4]
    );
    assert!(same_shape(&rc, &reference[5]), "{rc} vs {}", reference[5]);
    assert!(
        same_shape(&rejected, &reference[6]),
        "{rejected} vs {}",
        reference[6]
    );
    assert_eq!(
        rejected["item"]["output"],
        "Tool execution was not approved."
    );
}

// 6. Output guardrails ------------------------------------------------------------

#[tokio::test]
async fn output_guardrail_trips_once_per_response_like_the_reference() {
    let mut h = H::new("main").await;
    h.m.expect("session.update").await;
    h.m.send(created("r1")).await;
    h.m.send(audio("r1", "m1")).await;
    // 20 characters reach the debounce threshold; the guardrail is listed twice but runs once.
    for d in [
        "this is ",
        "forbidden ",
        "text ",
        "and more forbidden text",
        "and even more text here",
    ] {
        h.m.send(transcript("r1", "m1", d)).await;
    }
    let tripped = h.next("guardrail_tripped").await;
    assert_eq!(tripped["direction"], "output");
    // faulty.crash traps on every check: logged and skipped, the others still decide.
    assert_eq!(tripped["guardrails"], json!(["blocklist.blocklist"]));
    assert!(
        tripped["message"]
            .as_str()
            .unwrap()
            .starts_with("this is forbidden ")
    );
    let truncate = h.m.expect("conversation.item.truncate").await;
    assert_eq!(
        (
            truncate["item_id"].as_str(),
            truncate["audio_end_ms"].as_u64()
        ),
        (Some("m1"), Some(100)),
        "audio_end_ms is the audio delivered (100 ms), not wall-clock time"
    );
    let cancel = h.m.expect("response.cancel").await;
    assert_eq!(cancel["response_id"], "r1");
    let interrupted = h.find("audio_interrupted").await;
    assert_eq!(interrupted["item_id"], "m1");
    let notice = h.m.expect("conversation.item.create").await;
    assert_eq!(
        notice["item"]["content"][0]["text"],
        "guardrail triggered: blocklist.blocklist"
    );
    if let Some(reference) = reference_events("guardrail") {
        assert!(
            same_shape(&truncate, &reference[4]),
            "{truncate} vs {}",
            reference[4]
        );
        assert!(
            same_shape(&cancel, &reference[5]),
            "{cancel} vs {}",
            reference[5]
        );
        let mut theirs = reference[6].clone();
        theirs["item"]["content"][0]["text"] = json!("guardrail triggered: blocklist.blocklist");
        assert!(same_shape(&notice, &theirs), "{notice} vs {theirs}");
    }
    h.m.send(done("r1", 1)).await;
    h.m.expect("response.create").await;
    h.next("agent_end").await;
    let trips = h
        .seen
        .iter()
        .filter(|e| e["type"] == "guardrail_tripped")
        .count();
    assert_eq!(
        trips, 1,
        "one trip per response, however many checks tripped"
    );

    // State resets at turn end: a new response trips again.
    h.m.send(created("r2")).await;
    h.m.send(transcript("r2", "m2", "forbidden again, long enough"))
        .await;
    let again = h.next("guardrail_tripped").await;
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .starts_with("forbidden again")
    );
}

// Barge-in ---------------------------------------------------------------------------

fn audio_done(resp: &str, item: &str) -> Value {
    json!({"type": "response.output_audio.done", "response_id": resp, "item_id": item, "output_index": 0, "content_index": 0})
}

#[tokio::test]
async fn interrupt_truncates_where_the_listener_stopped_and_drops_late_audio() {
    let mut h = H::new("main").await;
    h.m.expect("session.update").await;
    h.m.send(created("r1")).await;
    h.m.send_all([audio("r1", "m1"), audio("r1", "m1"), audio("r1", "m1")])
        .await;
    for _ in 0..3 {
        h.next("audio").await;
    }
    // 300 ms delivered; the attached client has played 120 ms of it.
    h.s.playback("m1".into(), 120).await.unwrap();
    h.s.interrupt().await.unwrap();
    let truncate = h.m.expect("conversation.item.truncate").await;
    assert_eq!(
        (
            truncate["item_id"].as_str(),
            truncate["audio_end_ms"].as_u64()
        ),
        (Some("m1"), Some(120))
    );
    assert_eq!(h.m.expect("response.cancel").await["response_id"], "r1");
    // The server had more on the wire before it saw the cancel.
    h.m.send_all([
        audio("r1", "m1"),
        audio("r1", "m1"),
        audio_done("r1", "m1"),
        transcript("r1", "m1", "still talking"),
        done("r1", 1),
    ])
    .await;
    h.next("agent_end").await;
    let after: Vec<String> = h
        .kinds()
        .into_iter()
        .skip_while(|k| k != "audio_interrupted")
        .collect();
    assert!(
        !after.iter().any(|k| k == "audio" || k == "audio_end"),
        "audio after the interrupt was delivered: {after:?}"
    );
    assert!(after.iter().any(|k| k == "transcript_delta"), "{after:?}");
    assert_eq!(
        h.kinds().iter().filter(|k| *k == "audio").count(),
        3,
        "all or nothing: the three deltas before the interrupt, none after"
    );
    assert_eq!(h.s.status().await.unwrap().dropped_audio_bytes, 2 * 4800);

    // The next response plays normally; a report beyond what was delivered is capped.
    h.m.send_all([created("r2"), audio("r2", "m2")]).await;
    let delivered = h.next("audio").await;
    assert_eq!(delivered["response_id"], "r2");
    h.s.playback("m2".into(), 5_000).await.unwrap();
    h.s.interrupt().await.unwrap();
    let truncate = h.m.expect("conversation.item.truncate").await;
    assert_eq!(truncate["audio_end_ms"], 100);
}

#[tokio::test]
async fn barge_in_after_the_response_ended_truncates_what_was_not_heard() {
    let mut h = H::new("main").await;
    h.m.expect("session.update").await;
    // The server sent a whole reply faster than it plays.
    h.m.send(created("r1")).await;
    h.m.send_all([
        audio("r1", "m1"),
        audio("r1", "m1"),
        audio_done("r1", "m1"),
        done("r1", 1),
    ])
    .await;
    h.next("agent_end").await;
    h.s.playback("m1".into(), 150).await.unwrap();
    // The user starts speaking; the server's turn detection says so.
    h.m.send(json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": 900, "item_id": "u2"}))
        .await;
    let truncate = h.m.expect("conversation.item.truncate").await;
    assert_eq!(
        (
            truncate["item_id"].as_str(),
            truncate["audio_end_ms"].as_u64()
        ),
        (Some("m1"), Some(150))
    );
    assert_eq!(h.next("audio_interrupted").await["item_id"], "m1");

    // Fully played (or never reported): nothing to truncate, so the next
    // client event is the next message.
    h.m.send_all([
        created("r2"),
        audio("r2", "m2"),
        audio_done("r2", "m2"),
        done("r2", 1),
    ])
    .await;
    h.next("agent_end").await;
    h.s.playback("m2".into(), 100).await.unwrap();
    h.s.interrupt().await.unwrap();
    h.s.send_text("next".into()).await.unwrap();
    let ev = h.m.recv().await;
    assert_eq!(
        ev["type"], "conversation.item.create",
        "{:#?}",
        h.m.received
    );
}

// 7. Handoffs ---------------------------------------------------------------------

#[tokio::test]
async fn handoff_sends_settings_then_the_transfer_like_the_reference() {
    let mut h = H::new("main").await;
    h.m.expect("session.update").await;
    h.m.send(created("r1")).await;
    h.m.send_all(call("r1", "call_h1", "transfer_to_billing", "{}"))
        .await;
    let handoff = h.next("handoff").await;
    assert_eq!(
        (handoff["from"].as_str(), handoff["to"].as_str()),
        (Some("main"), Some("billing"))
    );
    let update = h.m.expect("session.update").await;
    assert_eq!(update["session"]["instructions"], "Billing.");
    assert_eq!(tool_names(&update), ["add"]);
    let transfer = h.m.expect("conversation.item.create").await;
    assert_eq!(
        output_of(&transfer),
        ("call_h1", r#"{"assistant": "billing"}"#)
    );
    h.m.send(done("r1", 1)).await;
    let rc = h.m.expect("response.create").await;
    if let Some(reference) = reference_events("handoff") {
        // Reference: 4 = session.update for the new agent, 5 = transfer output, 6 = response.create.
        let mut theirs = reference[5].clone();
        theirs["item"]["output"] = json!(r#"{"assistant": "billing"}"#);
        assert!(same_shape(&transfer, &theirs), "{transfer} vs {theirs}");
        assert!(same_shape(&rc, &reference[6]));
        assert_eq!(reference[4]["type"], "session.update");
    }
    // Later turns belong to the new agent, and its tools work.
    h.m.send(created("r2")).await;
    assert_eq!(h.next("agent_start").await["agent"], "billing");
    h.m.send_all(call("r2", "c2", "add", r#"{"a":40,"b":2}"#))
        .await;
    let ev = h.m.expect("conversation.item.create").await;
    assert_eq!(output_of(&ev), ("c2", "42"));
    // A renamed handoff works by its name.
    let mut h = H::new("main").await;
    h.m.expect("session.update").await;
    h.m.send_all(call("r1", "c1", "escalate", "{}")).await;
    assert_eq!(h.next("handoff").await["to"], "support");
}

// 8. History ----------------------------------------------------------------------

#[tokio::test]
async fn history_follows_the_merge_rules_and_reports_each_change() {
    let mut h = H::new("main").await;
    h.m.expect("session.update").await;
    h.m.send(message(
        "u1",
        "user",
        json!([{"type": "input_audio", "transcript": null}]),
        None,
    ))
    .await;
    let added = h.next("history_added").await;
    assert_eq!(
        (added["item"]["id"].as_str(), added["history_len"].as_u64()),
        (Some("u1"), Some(1))
    );
    h.m.send(message(
        "a1",
        "assistant",
        json!([{"type": "output_audio", "transcript": "hello"}]),
        Some("u1"),
    ))
    .await;
    h.next("history_added").await;
    // Inserted after its previous item, not appended.
    h.m.send(message(
        "u0",
        "user",
        json!([{"type": "input_text", "text": "first"}]),
        Some("u1"),
    ))
    .await;
    h.next("history_added").await;
    // A transcript arrives for u1: attached to the existing item.
    h.m.send(json!({"type": "conversation.item.input_audio_transcription.completed", "item_id": "u1", "content_index": 0, "transcript": "hi there"})).await;
    let updated = h.next("history_updated").await;
    assert_eq!(updated["item"]["content"][0]["transcript"], "hi there");
    // The client asks for the item back, as the reference does.
    let retrieve = h.m.expect("conversation.item.retrieve").await;
    assert_eq!(retrieve["item_id"], "u1");
    // A later copy without transcripts keeps them.
    h.m.send(json!({"type": "conversation.item.retrieved", "item": {"id": "a1", "type": "message", "role": "assistant", "content": [{"type": "output_audio", "transcript": null}]}})).await;
    let updated = h.next("history_updated").await;
    assert_eq!(updated["item"]["content"][0]["transcript"], "hello");
    // A transcript for an item the session never saw becomes a user text item.
    h.m.send(json!({"type": "conversation.item.input_audio_transcription.completed", "item_id": "u7", "content_index": 0, "transcript": "orphan"})).await;
    let added = h.next("history_added").await;
    assert_eq!(
        added["item"]["content"],
        json!([{"type": "input_text", "text": "orphan"}])
    );
    h.m.send(json!({"type": "conversation.item.deleted", "item_id": "u0"}))
        .await;
    let deleted = h.next("history_deleted").await;
    assert_eq!(deleted["history_len"], 3);
    let history = h.s.history().await.unwrap();
    let ids: Vec<&str> = history.iter().filter_map(|i| i.id()).collect();
    assert_eq!(ids, ["u1", "a1", "u7"]);
}

// 9. Errors and close ---------------------------------------------------------------

#[tokio::test]
async fn close_cancels_work_reports_pending_approvals_and_closes_the_model() {
    let mut h = H::new("main").await;
    h.m.expect("session.update").await;
    h.m.send(created("r1")).await;
    h.m.send_all(call("r1", "c1", "calc_multiply", r#"{"a":1,"b":2}"#))
        .await;
    h.next("tool_approval_required").await;
    h.m.send_all(call("r1", "c2", "stall", "{}")).await;
    h.next("tool_start").await;
    h.s.close().await.unwrap();
    let end = h.next("tool_end").await;
    assert_eq!(
        (end["call_id"].as_str(), end["outcome"].as_str()),
        (Some("c1"), Some("rejected"))
    );
    let closed = h.next("session_closed").await;
    assert_eq!(closed["reason"], "closed on request");
    h.m.closed().await;
    assert!(
        !h.m.received
            .iter()
            .any(|e| e["type"] == "conversation.item.create"),
        "the cancelled tool's output must not be sent: {:?}",
        h.m.received
    );
    assert!(
        !h.seen
            .iter()
            .any(|e| e["type"] == "tool_end" && e["call_id"] == "c2"),
        "the cancelled call is not reported as finished"
    );
    assert!(
        h.s.send_text("late".into())
            .await
            .unwrap_err()
            .to_string()
            .contains("has ended")
    );
}

#[tokio::test]
async fn a_lost_model_connection_ends_the_session_with_the_cause() {
    // Reconnecting is the client's job (tests/realtime.rs); with it turned off
    // a loss is final and must say why.
    let no_retry = Resilience {
        max_attempts: 0,
        ..Resilience::default()
    };
    let mut h = H::build("main", SettingsOverlay::default(), no_retry).await;
    h.m.expect("session.update").await;
    h.m.kill().await;
    let err = h.next("error").await;
    assert_eq!(err["code"], "model_reconnect_failed");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("Connection reset without closing handshake"),
        "{err}"
    );
    let closed = h.next("session_closed").await;
    assert!(
        closed["reason"].as_str().unwrap().contains("model"),
        "{closed}"
    );
}

#[tokio::test]
async fn the_session_gives_up_after_the_reconnect_limit() {
    let two_quick_tries = Resilience {
        max_attempts: 2,
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(20),
        ..Resilience::default()
    };
    let mut h = H::build("main", SettingsOverlay::default(), two_quick_tries).await;
    h.m.expect("session.update").await;
    h.p.stop_listening().await;
    h.m.kill().await;
    let first = h.next("connection_status").await;
    assert_eq!(first["status"], "connected");
    for attempt in [1, 2] {
        let ev = h.next("connection_status").await;
        assert_eq!(
            (ev["status"].as_str(), ev["attempt"].as_u64()),
            (Some("reconnecting"), Some(attempt)),
            "{ev}"
        );
    }
    let err = h.next("error").await;
    assert_eq!(err["code"], "model_reconnect_failed");
    let message = err["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "gave up reconnecting to the model after 2 attempts: cannot connect to ws://127.0.0.1:"
        ),
        "{message}"
    );
    let closed = h.next("session_closed").await;
    assert_eq!(closed["reason"], message);
    assert_eq!(
        h.kinds()
            .iter()
            .filter(|k| *k == "connection_status")
            .count(),
        3,
        "no third attempt: {:?}",
        h.kinds()
    );
    assert!(h.s.send_text("late".into()).await.is_err());
}

#[tokio::test]
async fn a_silent_model_is_taken_as_dead_and_replaced() {
    let fast_keepalive = Resilience {
        // Short, but with room for a busy machine: a healthy puppet must never look dead.
        ping_interval: Duration::from_millis(100),
        dead_after: Duration::from_secs(1),
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(20),
        ..Resilience::default()
    };
    let mut h = H::build("main", SettingsOverlay::default(), fast_keepalive).await;
    h.m.expect("session.update").await;
    // A peer that answers pings stays connected over several `dead_after` periods.
    h.m.pings(15).await;
    h.s.send_text("still there?".into()).await.unwrap();
    h.m.expect("conversation.item.create").await;
    h.m.expect("response.create").await;

    // Now it stops reading: no pongs, nothing. Keep the socket open so only silence tells.
    let reconnected = h.p.accept().await;
    let silent = std::mem::replace(&mut h.m, reconnected);
    let lost = h.next("connection_status").await;
    let lost = if lost["status"] == "connected" {
        h.next("connection_status").await
    } else {
        lost
    };
    assert_eq!(lost["status"], "reconnecting", "{lost}");
    assert!(
        lost["reason"].as_str().unwrap().contains("(dead peer)"),
        "{lost}"
    );
    assert_eq!(h.next("connection_status").await["status"], "connected");
    // The new connection gets the settings and the conversation back.
    h.m.expect("session.update").await;
    let replay = h.m.expect("conversation.item.create").await;
    assert_eq!(replay["item"]["content"][0]["text"], "still there?");
    drop(silent);
}

// 10. Tool guardrails ------------------------------------------------------------------

#[tokio::test]
async fn tool_guardrails_refuse_calls_with_their_reason() {
    let mut h = H::new("main").await;
    h.m.expect("session.update").await;
    h.m.send(created("r1")).await;
    // (A secret in an argument the tool's schema accepts: `calc.add` takes
    // only numbers, and arguments that do not match never get this far.)
    h.m.send_all(call(
        "r1",
        "c1",
        "faulty_echo",
        r#"{"text":"sk-abcdefghijklmnopqrstuvwxyz"}"#,
    ))
    .await;
    // `main` asks about echo; the guardrail judges the call before it runs.
    h.next("tool_approval_required").await;
    h.s.decide("c1", true, false, operator()).await.unwrap();
    let tripped = h.next("guardrail_tripped").await;
    assert_eq!(
        (
            tripped["direction"].as_str(),
            tripped["guardrails"][0].as_str()
        ),
        (Some("tool_call"), Some("blocklist.no_secrets"))
    );
    let ev = h.m.expect("conversation.item.create").await;
    let (_, out) = output_of(&ev);
    assert!(
        out.starts_with("Tool call blocked by guardrail blocklist.no_secrets: "),
        "{out}"
    );
    let end = h.next("tool_end").await;
    assert_eq!(end["outcome"], "rejected");
    assert!(
        !h.seen.iter().any(|e| e["type"] == "tool_start"),
        "a blocked call never starts"
    );

    // before_approval: nobody is asked about a call the guardrail refuses.
    let mut h = H::new("asker").await;
    h.m.expect("session.update").await;
    h.m.send_all(call(
        "r1",
        "c1",
        "faulty_echo",
        r#"{"text":"sk-abcdefghijklmnopqrstuvwxyz"}"#,
    ))
    .await;
    h.next("guardrail_tripped").await;
    let end = h.next("tool_end").await;
    assert_eq!(end["outcome"], "rejected");
    assert!(!h.seen.iter().any(|e| e["type"] == "tool_approval_required"));
    // A clean call is still asked about.
    h.m.send_all(call("r1", "c2", "faulty_echo", r#"{"text":"fine"}"#))
        .await;
    assert_eq!(h.next("tool_approval_required").await["call_id"], "c2");
}

// Input guardrails (beyond the reference) ---------------------------------------------------

#[tokio::test]
async fn input_guardrails_keep_blocked_text_and_transcripts_from_the_model() {
    let mut h = H::new("main").await;
    h.m.expect("session.update").await;
    h.s.send_text("this is forbidden".into()).await.unwrap();
    let tripped = h.next("guardrail_tripped").await;
    assert_eq!(
        (tripped["direction"].as_str(), tripped["message"].as_str()),
        (Some("input"), Some("this is forbidden"))
    );
    h.s.send_text("this is fine".into()).await.unwrap();
    let create = h.m.expect("conversation.item.create").await;
    assert_eq!(
        create["item"]["content"][0]["text"], "this is fine",
        "the blocked message never reached the model"
    );

    h.m.send(created("r1")).await;
    h.next("agent_start").await;
    h.m.send(json!({"type": "conversation.item.input_audio_transcription.completed", "item_id": "u5", "content_index": 0, "transcript": "say forbidden things"})).await;
    let tripped = h.next("guardrail_tripped").await;
    assert_eq!(tripped["message"], "say forbidden things");
    h.m.expect("response.create").await;
    h.m.expect("conversation.item.retrieve").await;
    let cancel = h.m.expect("response.cancel").await;
    assert_eq!(cancel["response_id"], "r1");
    let delete = h.m.expect("conversation.item.delete").await;
    assert_eq!(delete["item_id"], "u5");
}

// 11. Usage ---------------------------------------------------------------------------------

#[tokio::test]
async fn usage_is_summed_per_session() {
    let mut h = H::new("main").await;
    h.m.expect("session.update").await;
    h.m.send_all([created("r1"), done("r1", 10), created("r2"), done("r2", 32)])
        .await;
    h.next("agent_end").await;
    h.next("agent_end").await;
    let status = h.s.status().await.unwrap();
    assert_eq!(
        (
            status.usage.total_tokens,
            status.usage.input_tokens,
            status.usage.output_tokens
        ),
        (42, 21, 21)
    );
    assert_eq!(status.responses, 2);
}

/// The outcome of a call is committed before its output leaves for the
/// model: with the journal's file write-locked by someone else, the call
/// ends (`tool_end`) but the model gets nothing until the lock is gone.
#[tokio::test]
async fn a_tool_output_leaves_for_the_model_only_once_its_outcome_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite3");
    let journal = Journal::open(&path).expect("journal");
    let mut h = H::build_on(
        "main",
        SettingsOverlay::default(),
        Resilience::default(),
        journal,
    )
    .await;
    h.m.expect("session.update").await;
    h.m.send(created("r1")).await;
    // `slow` spins until its 300 ms deadline: time to take the lock once its
    // decision is committed and it has started.
    h.m.send_all(call("r1", "c1", "slow", "{}")).await;
    h.next("tool_start").await;
    let locker = rusqlite::Connection::open(&path).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let end = h.next("tool_end").await;
    assert_eq!(end["outcome"], "failed");
    // Nothing for the model while the outcome cannot be committed (the
    // writer waits up to its 5 s busy timeout, so 1 s of silence is the
    // lock's doing, not a slow machine's).
    let early = tokio::time::timeout(Duration::from_secs(1), h.m.recv()).await;
    assert!(
        early.is_err(),
        "output sent before its outcome was committed: {early:?}"
    );
    locker.execute_batch("COMMIT").unwrap();
    let ev = h.m.expect("conversation.item.create").await;
    let (call_id, output) = output_of(&ev);
    assert_eq!(call_id, "c1");
    let row: (String, String) = locker
        .query_row(
            "SELECT outcome, output FROM tool_calls WHERE call_id = 'c1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(row, ("failed".to_string(), output.to_string()));
}
