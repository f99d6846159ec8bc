//! Deciding calls: the tool's schema, the tool's own setting or the agent's
//! policy, then earlier answers (`always` in this session, or remembered
//! for the agent) for what would be asked — journaled before anything is
//! done about it —
//! and the calls that wait for a person: asked (after `before_approval`
//! guardrails), decided, or rejected when their deadline passes.

use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{Answer, Executor, ExecutorHandle, ToolCall, settle};
use crate::catalog::{Agent, AgentGuardrail, AgentTool};
use crate::plugin::GuardrailSubject;
use crate::policy::{Action, OnTimeout};
use crate::session::events::{Direction, SessionEvent, ToolOutcome};
use crate::session::guardrails::{Trip, blocked_message, check_all, names};
use crate::session::{Notice, REJECTION_MESSAGE, SessionError, now_ms};
use crate::store::Record;
use agentd_api::Identity;

/// A call waiting for a person.
pub(super) struct Pending {
    pub(super) call: ToolCall,
    pub(super) tool: AgentTool,
    pub(super) agent: Arc<Agent>,
    pub(super) deadline: Option<Instant>,
    pub(super) expires_ms: Option<u64>,
    /// When it started waiting, for the decision's latency and the listing.
    pub(super) asked: Instant,
    pub(super) since_ms: u64,
}

/// Tool guardrails that run before a person is asked.
pub(super) struct Screened {
    pub(super) call: ToolCall,
    pub(super) tool: AgentTool,
    pub(super) agent: Arc<Agent>,
    pub(super) settled: Option<oneshot::Sender<()>>,
    pub(super) tripped: Vec<Trip>,
}

impl Executor {
    pub(super) async fn on_call(
        &mut self,
        call: ToolCall,
        tool: AgentTool,
        agent: Arc<Agent>,
        settled: Option<oneshot::Sender<()>>,
    ) {
        // Arguments first: a call whose arguments do not match the tool's
        // schema never reaches policy or the plugin (and is journaled too).
        let args = match tool.arguments.check(&call.arguments) {
            Ok(args) => args,
            Err(e) => {
                tracing::info!(session = %self.ctx.session, tool = %tool.qualified, call_id = %call.call_id, error = %e, "tool call refused: bad arguments");
                let record = Record::ToolCall {
                    session: self.ctx.session.to_string(),
                    call_id: call.call_id.clone(),
                    agent: agent.name().to_string(),
                    tool: tool.qualified.clone(),
                    arguments: call.arguments.clone(),
                    decision: format!("refused ({e})"),
                    plugin_hash: tool.runs.hash(),
                };
                if self.journal_first(record, &call, &tool, &agent).await {
                    let message = format!("error: {e}");
                    self.answer(&agent, &tool, call, message, ToolOutcome::Rejected);
                }
                settle(settled);
                return;
            }
        };
        let (decision, why) = match tool.approval {
            Some(true) => (Action::Ask, "tool setting".to_string()),
            Some(false) => (Action::Allow, "tool setting".to_string()),
            None => {
                let d = agent.config.approval.decide(&tool.qualified, &args);
                (d.action, d.reason())
            }
        };
        // Earlier answers settle what would be asked — only an ask: an
        // `always` approval (this session's, or one remembered for the
        // agent) never loosens a deny. An `always` rejection refuses anything.
        let (decision, why) = match (self.always.get(&tool.qualified), decision) {
            (Some(false), _) => (Action::Deny, "always rejected in this session".to_string()),
            (Some(true), Action::Ask) => {
                (Action::Allow, "always approved in this session".to_string())
            }
            (None, Action::Ask) => self
                .remembered(&agent, &tool)
                .await
                .unwrap_or((decision, why)),
            _ => (decision, why),
        };
        let record = Record::ToolCall {
            session: self.ctx.session.to_string(),
            call_id: call.call_id.clone(),
            agent: agent.name().to_string(),
            tool: tool.qualified.clone(),
            arguments: call.arguments.clone(),
            decision: format!("{} ({why})", decision.as_str()),
            plugin_hash: tool.runs.hash(),
        };
        if !self.journal_first(record, &call, &tool, &agent).await {
            settle(settled);
            return;
        }
        match decision {
            Action::Allow => self.run_tool(call, tool, agent, false, settled),
            Action::Deny => {
                self.reject(call, &tool, &agent);
                settle(settled);
            }
            Action::Ask => {
                let early: Vec<AgentGuardrail> = agent
                    .tool_guardrails
                    .iter()
                    .filter(|(_, before)| *before)
                    .map(|(g, _)| g.clone())
                    .collect();
                if early.is_empty() {
                    self.ask(call, tool, agent);
                    settle(settled);
                } else {
                    let info = self.call_info(&agent, &call);
                    self.screening.spawn(async move {
                        let subject = GuardrailSubject::ToolCall {
                            tool: tool.qualified.clone(),
                            arguments: call.arguments.clone(),
                        };
                        let tripped = check_all(&early, &subject, &info).await;
                        Screened {
                            call,
                            tool,
                            agent,
                            settled,
                            tripped,
                        }
                    });
                }
            }
        }
    }

