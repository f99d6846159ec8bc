//! `POST /v1/tools/{plugin.tool}/call`: run a tool in its sandbox without a
//! model, as `agentctl tool call` does for plugin authors. The call gets the
//! same limits as a model's, after the same check of its arguments against the tool's schema; its failure is the reply's `output`, not an
//! HTTP error.

use hyper::{Response, StatusCode};

use crate::control::errors::ApiError;
use crate::control::reply::{self, Body};
use crate::supervisor::Supervisor;
use agentd_api::requests::CallTool;
use agentd_api::responses::ToolCallResult;

pub async fn call(
    daemon: &Supervisor,
    qualified: &str,
    body: CallTool,
) -> Result<Response<Body>, ApiError> {
    let catalog = daemon.catalog();
    let (plugin, tool, schema) = qualified
        .split_once('.')
        .and_then(|(p, t)| {
            let plugin = catalog.plugins.get(p)?.clone();
            let schema = plugin.tools.iter().find(|x| x.name == t)?.arguments.clone();
            Some((plugin, t.to_string(), schema))
        })
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no tool `{qualified}` is loaded (see `agentctl plugins`)"
            ))
        })?;
    let arguments = body.arguments.to_string();
    // The same check a model's call gets: a plugin author sees what the model would.
    if let Err(e) = schema.check(&arguments) {
        let reply = ToolCallResult {
            ok: false,
            output: format!("error: {e}"),
            elapsed_us: 0,
        };
        return Ok(reply::json(StatusCode::OK, &reply));
    }
    let info = crate::plugin::CallInfo {
        session_id: "agentctl".into(),
        agent: "agentctl".into(),
        call_id: format!("manual-{}", rand::random::<u32>()),
    };
    tracing::info!(tool = %qualified, call_id = %info.call_id, "tool called from the control API");
    let started = std::time::Instant::now();
    let result = plugin.call_tool(&tool, &arguments, &info).await;
    let elapsed_us = started.elapsed().as_micros() as u64;
    if let Some(m) = plugin.tool_metrics.get(&tool) {
        m.answered(match result {
            Ok(_) => crate::metrics::ToolOutcomeLabel::Completed,
            Err(_) => crate::metrics::ToolOutcomeLabel::Failed,
        });
    }
    let reply = match result {
        Ok(output) => ToolCallResult {
            ok: true,
            output,
            elapsed_us,
        },
        Err(e) => ToolCallResult {
            ok: false,
            output: e.to_string(),
            elapsed_us,
        },
    };
    Ok(reply::json(StatusCode::OK, &reply))
}
