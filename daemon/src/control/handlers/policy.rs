//! `POST /v1/policy/explain`: what would happen to a call of a tool by an
//! agent with these arguments, and why — the same steps the executor takes
//! (arguments against the schema, the tool's own setting, the policy's
//! rules, an answer remembered for the agent), without running anything.

use hyper::{Response, StatusCode};

use crate::control::errors::ApiError;
use crate::control::reply::{self, Body};
use crate::policy::Action;
use crate::supervisor::Supervisor;
use agentd_api::requests::Explain;
use agentd_api::responses::PolicyExplanation;

pub async fn explain(daemon: &Supervisor, body: Explain) -> Result<Response<Body>, ApiError> {
    let catalog = daemon.catalog();
    let agent = catalog
        .agents
        .get(&body.agent)
        .ok_or_else(|| ApiError::not_found(format!("no agent `{}`", body.agent)))?;
    let tool = agent
        .tools
        .iter()
        .find(|t| t.qualified == body.tool || t.model_name == body.tool)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "agent `{}` has no tool `{}` (see `agentctl agents`)",
                body.agent, body.tool
            ))
        })?;
    let explained = |decision: &str, rule, failed_closed, lines| PolicyExplanation {
        agent: body.agent.clone(),
        tool: tool.qualified.clone(),
        decision: decision.to_string(),
        rule,
        failed_closed,
        lines,
    };
    let args = match tool.arguments.check(&body.arguments.to_string()) {
        Ok(args) => args,
        Err(e) => {
            let lines = vec![
                format!("refused before policy: {e}"),
                "decision: refused".to_string(),
            ];
            return Ok(reply::json(
                StatusCode::OK,
                &explained("refused", None, false, lines),
            ));
        }
    };
    let mut lines = vec!["arguments match the tool's schema".to_string()];
    let policy = &agent.config.approval;
    let (action, rule, failed_closed) = match tool.approval {
        Some(ask) => {
            let action = if ask { Action::Ask } else { Action::Allow };
            lines.push(format!(
                "the agent's tool list sets `approval = {ask}` for this tool, over the rules"
            ));
            lines.push(format!("decision: {}", action.as_str()));
            (action, None, false)
        }
        None => {
            let d = policy.decide(&tool.qualified, &args);
            lines.extend(d.explain(policy.default));
            (d.action, d.rule.map(|i| i + 1), d.failed_closed)
        }
    };
    let mut decision = action;
    if action == Action::Ask
        && let Some(a) = daemon
            .journal()
            .remembered(agent.name(), &tool.qualified, &policy.fingerprint())
            .await?
    {
        decision = if a.approve {
            Action::Allow
        } else {
            Action::Deny
        };
        lines.push(format!(
            "an answer remembered for agent {} settles the ask: {} by {}",
            agent.name(),
            if a.approve { "approved" } else { "rejected" },
            a.decided_by
        ));
        lines.push(format!("decision: {}", decision.as_str()));
    }
    Ok(reply::json(
        StatusCode::OK,
        &explained(decision.as_str(), rule, failed_closed, lines),
    ))
}