    /// The answer remembered for `agent`'s calls of `tool` under its current
    /// policy, as a decision and its reason. A journal that cannot be read
    /// means asking a person, as if nothing were remembered.
    async fn remembered(&self, agent: &Agent, tool: &AgentTool) -> Option<(Action, String)> {
        let hash = agent.config.approval.fingerprint();
        match self
            .ctx
            .journal
            .remembered(agent.name(), &tool.qualified, &hash)
            .await
        {
            Ok(Some(a)) => Some((
                if a.approve {
                    Action::Allow
                } else {
                    Action::Deny
                },
                format!(
                    "remembered for agent {}: {} by {}",
                    agent.name(),
                    if a.approve { "approved" } else { "rejected" },
                    a.decided_by
                ),
            )),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(session = %self.ctx.session, error = %e, "cannot read remembered approvals; asking");
                None
            }
        }
    }

    pub(super) fn on_screened(&mut self, s: Screened) {
        if s.tripped.is_empty() {
            self.ask(s.call, s.tool, s.agent);
        } else {
            self.block(s.call, &s.tool, &s.agent, &s.tripped);
        }
        settle(s.settled);
    }

    /// Refuse a call because tool guardrails tripped: the reasons go to the model.
    pub(super) fn block(&self, call: ToolCall, tool: &AgentTool, agent: &Agent, tripped: &[Trip]) {
        tracing::info!(session = %self.ctx.session, tool = %tool.qualified, call_id = %call.call_id, guardrails = ?names(tripped), "tool guardrail tripped; call refused");
        self.emit(SessionEvent::GuardrailTripped {
            direction: Direction::ToolCall,
            guardrails: names(tripped),
            message: call.arguments.clone(),
        });
        let message = blocked_message(tripped);
        self.answer(agent, tool, call, message, ToolOutcome::Rejected);
    }

    /// Hold a call for a person's decision.
    pub(super) fn ask(&mut self, call: ToolCall, tool: AgentTool, agent: Arc<Agent>) {
        let timeout = agent.config.approval.timeout;
        self.emit(SessionEvent::ToolApprovalRequired {
            agent: agent.name().to_string(),
            tool: tool.qualified.clone(),
            call_id: call.call_id.clone(),
            arguments: call.arguments.clone(),
        });
        tracing::info!(session = %self.ctx.session, tool = %tool.qualified, call_id = %call.call_id, "tool call waits for approval");
        if let Some(commands) = self.me.upgrade() {
            self.notify(Notice::ApprovalPending {
                call_id: call.call_id.clone(),
                session: self.ctx.session.clone(),
                executor: ExecutorHandle {
                    session: self.ctx.session.clone(),
                    commands,
                },
            });
        }
        self.pending.insert(
            call.call_id.clone(),
            Pending {
                call,
                tool,
                agent,
                deadline: timeout.map(|t| Instant::now() + t),
                expires_ms: timeout.map(|t| now_ms() + t.as_millis() as u64),
                asked: Instant::now(),
                since_ms: now_ms(),
            },
        );
    }

    pub(super) fn rejection_message(agent: &Agent, tool: &AgentTool, call_id: &str) -> String {
        match &agent.config.rejection_message {
            Some(template) => template
                .replace("{tool}", &tool.qualified)
                .replace("{call_id}", call_id),
            None => REJECTION_MESSAGE.to_string(),
        }
    }

    pub(super) fn reject(&self, call: ToolCall, tool: &AgentTool, agent: &Agent) {
        let message = Self::rejection_message(agent, tool, &call.call_id);
        self.answer(agent, tool, call, message, ToolOutcome::Rejected);
    }

    pub(super) async fn expire(&mut self) {
        let now = Instant::now();
        let expired: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            let Some(p) = self.pending.remove(&id) else {
                continue;
            };
            self.notify(Notice::ApprovalSettled {
                call_id: id.clone(),
                session: self.ctx.session.clone(),
            });
            let approve = p.agent.config.approval.on_timeout == OnTimeout::Approve;
            tracing::info!(session = %self.ctx.session, tool = %p.tool.qualified, call_id = %id, approve, "approval timed out");
            crate::metrics::metrics()
                .approval_decided(crate::metrics::Decider::Timeout, p.asked.elapsed());
            let record = Record::Approval {
                session: self.ctx.session.to_string(),
                call_id: id.clone(),
                approved: approve,
                always: false,
                decided_by: Identity::Timeout.to_string(),
                reason: None,
                latency_ms: p.asked.elapsed().as_millis() as u64,
            };
            if self.journal_first(record, &p.call, &p.tool, &p.agent).await {
                if approve {
                    self.run_tool(p.call, p.tool, p.agent, true, None);
                } else {
                    self.reject(p.call, &p.tool, &p.agent);
                }
            }
        }
    }

    pub(super) async fn decide(
        &mut self,
        call_id: &str,
        answer: Answer,
    ) -> Result<(), SessionError> {
        let Some(p) = self.pending.remove(call_id) else {
            return Err(SessionError::UnknownCall {
                session: self.ctx.session.to_string(),
                call_id: call_id.to_string(),
            });
        };
        self.notify(Notice::ApprovalSettled {
            call_id: call_id.to_string(),
            session: self.ctx.session.clone(),
        });
        let Answer {
            approve,
            always,
            remember_for_agent,
            reason,
            decider,
        } = answer;
        let always = always || remember_for_agent;
        let latency_ms = p.asked.elapsed().as_millis() as u64;
        crate::metrics::metrics()
            .approval_decided(crate::metrics::Decider::of(&decider), p.asked.elapsed());
        tracing::info!(session = %self.ctx.session, tool = %p.tool.qualified, %call_id, approve, always, remember_for_agent, %decider, latency_ms, "approval decided");
        let record = Record::Approval {
            session: self.ctx.session.to_string(),
            call_id: call_id.to_string(),
            approved: approve,
            always,
            decided_by: decider.to_string(),
            reason,
            latency_ms,
        };
        if !self.journal_first(record, &p.call, &p.tool, &p.agent).await {
            return Ok(());
        }
        if remember_for_agent {
            let remember = Record::Remember {
                agent: p.agent.name().to_string(),
                tool: p.tool.qualified.clone(),
                policy_hash: p.agent.config.approval.fingerprint(),
                approve,
                decided_by: decider.to_string(),
            };
            // This call's decision is journaled; if the answer cannot be
            // kept for later sessions they will ask again, which is safe.
            if let Err(e) = self.ctx.journal.record(remember).await {
                tracing::error!(session = %self.ctx.session, %call_id, error = %e, "cannot remember the answer for the agent");
            }
        }
        if always {
            self.always.insert(p.tool.qualified.clone(), approve);
        }
        if approve {
            self.run_tool(p.call, p.tool, p.agent, true, None);
        } else {
            self.reject(p.call, &p.tool, &p.agent);
        }
        Ok(())
    }
}
