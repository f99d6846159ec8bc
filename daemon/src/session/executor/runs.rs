//! Running calls: tool guardrails, then the tool in its own task; each
//! finished run answers the model exactly once. A task that dies is a bug in
//! agentd and ends the session, as in the reference.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::{Executor, ToolCall, settle};
use crate::catalog::{Agent, AgentGuardrail, AgentTool, CallTool, ToolImpl};
use crate::plugin::{CallError, CallInfo, GuardrailSubject};
use crate::session::events::{Direction, SessionEvent, ToolOutcome};
use crate::session::guardrails::{blocked_message, check_all, names};

/// A call being run (guardrails, then the tool), with whoever waits for it.
pub(super) struct Running {
    pub(super) call: ToolCall,
    pub(super) tool: AgentTool,
    pub(super) agent: Arc<Agent>,
    pub(super) settled: Option<oneshot::Sender<()>>,
}

pub(super) struct ToolRun {
    pub(super) result: Result<String, ToolFailure>,
}

/// Why a tool call produced no output of its own.
pub(super) enum ToolFailure {
    /// The plugin failed (error, trap, timeout, cap, queue full).
    Call(CallError),
    /// A tool guardrail refused it; the text is what the model is told.
    Blocked(String),
}

impl Executor {
    pub(super) fn call_info(&self, agent: &Agent, call: &ToolCall) -> CallInfo {
        CallInfo {
            session_id: self.ctx.session.to_string(),
            agent: agent.name().to_string(),
            call_id: call.call_id.clone(),
        }
    }

    /// Run a call: tool guardrails first, then the tool, in a task of its own.
    /// `approved` skips guardrails that already ran before the person was asked.
    pub(super) fn run_tool(
        &mut self,
        call: ToolCall,
        tool: AgentTool,
        agent: Arc<Agent>,
        approved: bool,
        settled: Option<oneshot::Sender<()>>,
    ) {
        let guardrails: Vec<AgentGuardrail> = agent
            .tool_guardrails
            .iter()
            .filter(|(_, before)| !(approved && *before))
            .map(|(g, _)| g.clone())
            .collect();
        let info = self.call_info(&agent, &call);
        let bus = self.ctx.bus.clone();
        let hooks = self.ctx.call.clone();
        let work = {
            let (call, tool, agent) = (call.clone(), tool.clone(), agent.clone());
            async move {
                if !guardrails.is_empty() {
                    let subject = GuardrailSubject::ToolCall {
                        tool: tool.qualified.clone(),
                        arguments: call.arguments.clone(),
                    };
                    let tripped = check_all(&guardrails, &subject, &info).await;
                    if !tripped.is_empty() {
                        bus.publish(SessionEvent::GuardrailTripped {
                            direction: Direction::ToolCall,
                            guardrails: names(&tripped),
                            message: call.arguments.clone(),
                        });
                        return ToolRun {
                            result: Err(ToolFailure::Blocked(blocked_message(&tripped))),
                        };
                    }
                }
                bus.publish(SessionEvent::ToolStart {
                    agent: agent.name().to_string(),
                    tool: tool.qualified.clone(),
                    call_id: call.call_id.clone(),
                    arguments: call.arguments.clone(),
                });
                let result = match &tool.runs {
                    ToolImpl::Plugin(plugin) => plugin
                        .call_tool(&tool.tool, &call.arguments, &info)
                        .await
                        .map_err(ToolFailure::Call),
                    ToolImpl::Call(kind) => run_call_tool(hooks.as_ref(), *kind, &call.arguments)
                        .await
                        .map_err(|e| ToolFailure::Call(CallError::Failed(e))),
                };
                ToolRun { result }
            }
        };
        let handle = self
            .running
            .spawn(tracing::Instrument::in_current_span(work));
        self.in_flight.insert(
            handle.id(),
            Running {
                call,
                tool,
                agent,
                settled,
            },
        );
    }

    /// A finished tool task; `Err` with the reason when the task itself died,
    /// which is a bug in agentd: as in the reference, the session then ends.
    pub(super) fn on_tool_done(
        &mut self,
        done: Result<(tokio::task::Id, ToolRun), tokio::task::JoinError>,
    ) -> Result<(), String> {
        match done {
            Ok((id, run)) => {
                if let Some(r) = self.in_flight.remove(&id) {
                    // A call tool that worked ended the call (transferred or
                    // hung up): once its outcome is out, the sideband goes too,
                    // and the session with it.
                    let ended_call = matches!(r.tool.runs, ToolImpl::Call(_)) && run.result.is_ok();
                    self.finish(r, run);
                    if ended_call {
                        let _ = self
                            .ctx
                            .to_model
                            .send(crate::realtime::client::ModelCommand::Close);
                    }
                }
                Ok(())
            }
            Err(e) => {
                let call = self.in_flight.remove(&e.id());
                let message = format!("Tool call task failed: {e}");
                tracing::error!(session = %self.ctx.session, call_id = ?call.as_ref().map(|r| &r.call.call_id), %message, "internal error");
                self.emit(SessionEvent::Error {
                    code: Some("internal_error".into()),
                    message: message.clone(),
                });
                if let Some(r) = call {
                    settle(r.settled);
                }
                Err(message)
            }
        }
    }

    pub(super) fn finish(&mut self, r: Running, run: ToolRun) {
        let (output, outcome) = match run.result {
            Ok(out) => (out, ToolOutcome::Completed),
            Err(ToolFailure::Blocked(message)) => (message, ToolOutcome::Rejected),
            Err(ToolFailure::Call(e)) => {
                tracing::warn!(
                    session = %self.ctx.session,
                    tool = %r.tool.qualified,
                    call_id = %r.call.call_id,
                    error = %e,
                    "tool call failed"
                );
                (
                    format!("error: tool `{}` failed: {e}", r.tool.qualified),
                    ToolOutcome::Failed,
                )
            }
        };
        self.answer(&r.agent, &r.tool, r.call, output, outcome);
        settle(r.settled);
    }
}

/// Run a built-in call tool through the session's call hooks.
async fn run_call_tool(
    hooks: Option<&crate::session::CallHooks>,
    kind: CallTool,
    arguments: &str,
) -> Result<String, String> {
    let hooks = hooks.ok_or("this session drives no phone or browser call")?;
    let action = match kind {
        CallTool::HangUp => crate::session::CallAction::HangUp,
        CallTool::Transfer => {
            // The schema check has already required a string `target_uri`.
            let v: serde_json::Value =
                serde_json::from_str(arguments).map_err(|e| e.to_string())?;
            let target_uri = v["target_uri"].as_str().unwrap_or_default().to_string();
            crate::session::CallAction::Transfer { target_uri }
        }
    };
    hooks(action).await
}
