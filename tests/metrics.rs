//! `GET /metrics`: the exposition parses with a Prometheus text parser, and
//! its counters move as a session runs a tool call, asks for an approval,
//! answers with audio and ends.

mod common;

use std::collections::HashMap;

use common::{TestDaemon, plugin};

/// A sample's labels and value.
type Series = (HashMap<String, String>, f64);

/// One scrape: every sample by name.
struct Scrape {
    samples: HashMap<String, Vec<Series>>,
}

impl Scrape {
    async fn take(d: &TestDaemon) -> Scrape {
        let text = d.client().metrics().await.expect("GET /metrics");
        let parsed = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
            .unwrap_or_else(|e| panic!("the exposition does not parse: {e}\n{text}"));
        assert!(
            !parsed.samples.is_empty(),
            "no samples parsed from:\n{text}"
        );
        let mut samples: HashMap<String, Vec<Series>> = HashMap::new();
        for s in parsed.samples {
            let value = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                // Buckets are checked through `_count`.
                _ => continue,
            };
            let labels: HashMap<String, String> = s
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            samples.entry(s.metric).or_default().push((labels, value));
        }
        Scrape { samples }
    }

    /// The value of `name` with (at least) `labels`; 0 when absent, as
    /// Prometheus treats a series not yet seen.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .get(name)
            .into_iter()
            .flatten()
            .filter(|(l, _)| {
                labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, v)| *v)
            .sum()
    }

    fn has(&self, name: &str) -> bool {
        self.samples.contains_key(name)
    }
}

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

