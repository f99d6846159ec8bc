//! The tool executor: one task per session that owns every tool call from the
//! moment the model asks for it until its output leaves for the model.
//!
//! For each call it decides (the session's `always` answers, then the tool's
//! own `approval` setting, then the agent's policy), journals the decision
//! *before* acting on it (a journal that cannot record is a reason to refuse
//! the call), holds calls that wait for a person together with their
//! deadlines, runs tool guardrails and the tool in tasks of their own, and
//! sends each call's output to the model exactly once.
//!
//! Decisions reach it directly — from the control API through the daemon's
//! index of pending calls ([`super::Notice`]), never through the session task —
//! so approving a call never waits behind a busy session. The executor itself
//! only waits for journal commits.
//!
//! Ordering: calls run concurrently by default; with `async_tool_calls =
//! false` the session waits until each call is *settled* (answered, refused, or
//! put to a person) before it handles the model's next event, as the reference
//! does. How many plugin instances run at once, and how many calls may queue
//! for one, is the plugin host's business.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::events::{Direction, EventBus, SessionEvent, ToolOutcome};
use super::guardrails::{Trip, blocked_message, check_all, names};
use super::{Notice, Notices, PendingApproval, REJECTION_MESSAGE, SessionError, now_ms};
use crate::catalog::{Agent, AgentGuardrail, AgentTool};
use crate::plugin::{CallError, CallInfo, GuardrailSubject};
use crate::policy::Action;
use crate::realtime::client::ModelCommand;
use crate::store::{Journal, Record};
use agentd_api::Identity;

/// A function call from the model.
#[derive(Debug, Clone)]
pub(crate) struct ToolCall {
    pub call_id: String,
    /// The name the model called (`calc_add`).
    pub name: String,
    pub arguments: String,
}

enum Command {
    /// Boxed: a call is much larger than the other commands.
    Call(Box<NewCall>),
    Decide {
        call_id: String,
        approve: bool,
        always: bool,
        decider: Identity,
        reply: oneshot::Sender<Result<(), SessionError>>,
    },
    Status(oneshot::Sender<ExecutorStatus>),
    Shutdown(oneshot::Sender<()>),
}

struct NewCall {
    call: ToolCall,
    tool: AgentTool,
    agent: Arc<Agent>,
    settled: Option<oneshot::Sender<()>>,
}

/// How the session and the control API reach a session's executor.
#[derive(Clone)]
pub struct ExecutorHandle {
    session: Arc<str>,
    commands: mpsc::UnboundedSender<Command>,
}

impl std::fmt::Debug for ExecutorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExecutorHandle({})", self.session)
    }
}

/// The executor's share of a session's status.
#[derive(Debug, Default)]
pub(crate) struct ExecutorStatus {
    pub pending: Vec<PendingApproval>,
    pub running: usize,
}

impl ExecutorHandle {
    fn ended(&self) -> SessionError {
        SessionError::Ended(self.session.to_string())
    }

    /// The session this executor belongs to.
    pub fn session(&self) -> &str {
        &self.session
    }

