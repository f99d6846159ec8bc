//! Prometheus metrics: the one registry of the daemon, its metric handles,
//! and the text exposition served at `GET /metrics`.
//!
//! Cheap enough to leave on: every handle is an atomic, resolved once —
//! families whose label values are known up front (end reasons, outcomes,
//! decider kinds, channels) are resolved into arrays when the registry is
//! built, and a plugin's per-tool handles when the plugin is loaded
//! ([`ToolMetrics`], kept on the plugin). The hot path therefore never
//! takes the family's label-map lock; only rare events whose labels are
//! open-ended (guardrail trips, reload outcomes) look their series up.
//!
//! The registry is process-wide ([`metrics`]): metrics describe the process,
//! and a global keeps the modules that count (realtime, plugin, store,
//! session) free of plumbing. Serving is a plain function ([`render`] plus
//! [`CONTENT_TYPE`]) so any listener — the control socket today, the HTTP
//! listener later — mounts it in a few lines.

mod labels;

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use labels::{
    CallLabels, DeciderLabels, EndLabels, GuardrailLabels, OutcomeLabels, PhaseLabels,
    ToolCallLabels,
};
pub use labels::{Channel, Decider, EndReason, Phase, ToolOutcomeLabel};

/// The `Content-Type` of [`render`]'s output (OpenMetrics text, which
/// Prometheus scrapes natively; it is also valid 0.0.4 text exposition).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latency buckets from 1 ms to ~65 s (doubling).
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// Fine buckets from 50 µs to ~1.6 s, for journal commits and plugin phases.
fn fine_latency() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// Every metric the daemon exports.
pub struct Metrics {
    registry: Registry,
    pub sessions_live: Gauge,
    pub sessions_started: Counter,
    sessions_ended: [Counter; EndReason::ALL.len()],
    pub model_connections: Counter,
    pub model_connections_open: Gauge,
    pub model_reconnects: Counter,
    pub server_events: Counter,
    pub client_events: Counter,
    tool_calls: Family<ToolCallLabels, Counter>,
    tool_phase: HistogramFamily<PhaseLabels>,
    pub approvals_pending: Gauge,
    approval_decisions: [Histogram; Decider::ALL.len()],
    guardrail_trips: Family<GuardrailLabels, Counter>,
    pub first_audio: Histogram,
    pub turn_latency: Histogram,
    reloads: Family<OutcomeLabels, Counter>,
    pub plugin_instances: Gauge,
    pub wasm_memory: Gauge,
    pub journal_write: Histogram,
    pub journal_queue: Gauge,
    pub events_lost: Counter,
    calls: [[Counter; 2]; Channel::ALL.len()],
}

/// The daemon's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

/// The text exposition of every metric, as served at `GET /metrics`.
pub fn render() -> String {
    let mut out = String::with_capacity(16 << 10);
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &metrics().registry);
    out
}

