//! `GET /v1/status`, `/v1/plugins`, `/v1/agents`: what the current catalog
//! holds, read from one snapshot per request; `GET /metrics` and
//! `POST /v1/drain`, the operator's two daemon-wide routes.

use std::path::Path;

use hyper::{Response, StatusCode};

use crate::catalog::Catalog;
use crate::control::reply::{self, Body};
use crate::supervisor::Supervisor;
use agentd_api::responses::{AgentSummary, AgentToolSummary, PluginSummary, Status, ToolSummary};

pub async fn status(daemon: &Supervisor, socket: &Path) -> Response<Body> {
    let catalog = daemon.catalog();
    let counts = daemon.counts().await;
    let status = Status {
        version: env!("CARGO_PKG_VERSION").to_string(),
        pid: std::process::id(),
        started_ms: daemon.started_ms(),
        config: catalog.config.path.display().to_string(),
        socket: socket.display().to_string(),
        agents: agent_summaries(&catalog),
        plugins: plugin_summaries(&catalog),
        sessions: counts.live_sessions,
        draining: counts.draining,
        last_reload: daemon
            .last_reload()
            .await
            .as_ref()
            .map(super::reload::report),
    };
    reply::json(StatusCode::OK, &status)
}

/// `GET /metrics`: the Prometheus text exposition.
pub fn metrics() -> Response<Body> {
    reply::bytes(
        StatusCode::OK,
        crate::metrics::CONTENT_TYPE,
        crate::metrics::render().into_bytes(),
    )
}

/// `POST /v1/drain`: take no new sessions now, and ask the daemon to stop
/// once the live ones are done (see [`crate::drain`]).
pub async fn drain(daemon: &Supervisor) -> Response<Body> {
    daemon.drain().await;
    daemon.request_stop();
    let report = agentd_api::responses::Draining {
        draining: true,
        sessions: daemon.counts().await.live_sessions,
        timeout_s: daemon.catalog().config.daemon.drain_timeout.as_secs(),
    };
    reply::json(StatusCode::ACCEPTED, &report)
}

pub fn plugins(daemon: &Supervisor) -> Response<Body> {
    let mut summaries = plugin_summaries(&daemon.catalog());
    // Compilations in flight (a reload's new versions): progress next to the
    // version still serving, or on its own line for a plugin not serving yet.
    let host = daemon.host();
    for name in host.compiling() {
        if !summaries.iter().any(|s| s.name == name) {
            summaries.push(PluginSummary {
                name: name.clone(),
                path: String::new(),
                hash: None,
                loaded_ms: None,
                origin: None,
                tools: Vec::new(),
                guardrails: Vec::new(),
                error: None,
                compiling_ms: None,
                last_compile_ms: None,
            });
        }
    }
    for s in &mut summaries {
        let status = host.compile_status(&s.name);
        s.compiling_ms = status.running.map(|d| d.as_millis() as u64);
        s.last_compile_ms = status.last.map(|d| d.as_millis() as u64);
    }
    summaries.sort_by(|a, b| a.name.cmp(&b.name));
    reply::json(StatusCode::OK, &summaries)
}

pub fn agents(daemon: &Supervisor) -> Response<Body> {
    reply::json(StatusCode::OK, &agent_summaries(&daemon.catalog()))
}

/// Every plugin, serving or failed, by name.
fn plugin_summaries(catalog: &Catalog) -> Vec<PluginSummary> {
    let mut out: Vec<PluginSummary> = catalog
        .plugins
        .values()
        .map(|p| PluginSummary {
            name: p.name.clone(),
            path: p.path.display().to_string(),
            hash: Some(p.hash.clone()),
            loaded_ms: p
                .loaded_at
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_millis() as u64),
            origin: serde_json::to_value(p.origin)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string)),
            tools: p
                .tools
                .iter()
                .map(|t| ToolSummary {
                    name: t.name.clone(),
                    description: t.description.clone(),
                })
                .collect(),
            guardrails: p.guardrails.iter().map(|g| g.name.clone()).collect(),
            // A failed newer file while this version keeps serving.
            error: catalog.failure(&p.name).map(|f| f.error.clone()),
            compiling_ms: None,
            last_compile_ms: None,
        })
        .collect();
    out.extend(
        catalog
            .failed_plugins
            .iter()
            .filter(|f| !catalog.plugins.contains_key(&f.name))
            .map(|f| PluginSummary {
                name: f.name.clone(),
                path: f.path.display().to_string(),
                hash: None,
                loaded_ms: None,
                origin: None,
                tools: Vec::new(),
                guardrails: Vec::new(),
                error: Some(f.error.clone()),
                compiling_ms: None,
                last_compile_ms: None,
            }),
    );
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn agent_summaries(catalog: &Catalog) -> Vec<AgentSummary> {
    catalog
        .agents
        .values()
        .map(|a| AgentSummary {
            name: a.name().to_string(),
            model: a.config.model.clone(),
            tools: a
                .tools
                .iter()
                .map(|t| AgentToolSummary {
                    function: t.model_name.clone(),
                    tool: t.qualified.clone(),
                })
                .collect(),
            guardrails: a
                .output_guardrails
                .iter()
                .map(|g| g.qualified.clone())
                .collect(),
            handoffs: a.handoffs.iter().map(|h| h.target.clone()).collect(),
        })
        .collect()
}
