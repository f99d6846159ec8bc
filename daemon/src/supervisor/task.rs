//! The supervisor task: the loop that owns the daemon's state.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};

use super::approvals::ApprovalIndex;
use super::models::ModelServers;
use super::table::SessionTable;
use super::{Command, Counts, Plan};
use crate::catalog::Catalog;
use crate::plugin::PluginHost;
use crate::realtime::endpoint::Endpoint;
use crate::reload::{self, Prepared, ReloadOutcome, ReloadResult, Trigger};
use crate::session::{Notice, SessionError};
use crate::store::Journal;

/// Callers waiting for one reload's outcome.
type Waiters = Vec<oneshot::Sender<ReloadOutcome>>;

pub(super) struct State {
    catalog: watch::Sender<Arc<Catalog>>,
    host: Arc<PluginHost>,
    models: ModelServers,
    sessions: SessionTable,
    approvals: ApprovalIndex,
    notices: mpsc::UnboundedSender<Notice>,
    last_reload: Option<ReloadOutcome>,
    /// The reload being prepared: its trigger and who waits for it.
    reloading: Option<(Trigger, Waiters)>,
    /// Requests that came while one was prepared: served by the next one.
    queued: Option<(Trigger, Waiters)>,
    /// No new sessions are planned.
    draining: bool,
    /// Where reloads are recorded.
    journal: Journal,
    /// systemd hears of reloads (`RELOADING=1`, then `READY=1`).
    systemd: crate::systemd::Notifier,
}

impl State {
    pub(super) fn new(
        catalog: watch::Sender<Arc<Catalog>>,
        host: Arc<PluginHost>,
        models: ModelServers,
        notices: mpsc::UnboundedSender<Notice>,
        journal: Journal,
    ) -> State {
        State {
            catalog,
            host,
            models,
            sessions: SessionTable::default(),
            approvals: ApprovalIndex::default(),
            notices,
            last_reload: None,
            reloading: None,
            queued: None,
            draining: false,
            journal,
            systemd: crate::systemd::Notifier::from_env(),
        }
    }

