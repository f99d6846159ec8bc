//! The tool executor: one task per session that owns every tool call from the
//! moment the model asks for it until its output leaves for the model.
//!
//! For each call it checks the arguments against the tool's schema, decides
//! (the tool's own `approval` setting or the agent's policy; an ask may be
//! settled by an earlier `always` answer or one remembered for the agent),
//! journals the decision
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

mod approvals;
mod runs;

use approvals::{Pending, Screened};
use runs::{Running, ToolRun};

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

use super::events::{EventBus, SessionEvent, ToolOutcome};
use super::{Notice, Notices, PendingApproval, SessionError};
use crate::catalog::{Agent, AgentTool};
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
        answer: Answer,
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

/// A person's answer to a pending call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub approve: bool,
    /// Apply it to later calls of the same tool in this session.
    pub always: bool,
    /// Also remember it for the agent, across sessions and restarts, while
    /// its approval policy stays the same (implies `always`).
    pub remember_for_agent: bool,
    /// The decider's reason, journaled with the decision.
    pub reason: Option<String>,
    pub decider: Identity,
}

impl Answer {
    /// A plain approve or reject for this call only.
    pub fn once(approve: bool, decider: Identity) -> Answer {
        Answer {
            approve,
            always: false,
            remember_for_agent: false,
            reason: None,
            decider,
        }
    }
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

    /// Approve or reject a pending call with `answer` (who decided, how far
    /// it reaches, why).
    pub async fn decide(&self, call_id: &str, answer: Answer) -> Result<(), SessionError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Decide {
                call_id: call_id.to_string(),
                answer,
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
    /// How the built-in call tools act on the session's call; `None` for a
    /// session that drives no call.
    pub call: Option<crate::session::CallHooks>,
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
    (handle, tokio::spawn(executor.run(rx).in_current_span()))
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

    /// Send a call's output once `committed` (its outcome's journal write)
    /// resolves: the model never has an output whose outcome a crash could
    /// lose. The wait runs in a task of its own so the executor goes on
    /// deciding meanwhile; the writer batches the commit with its neighbours.
    fn send_output_after(
        &self,
        committed: crate::store::Committed,
        call_id: String,
        output: String,
    ) {
        let to_model = self.ctx.to_model.clone();
        let session = self.ctx.session.clone();
        tokio::spawn(async move {
            if let Err(e) = committed.await {
                // The tool has run; withholding its output would only stall
                // the conversation. The error is the operator's to see.
                tracing::error!(%session, %call_id, error = %e, "journal write of a tool outcome failed");
            }
            // If the connection task is gone, its Closed event ends the session.
            let _ = to_model.send(ModelCommand::ToolOutput {
                call_id,
                output,
                start_response: true,
            });
        }.in_current_span());
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
                    Some(Command::Decide { call_id, answer, reply }) => {
                        let result = self.decide(&call_id, answer).await;
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
                since_ms: p.since_ms,
                session: Some(self.ctx.session.to_string()),
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
            // Not waited for: the model connection is closing, nothing is sent.
            drop(self.end(
                &p.agent,
                &p.tool,
                p.call,
                "session closed before the call was approved".into(),
                ToolOutcome::Rejected,
            ));
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
        let committed = self.end(agent, tool, call, output.clone(), outcome);
        self.send_output_after(committed, call_id, output);
    }

    /// Report a call's end to subscribers and the journal; the returned
    /// future resolves once the outcome is committed.
    fn end(
        &self,
        agent: &Agent,
        tool: &AgentTool,
        call: ToolCall,
        output: String,
        outcome: ToolOutcome,
    ) -> crate::store::Committed {
        if let crate::catalog::ToolImpl::Plugin(plugin) = &tool.runs
            && let Some(m) = plugin.tool_metrics.get(&tool.tool)
        {
            m.answered(match outcome {
                ToolOutcome::Completed => crate::metrics::ToolOutcomeLabel::Completed,
                ToolOutcome::Failed => crate::metrics::ToolOutcomeLabel::Failed,
                ToolOutcome::Rejected => crate::metrics::ToolOutcomeLabel::Rejected,
            });
        }
        let committed = self.ctx.journal.submit(Record::ToolResult {
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
        committed
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
}
