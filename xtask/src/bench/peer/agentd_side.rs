//! One agentd run of a scenario: the mock server, then the real `agentd`
//! binary with a config whose model url points at the mock and whose agents
//! match the scenario's `client_profile` (tools and guardrail from
//! `tests/fixtures/peer.wasm`); once agentd is ready, a session, its event
//! stream followed over the control socket, "start" sent, even approval
//! requests approved and odd ones rejected, until `session_closed` (the mock
//! closes after its last step; `reconnect_attempts = 0`).
//!
//! agentd's CPU time (the sum of `/proc/PID/task/*/schedstat`, ns; `stat`
//! ticks alongside) and peak RSS (`VmHWM`, reset at session start) cover the
//! session only, not start-up.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agentd_api::Client;
use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use super::cli::Options;
use super::summary::{lat_summary, round};
use super::{mock, peer_plugin, tail};
use crate::bench::child::Proc;
use crate::bench::measure::{
    own_cpu_s, proc_cpu_s, proc_sched_cpu_s, proc_status_kb, reset_peak_rss,
};

/// agents.toml body (after `[daemon]`) for a scenario's client_profile.
fn agents_for(profile: &str, plugin: &Path) -> Result<(String, &'static str)> {
    let plugin = format!("[plugins.peer]\npath = \"{}\"\n", plugin.display());
    let (agents, start) = match profile {
        "plain" => (
            "[agents.assistant]\ninstructions = \"You are a voice assistant.\"\n".to_string(),
            "assistant",
        ),
        "tool_calls" => (
            "[agents.assistant]\ninstructions = \"Use add.\"\n\
             tools = [{ use = \"peer.add\", as = \"add\" }]\n"
                .to_string(),
            "assistant",
        ),
        "approval" => (
            "[agents.assistant]\ninstructions = \"Use add.\"\n\
             tools = [{ use = \"peer.add\", as = \"add\" }]\n\
             [agents.assistant.approval]\ndefault = \"ask\"\n"
                .to_string(),
            "assistant",
        ),
        "guardrail" => (
            "[agents.assistant]\ninstructions = \"Talk.\"\n\
             guardrails = [\"peer.forbidden_word\"]\n"
                .to_string(),
            "assistant",
        ),
        "handoff" => (
            "[agents.triage_agent]\ninstructions = \"Route the caller.\"\n\
             handoffs = [\"billing_agent\"]\n\
             [agents.billing_agent]\ninstructions = \"You handle billing.\"\n\
             tools = [{ use = \"peer.lookup_invoice\", as = \"lookup_invoice\" }]\n"
                .to_string(),
            "triage_agent",
        ),
        other => bail!("unknown client_profile {other}"),
    };
    Ok((format!("{plugin}{agents}"), start))
}

/// The whole agents.toml of a run, and the agent its session starts with: the
/// mock at `port` as an `openai` model that does not reconnect (the mock's
/// close at the end of its script ends the session), then [`agents_for`].
fn config_for(
    profile: &str,
    plugin: &Path,
    socket: &Path,
    state_dir: &Path,
    port: u16,
) -> Result<(String, &'static str)> {
    let (agents, start_agent) = agents_for(profile, plugin)?;
    let text = format!(
        "[daemon]\nsocket = \"{}\"\nstate_dir = \"{}\"\n\n\
         [models.default]\nprovider = \"openai\"\n\
         url = \"ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime\"\n\
         model = \"gpt-realtime\"\napi_key_env = \"AGENTD_BENCH_KEY\"\nreconnect_attempts = 0\n\n{agents}",
        socket.display(),
        state_dir.display()
    );
    Ok((text, start_agent))
}