    /// Approve or reject a pending call on behalf of `decider`; `always`
    /// applies to later calls of the same tool in this session.
    pub async fn decide(
        &self,
        call_id: &str,
        approve: bool,
        always: bool,
        decider: Identity,
    ) -> Result<(), SessionError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Decide {
                call_id: call_id.to_string(),
                approve,
                always,
                decider,
                reply,
            })
            .map_err(|_| self.ended())?;
        rx.await.map_err(|_| self.ended())?
    }

    /// Hand a call over; the receiver resolves once the call is settled.
    pub(crate) fn call(
        &self,
        call: ToolCall,
        tool: AgentTool,
        agent: Arc<Agent>,
    ) -> oneshot::Receiver<()> {
        let (settled, rx) = oneshot::channel();
        // A closed executor means the session is ending; the receiver then
        // resolves at once with an error, which callers treat as settled.
        let _ = self.commands.send(Command::Call(Box::new(NewCall {
            call,
            tool,
            agent,
            settled: Some(settled),
        })));
        rx
    }

    pub(crate) async fn status(&self) -> ExecutorStatus {
        let (reply, rx) = oneshot::channel();
        if self.commands.send(Command::Status(reply)).is_err() {
            return ExecutorStatus::default();
        }
        rx.await.unwrap_or_default()
    }

    /// Cancel running calls and report pending ones as rejected.
    pub(crate) async fn shutdown(&self) {
        let (reply, rx) = oneshot::channel();
        if self.commands.send(Command::Shutdown(reply)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// What the executor needs from its session.
pub(crate) struct ExecutorContext {
    pub session: Arc<str>,
    pub bus: Arc<EventBus>,
    pub journal: Journal,
    pub to_model: mpsc::UnboundedSender<ModelCommand>,
    pub notices: Option<Notices>,
}

/// Start a session's executor. The task ends on `shutdown`, or by itself when
/// one of its tool tasks died (a bug in agentd): then it returns the reason,
/// after reporting what it held, and the session ends with it.
pub(crate) fn spawn(ctx: ExecutorContext) -> (ExecutorHandle, tokio::task::JoinHandle<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = ExecutorHandle {
        session: ctx.session.clone(),
        commands: tx,
    };
    let executor = Executor {
        ctx,
        me: handle.commands.downgrade(),
        pending: HashMap::new(),
        always: HashMap::new(),
        running: JoinSet::new(),
        in_flight: HashMap::new(),
        screening: JoinSet::new(),
    };
    (handle, tokio::spawn(executor.run(rx)))
}

/// A call waiting for a person.
struct Pending {
    call: ToolCall,
    tool: AgentTool,
    agent: Arc<Agent>,
    deadline: Option<Instant>,
    expires_ms: Option<u64>,
}

/// A call being run (guardrails, then the tool), with whoever waits for it.
struct Running {
    call: ToolCall,
    tool: AgentTool,
    agent: Arc<Agent>,
    settled: Option<oneshot::Sender<()>>,
}

struct ToolRun {
    result: Result<String, ToolFailure>,
}

/// Why a tool call produced no output of its own.
enum ToolFailure {
    /// The plugin failed (error, trap, timeout, cap, queue full).
    Call(CallError),
    /// A tool guardrail refused it; the text is what the model is told.
    Blocked(String),
}

/// Tool guardrails that run before a person is asked.
struct Screened {
    call: ToolCall,
    tool: AgentTool,
    agent: Arc<Agent>,
    settled: Option<oneshot::Sender<()>>,
    tripped: Vec<Trip>,
}

struct Executor {
    ctx: ExecutorContext,
    /// Given to the supervisor with each pending call. Weak, so the task also
    /// ends when every handle is gone (a session that died without `shutdown`).
    me: mpsc::WeakUnboundedSender<Command>,
    pending: HashMap<String, Pending>,
    /// Per tool (`plugin.tool`): approve (true) or reject (false) without asking.
    always: HashMap<String, bool>,
    running: JoinSet<ToolRun>,
    /// Calls in `running`, by task id, so a task that dies still gets an answer to the model.
    in_flight: HashMap<tokio::task::Id, Running>,
    screening: JoinSet<Screened>,
}

fn settle(settled: Option<oneshot::Sender<()>>) {
    if let Some(s) = settled {
        let _ = s.send(());
    }
}

impl Executor {
    fn emit(&self, event: SessionEvent) {
        self.ctx.bus.publish(event);
    }

    fn notify(&self, notice: Notice) {
        if let Some(n) = &self.ctx.notices {
            // The supervisor outlives sessions; a closed channel means the daemon is stopping.
            let _ = n.send(notice);
        }
    }

    fn send_output(&self, call_id: &str, output: String) {
        // If the connection task is gone, its Closed event ends the session.
        let _ = self.ctx.to_model.send(ModelCommand::ToolOutput {
            call_id: call_id.to_string(),
            output,
            start_response: true,
        });
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().filter_map(|p| p.deadline).min()
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) -> String {
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(Command::Call(c)) => {
                        let NewCall { call, tool, agent, settled } = *c;
                        self.on_call(call, tool, agent, settled).await
                    }
                    Some(Command::Decide { call_id, approve, always, decider, reply }) => {
                        let result = self.decide(&call_id, approve, always, decider).await;
                        let _ = reply.send(result);
                    }
                    Some(Command::Status(reply)) => {
                        let _ = reply.send(self.status());
                    }
                    Some(Command::Shutdown(reply)) => {
                        self.stop().await;
                        let _ = reply.send(());
                        return "closed on request".into();
                    }
                    None => {
                        self.stop().await;
                        return "the session is gone".into();
                    }
                },
                Some(done) = self.running.join_next_with_id(), if !self.running.is_empty() => {
                    if let Err(reason) = self.on_tool_done(done) {
                        self.stop().await;
                        return reason;
                    }
                }
                Some(done) = self.screening.join_next(), if !self.screening.is_empty() => {
                    match done {
                        Ok(s) => self.on_screened(s),
                        Err(e) => self.emit(SessionEvent::Error {
                            code: None,
                            message: format!("Guardrail task failed: {e}"),
                        }),
                    }
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    self.expire().await;
                }
            }
        }
    }

    fn status(&self) -> ExecutorStatus {
        let mut pending: Vec<PendingApproval> = self
            .pending
            .values()
            .map(|p| PendingApproval {
                call_id: p.call.call_id.clone(),
                tool: p.tool.qualified.clone(),
                agent: p.agent.name().to_string(),
                arguments: p.call.arguments.clone(),
                expires_ms: p.expires_ms,
            })
            .collect();
        pending.sort_by(|a, b| a.call_id.cmp(&b.call_id));
        ExecutorStatus {
            pending,
            running: self.running.len(),
        }
    }

    /// Cancel what runs; report what waits as rejected (not sent: the model
    /// connection is closing).
    async fn stop(&mut self) {
        self.screening.shutdown().await;
        self.running.shutdown().await;
        for (_, r) in self.in_flight.drain() {
            settle(r.settled);
        }
        let mut pending: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        pending.sort_by(|a, b| a.call.call_id.cmp(&b.call.call_id));
        for p in pending {
            self.notify(Notice::ApprovalSettled {
                call_id: p.call.call_id.clone(),
                session: self.ctx.session.clone(),
            });
            self.end(
                &p.agent,
                &p.tool,
                p.call,
                "session closed before the call was approved".into(),
                ToolOutcome::Rejected,
            );
        }
    }

    /// A call's end: recorded and reported first, then its output leaves for
    /// the model — so the journal has the outcome of every output the model
    /// got, and subscribers see `tool_end` before the model's echo of it.
    fn answer(
        &self,
        agent: &Agent,
        tool: &AgentTool,
        call: ToolCall,
        output: String,
        outcome: ToolOutcome,
    ) {
        let call_id = call.call_id.clone();
        self.end(agent, tool, call, output.clone(), outcome);
        self.send_output(&call_id, output);
    }

    /// Report a call's end to subscribers and the journal.
    fn end(
        &self,
        agent: &Agent,
        tool: &AgentTool,
        call: ToolCall,
        output: String,
        outcome: ToolOutcome,
    ) {
        self.ctx.journal.record_later(Record::ToolResult {
            session: self.ctx.session.to_string(),
            call_id: call.call_id.clone(),
            outcome: outcome.as_str().to_string(),
            output: output.clone(),
        });
        self.emit(SessionEvent::ToolEnd {
            agent: agent.name().to_string(),
            tool: tool.qualified.clone(),
            call_id: call.call_id,
            arguments: call.arguments,
            output,
            outcome,
        });
    }

    /// Journal a decision before acting on it. A journal that cannot record
    /// is a reason not to act: the call is refused and the error reported.
    async fn journal_first(
        &self,
        record: Record,
        call: &ToolCall,
        tool: &AgentTool,
        agent: &Agent,
    ) -> bool {
        match self.ctx.journal.record(record).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(session = %self.ctx.session, call_id = %call.call_id, error = %e, "journal write failed; call refused");
                self.emit(SessionEvent::Error {
                    code: Some("journal_failed".into()),
                    message: format!("cannot record tool call {}: {e}", call.call_id),
                });
                let output = "error: the call could not be recorded, so it was not run".to_string();
                self.answer(agent, tool, call.clone(), output, ToolOutcome::Rejected);
                false
            }
        }
    }

    async fn on_call(
        &mut self,
        call: ToolCall,
        tool: AgentTool,
        agent: Arc<Agent>,
        settled: Option<oneshot::Sender<()>>,
    ) {
        let (decision, why) = match (self.always.get(&tool.qualified), tool.approval) {
            (Some(true), _) => (Action::Allow, "always approved in this session"),
            (Some(false), _) => (Action::Deny, "always rejected in this session"),
            (None, Some(true)) => (Action::Ask, "tool setting"),
            (None, Some(false)) => (Action::Allow, "tool setting"),
            (None, None) => (
                agent
                    .config
                    .approval
                    .decide(&tool.qualified, &call.arguments),
                "policy",
            ),
        };
        let record = Record::ToolCall {
            session: self.ctx.session.to_string(),
            call_id: call.call_id.clone(),
            agent: agent.name().to_string(),
            tool: tool.qualified.clone(),
            arguments: call.arguments.clone(),
            decision: format!("{} ({why})", decision.as_str()),
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

    fn call_info(&self, agent: &Agent, call: &ToolCall) -> CallInfo {
        CallInfo {
            session_id: self.ctx.session.to_string(),
            agent: agent.name().to_string(),
            call_id: call.call_id.clone(),
        }
    }

    fn on_screened(&mut self, s: Screened) {
        if s.tripped.is_empty() {
            self.ask(s.call, s.tool, s.agent);
        } else {
            self.block(s.call, &s.tool, &s.agent, &s.tripped);
        }
        settle(s.settled);
    }

    /// Refuse a call because tool guardrails tripped: the reasons go to the model.
    fn block(&self, call: ToolCall, tool: &AgentTool, agent: &Agent, tripped: &[Trip]) {
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
    fn ask(&mut self, call: ToolCall, tool: AgentTool, agent: Arc<Agent>) {
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
            },
        );
    }

    /// Run a call: tool guardrails first, then the tool, in a task of its own.
    /// `approved` skips guardrails that already ran before the person was asked.
    fn run_tool(
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
                let result = tool
                    .plugin
                    .call_tool(&tool.tool, &call.arguments, &info)
                    .await
                    .map_err(ToolFailure::Call);
                ToolRun { result }
            }
        };
        let handle = self.running.spawn(work);
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
    fn on_tool_done(
        &mut self,
        done: Result<(tokio::task::Id, ToolRun), tokio::task::JoinError>,
    ) -> Result<(), String> {
        match done {
            Ok((id, run)) => {
                if let Some(r) = self.in_flight.remove(&id) {
                    self.finish(r, run);
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

    fn finish(&mut self, r: Running, run: ToolRun) {
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

    fn rejection_message(agent: &Agent, tool: &AgentTool, call_id: &str) -> String {
        match &agent.config.rejection_message {
            Some(template) => template
                .replace("{tool}", &tool.qualified)
                .replace("{call_id}", call_id),
            None => REJECTION_MESSAGE.to_string(),
        }
    }

    fn reject(&self, call: ToolCall, tool: &AgentTool, agent: &Agent) {
        let message = Self::rejection_message(agent, tool, &call.call_id);
        self.answer(agent, tool, call, message, ToolOutcome::Rejected);
    }

    async fn decide(
        &mut self,
        call_id: &str,
        approve: bool,
        always: bool,
        decider: Identity,
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
        tracing::info!(session = %self.ctx.session, tool = %p.tool.qualified, %call_id, approve, always, %decider, "approval decided");
        let record = Record::Approval {
            session: self.ctx.session.to_string(),
            call_id: call_id.to_string(),
            approved: approve,
            always,
            reason: decider.to_string(),
        };
        if !self.journal_first(record, &p.call, &p.tool, &p.agent).await {
            return Ok(());
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

    async fn expire(&mut self) {
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
            tracing::info!(session = %self.ctx.session, tool = %p.tool.qualified, call_id = %id, "approval timed out; rejected");
            let record = Record::Approval {
                session: self.ctx.session.to_string(),
                call_id: id.clone(),
                approved: false,
                always: false,
                reason: Identity::Timeout.to_string(),
            };
            if self.journal_first(record, &p.call, &p.tool, &p.agent).await {
                self.reject(p.call, &p.tool, &p.agent);
            }
        }
    }
}