impl Metrics {
    fn new() -> Metrics {
        let mut r = Registry::with_prefix("agentd");
        let sessions_live = Gauge::default();
        r.register("sessions_live", "Sessions open now", sessions_live.clone());
        let sessions_started = Counter::default();
        r.register(
            "sessions_started",
            "Sessions started",
            sessions_started.clone(),
        );
        let ended = Family::<EndLabels, Counter>::default();
        r.register("sessions_ended", "Sessions ended, by reason", ended.clone());
        let sessions_ended =
            EndReason::ALL.map(|r| ended.get_or_create_owned(&EndLabels { reason: r.as_str() }));

        let model_connections = Counter::default();
        r.register(
            "model_connections",
            "Connections opened to model endpoints (first connects and reconnects)",
            model_connections.clone(),
        );
        let model_connections_open = Gauge::default();
        r.register(
            "model_connections_open",
            "Model connections open now",
            model_connections_open.clone(),
        );
        let model_reconnects = Counter::default();
        r.register(
            "model_reconnects",
            "Reconnect attempts after a model connection was lost",
            model_reconnects.clone(),
        );
        let server_events = Counter::default();
        r.register(
            "model_server_events",
            "Events received from model endpoints",
            server_events.clone(),
        );
        let client_events = Counter::default();
        r.register(
            "model_client_events",
            "Events sent to model endpoints",
            client_events.clone(),
        );

        let tool_calls = Family::<ToolCallLabels, Counter>::default();
        r.register(
            "tool_calls",
            "Tool calls answered, by plugin, tool and outcome",
            tool_calls.clone(),
        );
        let tool_phase: HistogramFamily<PhaseLabels> =
            Family::new_with_constructor(fine_latency as fn() -> Histogram);
        r.register_with_unit(
            "tool_call_duration",
            "Time a tool call spent per phase: waiting for an instance slot, instantiating, running",
            Unit::Seconds,
            tool_phase.clone(),
        );

        let approvals_pending = Gauge::default();
        r.register(
            "approvals_pending",
            "Tool calls waiting for a decision",
            approvals_pending.clone(),
        );
        let decisions: HistogramFamily<DeciderLabels> =
            Family::new_with_constructor(latency as fn() -> Histogram);
        r.register_with_unit(
            "approval_decision",
            "Time from asking to deciding, by who decided",
            Unit::Seconds,
            decisions.clone(),
        );
        let approval_decisions = Decider::ALL.map(|d| {
            decisions.get_or_create_owned(&DeciderLabels {
                decider: d.as_str(),
            })
        });

        let guardrail_trips = Family::<GuardrailLabels, Counter>::default();
        r.register(
            "guardrail_trips",
            "Guardrail trips, by direction and guardrail",
            guardrail_trips.clone(),
        );
        let first_audio = latency();
        r.register_with_unit(
            "response_first_audio",
            "Time from the end of the user's turn to the first audio of the response",
            Unit::Seconds,
            first_audio.clone(),
        );
        let turn_latency = latency();
        r.register_with_unit(
            "turn_latency",
            "Time from the end of the user's turn to the end of the response",
            Unit::Seconds,
            turn_latency.clone(),
        );
        let reloads = Family::<OutcomeLabels, Counter>::default();
        r.register("reloads", "Reloads, by outcome", reloads.clone());
        let plugin_instances = Gauge::default();
        r.register(
            "plugin_instances_in_use",
            "Plugin instance slots held by running calls and idle reused instances",
            plugin_instances.clone(),
        );
        let wasm_memory = Gauge::default();
        r.register_with_unit(
            "wasm_memory",
            "Linear memory held by live plugin instances",
            Unit::Bytes,
            wasm_memory.clone(),
        );
        let journal_write = fine_latency();
        r.register_with_unit(
            "journal_write",
            "Time to commit one batch of journal records",
            Unit::Seconds,
            journal_write.clone(),
        );
        let journal_queue = Gauge::default();
        r.register(
            "journal_queue_depth",
            "Journal operations waiting for the writer",
            journal_queue.clone(),
        );
        let events_lost = Counter::default();
        r.register(
            "events_lost",
            "Session events subscribers missed (no longer kept when they caught up)",
            events_lost.clone(),
        );
        let calls_family = Family::<CallLabels, Counter>::default();
        r.register(
            "calls",
            "Calls offered on a channel (SIP, WebRTC), by channel and result",
            calls_family.clone(),
        );
        let calls = Channel::ALL.map(|channel| {
            [true, false].map(|accepted| {
                calls_family.get_or_create_owned(&CallLabels {
                    channel: channel.as_str(),
                    result: if accepted { "accepted" } else { "rejected" },
                })
            })
        });
        Metrics {
            registry: r,
            sessions_live,
            sessions_started,
            sessions_ended,
            model_connections,
            model_connections_open,
            model_reconnects,
            server_events,
            client_events,
            tool_calls,
            tool_phase,
            approvals_pending,
            approval_decisions,
            guardrail_trips,
            first_audio,
            turn_latency,
            reloads,
            plugin_instances,
            wasm_memory,
            journal_write,
            journal_queue,
            events_lost,
            calls,
        }
    }

    /// A session ended.
    pub fn session_ended(&self, reason: EndReason) {
        self.sessions_ended[reason as usize].inc();
        self.sessions_live.dec();
    }