    pub(super) async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut notices: mpsc::UnboundedReceiver<Notice>,
    ) {
        let (prepared_tx, mut prepared) = mpsc::channel::<Result<Prepared, Vec<String>>>(1);
        loop {
            tokio::select! {
                // Notices first: a pending call must be in the index before a
                // decision for it, sent after its event was seen, is looked up.
                biased;
                Some(notice) = notices.recv() => {
                    self.on_notice(notice);
                    crate::metrics::metrics().approvals_pending.set(self.approvals.len() as i64);
                }
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd, &prepared_tx),
                    None => break,
                },
                Some(result) = prepared.recv() => {
                    self.publish(result).await;
                    if let Some((trigger, waiters)) = self.queued.take() {
                        self.start_reload(trigger, waiters, &prepared_tx);
                    }
                }
            }
        }
        tracing::debug!("supervisor stopped");
    }

    fn on_notice(&mut self, notice: Notice) {
        match notice {
            Notice::ApprovalPending {
                call_id,
                session,
                executor,
            } => self.approvals.pending(call_id, session, executor),
            Notice::ApprovalSettled { call_id, session } => {
                self.approvals.settled(&call_id, &session)
            }
            Notice::Ended { session } => {
                self.approvals.session_ended(&session);
                self.sessions.ended(&session);
            }
        }
    }

    fn on_command(&mut self, cmd: Command, prepared: &mpsc::Sender<Result<Prepared, Vec<String>>>) {
        match cmd {
            Command::Plan { agent, reply } => {
                let _ = reply.send(self.plan(agent));
            }
            Command::Register(handle) => self.sessions.insert(handle),
            Command::Session { id, reply } => {
                let _ = reply.send(self.sessions.get(&id));
            }
            Command::Sessions(reply) => {
                let _ = reply.send(self.sessions.all());
            }
            Command::Counts(reply) => {
                let _ = reply.send(Counts {
                    live_sessions: self.sessions.live(),
                    pending_approvals: self.approvals.len(),
                    draining: self.draining,
                });
            }
            Command::Pending { call_id, reply } => {
                let _ = reply.send(self.approvals.find(&call_id));
            }
            Command::Holders(reply) => {
                let _ = reply.send(self.approvals.holders());
            }
            Command::Reload { trigger, reply } => {
                let waiters: Waiters = reply.into_iter().collect();
                if self.reloading.is_some() {
                    // The running one may have read the files before this
                    // request's change: it waits for the next.
                    match &mut self.queued {
                        Some((_, queued)) => queued.extend(waiters),
                        None => self.queued = Some((trigger, waiters)),
                    }
                } else {
                    self.start_reload(trigger, waiters, prepared);
                }
            }
            Command::LastReload(reply) => {
                let _ = reply.send(self.last_reload.clone());
            }
            Command::LocalUrl { model, reply } => {
                let catalog = self.catalog.borrow().clone();
                let url = catalog
                    .config
                    .models
                    .get(&model)
                    .and_then(|m| self.models.local_url(m));
                let _ = reply.send(url);
            }
            Command::Drain(reply) => {
                if !self.draining {
                    tracing::info!(live = self.sessions.live(), "draining: no new sessions");
                }
                self.draining = true;
                let _ = reply.send(());
            }
        }
    }

    /// Resolve the agent, its model and the model's endpoint for a new session.
    fn plan(&mut self, agent: Option<String>) -> Result<Plan, SessionError> {
        if self.draining {
            return Err(SessionError::Draining);
        }
        let catalog = self.catalog.borrow().clone();
        let agent = match agent {
            Some(a) => a,
            None => catalog
                .config
                .default_agent()
                .ok_or_else(|| SessionError::UnknownAgent("(none configured)".into()))?
                .to_string(),
        };
        let resolved = catalog
            .agents
            .get(&agent)
            .ok_or_else(|| SessionError::UnknownAgent(agent.clone()))?;
        let model = &resolved.model;
        let endpoint = Endpoint::for_model(model, self.models.local_url(model).as_deref())?;
        Ok(Plan {
            id: self.sessions.next_id(),
            agent,
            catalog: self.catalog.subscribe(),
            endpoint,
            notices: self.notices.clone(),
        })
    }

    fn start_reload(
        &mut self,
        trigger: Trigger,
        waiters: Waiters,
        prepared: &mpsc::Sender<Result<Prepared, Vec<String>>>,
    ) {
        self.systemd.reloading();
        let old = self.catalog.borrow().clone();
        let host = self.host.clone();
        let done = prepared.clone();
        self.reloading = Some((trigger, waiters));
        tokio::spawn(async move {
            let result = reload::prepare(&old, &host).await;
            let _ = done.send(result).await;
        });
    }

    /// A prepared reload: publish it (or not), record and answer the outcome.
    async fn publish(&mut self, result: Result<Prepared, Vec<String>>) {
        let Some((trigger, waiters)) = self.reloading.take() else {
            return;
        };
        let result = match result {
            Err(errors) => ReloadResult::Rejected(errors),
            Ok(Prepared { catalog, changes }) => {
                let catalog = Arc::new(catalog);
                // Models a reload added start before any session can ask for them.
                for e in self.models.ensure(&catalog.config).await {
                    tracing::error!(error = %e, "model server not started");
                }
                // Sessions follow this channel: each picks up its agent's new
                // definition before it handles its next command.
                let old = self.catalog.send_replace(catalog.clone());
                // A replaced or removed plugin's idle reused instances hold
                // instance slots and memory; sessions (and ended ones kept
                // readable) may hold the old plugin for long, so let them go now.
                for (name, p) in &old.plugins {
                    if !catalog.plugins.get(name).is_some_and(|n| Arc::ptr_eq(n, p)) {
                        p.retire_instances();
                    }
                }
                prune_cache(self.host.clone(), &catalog);
                if changes.is_empty() {
                    ReloadResult::Unchanged
                } else {
                    ReloadResult::Applied(changes)
                }
            }
        };
        let outcome = ReloadOutcome::new(trigger, result, &self.catalog.borrow());
        outcome.log();
        let serving = self.catalog.borrow().clone();
        self.systemd.notify(&format!(
            "READY=1\n{}",
            status_line(&serving, self.sessions.live())
        ));
        crate::metrics::metrics().reloaded(outcome.kind());
        self.journal
            .record_later(outcome.record(&self.catalog.borrow()));
        self.last_reload = Some(outcome.clone());
        for w in waiters {
            let _ = w.send(outcome.clone());
        }
    }
}

/// The `STATUS=` line systemd shows: agents, plugins, live sessions.
pub fn status_line(catalog: &Catalog, live: usize) -> String {
    format!(
        "STATUS=serving {} agents, {} plugins, {} live sessions",
        catalog.agents.len(),
        catalog.plugins.len(),
        live
    )
}

/// Drop compiled components no plugin of `catalog` uses (past the cache's
/// age or size bound), in the background: file I/O, never on this task.
pub(super) fn prune_cache(host: Arc<PluginHost>, catalog: &Catalog) {
    let in_use = catalog.plugins.values().map(|p| p.hash.clone()).collect();
    tokio::spawn(async move {
        match host.prune_cache(in_use).await {
            Ok(r) if !r.removed.is_empty() => tracing::info!(
                removed = r.removed.len(),
                removed_bytes = r.removed_bytes,
                remaining_bytes = r.remaining_bytes,
                "compiled-component cache pruned"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot prune the compiled-component cache"),
        }
    });
}