/// One agentd run of `name`: mock server, daemon, session, measurements.
pub async fn run(o: &Options, py: &Path, name: &str) -> Result<Value> {
    let scenario = o.peer_dir.join("scenarios").join(format!("{name}.json"));
    let scen: Value = serde_json::from_str(
        &std::fs::read_to_string(&scenario)
            .with_context(|| format!("reading {}", scenario.display()))?,
    )
    .with_context(|| format!("parsing {}", scenario.display()))?;
    let profile = scen["client_profile"].as_str().unwrap_or("plain");
    let limit = Duration::from_secs_f64(scen["timeout_s"].as_f64().unwrap_or(300.0) + 60.0);
    let plugin = peer_plugin();

    let dir = tempfile::tempdir().context("creating a temp dir")?;
    let stats = dir.path().join("stats.jsonl");
    let (mut mock, port) = mock::start(o, py, &scenario, &stats)?;

    let socket = dir.path().join("agentd.sock");
    let config = dir.path().join("agents.toml");
    let (text, start_agent) =
        config_for(profile, &plugin, &socket, &dir.path().join("state"), port)?;
    std::fs::write(&config, text).context("writing agents.toml")?;
    let log_path = dir.path().join("agentd.log");
    let log = std::fs::File::create(&log_path).context("creating agentd.log")?;
    let child = Command::new(&o.agentd)
        .arg("--config")
        .arg(&config)
        .env("AGENTD_LOG", "info")
        .env("AGENTD_BENCH_KEY", "sk-mock-local-not-a-real-key")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", o.agentd.display()))?;
    let mut daemon = Proc {
        name: "agentd",
        child,
    };
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let client = Client::new(&socket);

    let ready = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = daemon.child.try_wait() {
            bail!("agentd exited early ({status}):\n{}", tail(&log(), 30));
        }
        if socket.exists() && client.get::<Value>("/v1/status").await.is_ok() {
            break;
        }
        if Instant::now() > ready {
            bail!("agentd did not become ready in 60 s:\n{}", tail(&log(), 30));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let pid = daemon.pid();
    let rss_before = proc_status_kb(pid, "VmRSS")?;
    let startup_peak = proc_status_kb(pid, "VmHWM")?;
    // So that the peak below is the session's.
    let hwm_reset = reset_peak_rss(pid);
    let cpu0 = proc_cpu_s(pid)?;
    let sched0 = proc_sched_cpu_s(pid);
    let own0 = own_cpu_s();
    let t0 = Instant::now();

    let started: Value = client
        .post("/v1/sessions", &json!({ "agent": start_agent }))
        .await
        .map_err(|e| anyhow!("starting a session: {e}\n{}", tail(&log(), 30)))?;
    let session = started["id"]
        .as_str()
        .ok_or_else(|| anyhow!("no session id in {started}"))?
        .to_string();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let follower = client.clone();
    let path = format!("/v1/sessions/{session}/events?since=0&follow=1");
    let stream = tokio::spawn(async move {
        let _ = follower.stream(&path, |ev| tx.send(ev).is_ok()).await;
    });
    let _: Value = client
        .post(
            &format!("/v1/sessions/{session}/messages"),
            &json!({"text": "start"}),
        )
        .await
        .map_err(|e| anyhow!("sending \"start\": {e}"))?;

    let mut events = 0u64;
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    let mut approvals = 0usize;
    let mut error_codes: Vec<String> = Vec::new();
    let mut last_seq = 0u64;
    let mut closed_reason = None;
    let deadline = tokio::time::Instant::now() + limit;
    while closed_reason.is_none() {
        let ev = match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(ev)) => ev,
            Ok(None) => break,
            Err(_) => {
                stream.abort();
                bail!(
                    "session did not close within {limit:?}:\n{}",
                    tail(&log(), 30)
                )
            }
        };
        events += 1;
        last_seq = ev["seq"].as_u64().unwrap_or(last_seq).max(last_seq);
        let kind = ev["type"].as_str().unwrap_or("?").to_string();
        match kind.as_str() {
            "tool_approval_required" => {
                let call = ev["call_id"].as_str().unwrap_or_default();
                let approve = approvals.is_multiple_of(2);
                approvals += 1;
                let _: Value = client
                    .post(
                        &format!("/v1/approvals/{call}"),
                        &json!({"approve": approve, "session": session}),
                    )
                    .await
                    .map_err(|e| anyhow!("deciding {call}: {e}"))?;
            }
            // With reconnect_attempts = 0, the mock's closing of the socket at
            // the end of its script is reported as this error: not a failure.
            "error" if ev["code"] != "model_reconnect_failed" => {
                error_codes.push(ev["code"].as_str().unwrap_or("?").to_string());
            }
            "session_closed" => {
                closed_reason = Some(ev["reason"].as_str().unwrap_or("").to_string());
            }
            _ => {}
        }
        *by_type.entry(kind).or_default() += 1;
    }
    let wall = t0.elapsed().as_secs_f64();
    let ticks = proc_cpu_s(pid)? - cpu0;
    let sched = match (sched0, proc_sched_cpu_s(pid)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    // ns precision when available (the handoff session is ~1 tick long).
    let cpu = sched.unwrap_or(ticks);
    let own = own_cpu_s() - own0;
    let session_peak = proc_status_kb(pid, "VmHWM")?;
    stream.abort();
    daemon.stop();
    mock.wait_exit(Duration::from_secs(30))?;
    let (conn, summary) = mock::read_stats(&stats)?;
    let server_cpu = summary["server_cpu_user_s"].as_f64().unwrap_or(0.0)
        + summary["server_cpu_sys_s"].as_f64().unwrap_or(0.0);
    let emitted = conn["emitted"].as_f64().unwrap_or(0.0);
    Ok(json!({
        "side": "agentd",
        "scenario": name,
        "vars": o.vars,
        "ok": conn["ok"] == true && closed_reason.is_some() && error_codes.is_empty(),
        "server_error": conn["error"],
        "session_closed": closed_reason,
        "wall_s": round(wall, 4),
        "client_events": events,
        "client_events_per_s": round(events as f64 / wall, 1),
        // Sequence numbers the subscriber never saw: it fell further behind
        // than the session's kept events (KEPT_EVENTS / KEPT_BYTES).
        "client_events_missed": last_seq.saturating_sub(events),
        "server_events_emitted": conn["emitted"],
        "server_events_per_s": round(emitted / wall, 1),
        "client_cpu_s": round(cpu, 3),
        "client_cpu_pct_of_wall": round(100.0 * cpu / wall, 1),
        "client_cpu_ticks_s": round(ticks, 3),
        "client_cpu_source": if sched.is_some() { "schedstat" } else { "stat ticks" },
        "client_rss_before_kb": rss_before,
        "client_startup_peak_rss_kb": startup_peak,
        "client_session_peak_rss_kb": if hwm_reset { Some(session_peak) } else { None },
        "client_peak_rss_kb": startup_peak.max(session_peak),
        "subscriber_cpu_s": round(own, 3),
        "server_cpu_s": round(server_cpu, 3),
        "latency": lat_summary(&conn["latencies"]),
        "n_errors": error_codes.len(),
        "error_codes": error_codes,
        "events_by_type": by_type,
        "client_sent_by_type": conn["received_by_type"],
        "unconsumed_client_events": conn["unconsumed_client_events"],
        "skipped_optional_expects": conn["skipped_optional_expects"],
    }))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use agentd::config::{Config, Provider};
    use agentd::policy::Action;

    use super::*;

    const PLUGIN: &str = "/b/tests/fixtures/peer.wasm";

    /// A profile's config as agentd reads it, and the agent its session starts with.
    fn parsed(profile: &str) -> (Config, &'static str) {
        let (text, start) = config_for(
            profile,
            Path::new(PLUGIN),
            Path::new("/b/agentd.sock"),
            Path::new("/b/state"),
            4242,
        )
        .unwrap();
        let config = Config::parse(Path::new("/b/agents.toml"), &text)
            .unwrap_or_else(|e| panic!("{profile}: {e}\n{text}"));
        (config, start)
    }

    fn tools(c: &Config, agent: &str) -> Vec<String> {
        c.agents[agent]
            .tools
            .iter()
            .map(|t| format!("{} as {:?}", t.pattern, t.alias))
            .collect()
    }

    #[test]
    fn every_client_profile_is_a_config_agentd_accepts() {
        for profile in ["plain", "tool_calls", "approval", "guardrail", "handoff"] {
            let (c, start) = parsed(profile);
            let model = &c.models["default"];
            assert_eq!(model.provider, Provider::OpenAi, "{profile}");
            assert_eq!(
                model.url.as_deref(),
                Some("ws://127.0.0.1:4242/v1/realtime?model=gpt-realtime"),
                "{profile}"
            );
            assert_eq!(model.api_key_env.as_deref(), Some("AGENTD_BENCH_KEY"));
            // The mock's close at the end of its script must end the session.
            assert_eq!(model.resilience.max_attempts, 0, "{profile}");
            assert_eq!(c.daemon.socket, Path::new("/b/agentd.sock"));
            assert_eq!(c.plugins["peer"].path, Path::new(PLUGIN));
            assert!(c.agents.contains_key(start), "{profile}: no agent {start}");
        }
    }

    #[test]
    fn each_profile_has_the_reference_clients_tools() {
        let (c, start) = parsed("plain");
        assert_eq!((start, tools(&c, start)), ("assistant", vec![]));

        let (c, start) = parsed("tool_calls");
        assert_eq!(tools(&c, start), ["peer.add as Some(\"add\")"]);
        assert_eq!(
            c.agents[start]
                .approval
                .decide("peer.add", &serde_json::json!({}))
                .action,
            Action::Allow
        );

        let (c, start) = parsed("approval");
        assert_eq!(tools(&c, start), ["peer.add as Some(\"add\")"]);
        assert_eq!(
            c.agents[start]
                .approval
                .decide("peer.add", &serde_json::json!({}))
                .action,
            Action::Ask
        );

        let (c, start) = parsed("guardrail");
        let guardrails: Vec<String> = c.agents[start]
            .guardrails
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(guardrails, ["peer.forbidden_word"]);

        let (c, start) = parsed("handoff");
        assert_eq!(start, "triage_agent");
        let to: Vec<&str> = c.agents[start]
            .handoffs
            .iter()
            .map(|h| h.agent.as_str())
            .collect();
        assert_eq!(to, ["billing_agent"]);
        assert_eq!(
            tools(&c, "billing_agent"),
            ["peer.lookup_invoice as Some(\"lookup_invoice\")"]
        );

        assert!(agents_for("no_such_profile", Path::new(PLUGIN)).is_err());
    }
}