#[tokio::test]
async fn counters_move_as_a_scripted_session_runs() {
    let d = TestDaemon::start(&config()).await;
    let before = Scrape::take(&d).await;
    // Every family is exported from the start, with its conventional name.
    for name in [
        "agentd_sessions_live",
        "agentd_sessions_started_total",
        "agentd_model_connections_total",
        "agentd_model_reconnects_total",
        "agentd_model_server_events_total",
        "agentd_model_client_events_total",
        "agentd_approvals_pending",
        "agentd_response_first_audio_seconds_count",
        "agentd_turn_latency_seconds_count",
        "agentd_plugin_instances_in_use",
        "agentd_wasm_memory_bytes",
        "agentd_journal_write_seconds_count",
        "agentd_journal_queue_depth",
        "agentd_events_lost_total",
        "agentd_calls_total",
        "agentd_sessions_ended_total",
        "agentd_approval_decision_seconds_count",
    ] {
        assert!(before.has(name), "{name} is not exported");
    }
    assert_eq!(before.get("agentd_sessions_live", &[]), 0.0);
    // Tool series exist once the plugin is loaded, before any call.
    let add = [
        ("plugin", "calc"),
        ("tool", "add"),
        ("outcome", "completed"),
    ];
    assert_eq!(before.get("agentd_tool_calls_total", &add), 0.0);
    assert!(before.has("agentd_tool_call_duration_seconds_count"));

    let s = d.start_session("concierge").await;
    let mut ev = d.watch(&s);
    d.send(&s, r#"call calc.add {"a":2,"b":3}"#).await;
    ev.until_type("tool_end", &[("tool", "calc.add")]).await;
    // The reply to the tool output, with audio, then the turn ends.
    ev.until("the reply's audio", |e| e["type"] == "audio")
        .await;
    ev.until("the reply's end", |e| e["type"] == "agent_end")
        .await;
    let mid = Scrape::take(&d).await;
    assert_eq!(mid.get("agentd_sessions_live", &[]), 1.0);
    assert_eq!(
        mid.get("agentd_sessions_started_total", &[])
            - before.get("agentd_sessions_started_total", &[]),
        1.0
    );
    assert_eq!(mid.get("agentd_tool_calls_total", &add), 1.0);
    for phase in ["queue", "instantiate", "run"] {
        assert_eq!(
            mid.get(
                "agentd_tool_call_duration_seconds_count",
                &[("plugin", "calc"), ("tool", "add"), ("phase", phase)]
            ),
            1.0,
            "phase {phase}"
        );
    }
    assert!(mid.get("agentd_model_connections_total", &[]) >= 1.0);
    assert_eq!(mid.get("agentd_model_connections_open", &[]), 1.0);
    assert!(
        mid.get("agentd_model_server_events_total", &[])
            > before.get("agentd_model_server_events_total", &[])
    );
    assert!(
        mid.get("agentd_model_client_events_total", &[])
            > before.get("agentd_model_client_events_total", &[])
    );
    assert!(mid.get("agentd_response_first_audio_seconds_count", &[]) >= 1.0);
    assert!(mid.get("agentd_turn_latency_seconds_count", &[]) >= 1.0);
    assert!(
        mid.get("agentd_journal_write_seconds_count", &[])
            > before.get("agentd_journal_write_seconds_count", &[])
    );
    // The call ran and its instance is gone.
    assert_eq!(mid.get("agentd_plugin_instances_in_use", &[]), 0.0);
    assert_eq!(mid.get("agentd_wasm_memory_bytes", &[]), 0.0);

    // An approval: pending while asked, then a person's decision is timed.
    d.send(&s, r#"call calc.multiply {"a":4,"b":5}"#).await;
    let call_id = ev.approval_asked().await;
    common::wait_until("the approval is counted as pending", || async {
        Scrape::take(&d).await.get("agentd_approvals_pending", &[]) == 1.0
    })
    .await;
    let (ok, _, err) = d.agentctl(&["approve", &call_id]);
    assert!(ok, "{err}");
    ev.until_type("tool_end", &[("tool", "calc.multiply")])
        .await;
    let decided = Scrape::take(&d).await;
    assert_eq!(decided.get("agentd_approvals_pending", &[]), 0.0);
    assert_eq!(
        decided.get(
            "agentd_approval_decision_seconds_count",
            &[("decider", "person")]
        ),
        1.0
    );
    assert_eq!(
        decided.get(
            "agentd_tool_calls_total",
            &[
                ("plugin", "calc"),
                ("tool", "multiply"),
                ("outcome", "completed")
            ]
        ),
        1.0
    );

    // A call from the control API (no model) counts too.
    let (ok, out, err) = d.agentctl(&["tool", "call", "calc.add", r#"{"a":1,"b":1}"#]);
    assert!(ok, "{out}{err}");
    assert_eq!(
        Scrape::take(&d).await.get("agentd_tool_calls_total", &add),
        2.0
    );

    // A reload, and the session's end, by reason.
    let (ok, _, err) = d.agentctl(&["reload"]);
    assert!(ok, "{err}");
    let (ok, _, err) = d.agentctl(&["session", "close", &s]);
    assert!(ok, "{err}");
    ev.until_type("session_closed", &[]).await;
    common::wait_until("the session is counted as ended", || async {
        Scrape::take(&d).await.get("agentd_sessions_live", &[]) == 0.0
    })
    .await;
    let after = Scrape::take(&d).await;
    assert_eq!(
        after.get("agentd_sessions_ended_total", &[("reason", "closed")]),
        1.0
    );
    assert_eq!(
        after.get("agentd_reloads_total", &[("outcome", "unchanged")]),
        1.0
    );
    assert_eq!(after.get("agentd_model_connections_open", &[]), 0.0);
    // Calls by channel are there for the SIP and WebRTC listeners, at zero.
    assert_eq!(
        after.get(
            "agentd_calls_total",
            &[("channel", "sip"), ("result", "accepted")]
        ),
        0.0
    );
}

#[tokio::test]
async fn agentctl_prints_the_exposition() {
    let d = TestDaemon::start(&config()).await;
    let (ok, out, err) = d.agentctl(&["metrics"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("# TYPE agentd_sessions_started counter"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("# EOF"), "{out}");
}

#[tokio::test]
async fn guardrail_trips_are_counted_by_direction_and_guardrail() {
    let d = TestDaemon::start(&format!(
        r#"
[plugins.blocklist]
path = "{}"

[agents.concierge]
instructions = "You are a concierge."
guardrails = ["blocklist.blocklist"]
"#,
        plugin("blocklist").display()
    ))
    .await;
    let labels = [
        ("direction", "output"),
        ("guardrail", "blocklist.blocklist"),
    ];
    assert_eq!(
        Scrape::take(&d)
            .await
            .get("agentd_guardrail_trips_total", &labels),
        0.0
    );
    let s = d.start_session("concierge").await;
    let mut ev = d.watch(&s);
    d.send(
        &s,
        "please repeat this forbidden sentence which is long enough that the transcript crosses the debounce length",
    )
    .await;
    ev.until_type("guardrail_tripped", &[]).await;
    assert_eq!(
        Scrape::take(&d)
            .await
            .get("agentd_guardrail_trips_total", &labels),
        1.0
    );
}

/// The calc plugin with reused instances (`instance = "per-session"`), or not.
fn reused_config(instance: &str) -> String {
    format!(
        r#"
[plugins.calc]
path = "{calc}"
instance = "{instance}"

[agents.concierge]
instructions = "You are a concierge."
tools = ["calc.*"]
"#,
        calc = plugin("calc").display(),
    )
}

#[tokio::test]
async fn reused_instances_are_timed_and_their_memory_and_slots_counted() {
    let d = TestDaemon::start(&reused_config("per-session")).await;
    let s = d.start_session("concierge").await;
    let mut ev = d.watch(&s);
    for _ in 0..2 {
        d.send(&s, r#"call calc.add {"a":2,"b":3}"#).await;
        ev.until_type("tool_end", &[("tool", "calc.add")]).await;
        ev.until("the reply's end", |e| e["type"] == "agent_end")
            .await;
    }
    let m = Scrape::take(&d).await;
    let phase = |p: &str| {
        m.get(
            "agentd_tool_call_duration_seconds_count",
            &[("plugin", "calc"), ("tool", "add"), ("phase", p)],
        )
    };
    // Both calls waited (not at all, the second) and ran; only the first
    // made an instance.
    assert_eq!(phase("queue"), 2.0);
    assert_eq!(phase("instantiate"), 1.0);
    assert_eq!(phase("run"), 2.0);
    // The idle instance keeps its slot and its memory.
    assert_eq!(m.get("agentd_plugin_instances_in_use", &[]), 1.0);
    assert!(m.get("agentd_wasm_memory_bytes", &[]) > 0.0);

    // Reloaded with another mode, the kept instance of the old plugin goes
    // (though the ended session is still readable): slot and memory back.
    let (ok, _, err) = d.agentctl(&["session", "close", &s]);
    assert!(ok, "{err}");
    ev.until_type("session_closed", &[]).await;
    d.rewrite_config(&reused_config("per-call"));
    let (ok, _, err) = d.agentctl(&["reload"]);
    assert!(ok, "{err}");
    common::wait_until("the kept instance is gone", || async {
        let m = Scrape::take(&d).await;
        m.get("agentd_plugin_instances_in_use", &[]) == 0.0
            && m.get("agentd_wasm_memory_bytes", &[]) == 0.0
    })
    .await;
}