    /// A call waited `waited` for a decision by `decider`.
    pub fn approval_decided(&self, decider: Decider, waited: Duration) {
        self.approval_decisions[decider as usize].observe(waited.as_secs_f64());
    }

    /// A guardrail tripped (rare: looked up by name).
    pub fn guardrail_tripped(&self, direction: &str, guardrail: &str) {
        self.guardrail_trips
            .get_or_create(&GuardrailLabels {
                direction: direction.to_string(),
                guardrail: guardrail.to_string(),
            })
            .inc();
    }

    /// A reload finished with `outcome` (`applied`, `unchanged`, `rejected`).
    pub fn reloaded(&self, outcome: &str) {
        self.reloads
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// A call was offered on `channel`; `accepted` says whether it was taken.
    pub fn call_offered(&self, channel: Channel, accepted: bool) {
        self.calls[channel as usize][usize::from(!accepted)].inc();
    }

    /// The handles of one tool, resolved once (when its plugin is loaded).
    pub fn tool(&self, plugin: &str, tool: &str) -> ToolMetrics {
        let outcome = |o: ToolOutcomeLabel| {
            self.tool_calls.get_or_create_owned(&ToolCallLabels {
                plugin: plugin.to_string(),
                tool: tool.to_string(),
                outcome: o.as_str(),
            })
        };
        let phase = |p: Phase| {
            self.tool_phase.get_or_create_owned(&PhaseLabels {
                plugin: plugin.to_string(),
                tool: tool.to_string(),
                phase: p.as_str(),
            })
        };
        ToolMetrics {
            outcomes: ToolOutcomeLabel::ALL.map(outcome),
            phases: Phase::ALL.map(phase),
        }
    }
}

/// One tool's series, resolved once: counting a call is an atomic add.
#[derive(Clone)]
pub struct ToolMetrics {
    outcomes: [Counter; ToolOutcomeLabel::ALL.len()],
    phases: [Histogram; Phase::ALL.len()],
}

impl ToolMetrics {
    /// The call was answered with `outcome`.
    pub fn answered(&self, outcome: ToolOutcomeLabel) {
        self.outcomes[outcome as usize].inc();
    }

    /// The call spent `took` in `phase`.
    pub fn phase(&self, phase: Phase, took: Duration) {
        self.phases[phase as usize].observe(took.as_secs_f64());
    }
}

impl std::fmt::Debug for ToolMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ToolMetrics")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_family_with_its_type() {
        let m = metrics();
        m.tool("calc", "add").answered(ToolOutcomeLabel::Completed);
        m.call_offered(Channel::Sip, false);
        let text = render();
        for line in [
            "# TYPE agentd_sessions_live gauge",
            "# TYPE agentd_sessions_started counter",
            "# TYPE agentd_sessions_ended counter",
            "# TYPE agentd_tool_calls counter",
            "# TYPE agentd_tool_call_duration_seconds histogram",
            "# TYPE agentd_approval_decision_seconds histogram",
            "# TYPE agentd_response_first_audio_seconds histogram",
            "# TYPE agentd_turn_latency_seconds histogram",
            "# TYPE agentd_journal_write_seconds histogram",
            "# TYPE agentd_wasm_memory_bytes gauge",
        ] {
            assert!(text.contains(line), "missing `{line}` in:\n{text}");
        }
        // The registry is the process's: other tests in this binary (a
        // draining daemon refusing a call) count on it too, so at least.
        let value = |series: &str| {
            text.lines().find_map(|l| {
                l.strip_prefix(series)?
                    .strip_prefix(' ')?
                    .parse::<f64>()
                    .ok()
            })
        };
        assert!(
            value("agentd_sessions_ended_total{reason=\"draining\"}").is_some(),
            "{text}"
        );
        assert!(
            value("agentd_calls_total{channel=\"sip\",result=\"rejected\"}")
                .is_some_and(|n| n >= 1.0),
            "{text}"
        );
        assert!(
            text.contains(
                "agentd_tool_calls_total{plugin=\"calc\",tool=\"add\",outcome=\"completed\"}"
            ),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
