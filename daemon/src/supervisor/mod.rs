//! The supervisor: the one owner of the daemon's state.
//!
//! One task ([`task`]) owns the serving catalog (published through a
//! `tokio::sync::watch` channel that sessions follow), the session table
//! ([`table`]), the index of calls waiting for a person ([`approvals`]), the
//! model servers the daemon runs itself ([`models`]) and the outcome of the
//! last reload. Everyone else — the control API, the file watcher, SIGHUP —
//! holds a [`Supervisor`] handle and sends it typed commands; sessions tell it
//! what it needs to know through [`Notice`]s, without waiting for it.
//!
//! Nothing slow runs on the supervisor task: a reload's [`reload::prepare`]
//! (compiling plugins can take seconds) runs in a task of its own and comes
//! back as a value to be published; a session's connection to its model is
//! made by the caller between planning the session and registering it.
//! Reloads never interleave: requests that arrive while one is prepared wait
//! for the next one, which starts after it.

pub mod approvals;
pub mod models;
pub mod table;
mod task;
pub use task::status_line;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot, watch};

use crate::catalog::Catalog;
use crate::config::SettingsOverlay;
use crate::plugin::PluginHost;
use crate::reload::{self, ReloadOutcome, Trigger};
use crate::session::{self, ExecutorHandle, Notice, SessionError, SessionHandle};
use crate::store::Journal;
pub use approvals::LookupError;
pub use models::ModelServerError;

/// What the supervisor task is asked to do.
enum Command {
    /// Everything needed to start a session of `agent` (the default agent when `None`).
    Plan {
        agent: Option<String>,
        reply: oneshot::Sender<Result<Plan, SessionError>>,
    },
    /// A session was started from a plan.
    Register(SessionHandle),
    Session {
        id: String,
        reply: oneshot::Sender<Option<SessionHandle>>,
    },
    Sessions(oneshot::Sender<Vec<SessionHandle>>),
    Counts(oneshot::Sender<Counts>),
    /// The executor holding pending call `call_id`.
    Pending {
        call_id: String,
        reply: oneshot::Sender<Result<ExecutorHandle, LookupError>>,
    },
    /// The executors holding pending calls.
    Holders(oneshot::Sender<Vec<ExecutorHandle>>),
    Reload {
        trigger: Trigger,
        reply: Option<oneshot::Sender<ReloadOutcome>>,
    },
    LastReload(oneshot::Sender<Option<ReloadOutcome>>),
    /// Take no new sessions from now on (see [`Supervisor::drain`]).
    Drain(oneshot::Sender<()>),
    /// The loopback url of the server the daemon runs for model `model`.
    LocalUrl {
        model: String,
        reply: oneshot::Sender<Option<String>>,
    },
}

/// How a session that drives a call connects: by sideband, to this url.
#[derive(Debug, Clone)]
pub struct CallSetup {
    /// The realtime WebSocket url with `?call_id=` in place of `?model=`.
    pub sideband_url: String,
    pub media: crate::realtime::conversation::Media,
    pub status: agentd_api::session::CallStatus,
}

/// A session, planned: started outside the supervisor task (connecting to a
/// model takes a network round trip), then registered.
struct Plan {
    id: String,
    agent: String,
    catalog: watch::Receiver<Arc<Catalog>>,
    endpoint: crate::realtime::client::Endpoint,
    notices: mpsc::UnboundedSender<Notice>,
}

/// Live sessions and waiting calls, daemon-wide.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub live_sessions: usize,
    pub pending_approvals: usize,
    /// The daemon takes no new sessions.
    pub draining: bool,
}

/// Why the supervisor could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    ModelServer(#[from] ModelServerError),
}

/// How the rest of the daemon reaches the supervisor. Cheap to clone.
#[derive(Clone)]
pub struct Supervisor {
    commands: mpsc::Sender<Command>,
    catalog: watch::Receiver<Arc<Catalog>>,
    journal: Journal,
    started_ms: u64,
    /// Phone and browser calls (the `calls` module owns their records).
    calls: Arc<crate::calls::Calls>,
    /// Set once a stop is asked for (`agentctl drain`); the daemon's main
    /// loop waits on it as it does on SIGTERM.
    stop: Arc<watch::Sender<bool>>,
    /// Every session's events join this stream and share its memory budget.
    events: session::EventHub,
    /// The plugin host, for what it reports (compile progress); its state is its own.
    host: Arc<PluginHost>,
}

impl Supervisor {
    /// Start the model servers `catalog` needs and the supervisor task.
    /// The task ends once every handle is dropped.
    pub async fn start(
        catalog: Catalog,
        host: Arc<PluginHost>,
        journal: Journal,
    ) -> Result<Supervisor, StartError> {
        Self::start_with_events(catalog, host, journal, session::EventHub::default()).await
    }

    /// Like [`Supervisor::start`], with the daemon-wide event hub (its memory
    /// budget and spill folder) given.
    pub async fn start_with_events(
        catalog: Catalog,
        host: Arc<PluginHost>,
        journal: Journal,
        events: session::EventHub,
    ) -> Result<Supervisor, StartError> {
        let mut models = models::ModelServers::default();
        if let Some(e) = models.ensure(&catalog.config).await.into_iter().next() {
            return Err(e.into());
        }
        let catalog = Arc::new(catalog);
        task::prune_cache(host.clone(), &catalog);
        let (catalog_tx, catalog_rx) = watch::channel(catalog);
        let (tx, rx) = mpsc::channel(256);
        let (notices_tx, notices_rx) = mpsc::unbounded_channel();
        let state = task::State::new(
            catalog_tx,
            host.clone(),
            models,
            notices_tx,
            journal.clone(),
        );
        tokio::spawn(state.run(rx, notices_rx));
        Ok(Supervisor {
            commands: tx,
            catalog: catalog_rx,
            journal,
            calls: Arc::default(),
            events,
            started_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            stop: Arc::new(watch::channel(false).0),
            host,
        })
    }

    /// The plugin host (compile progress, queue status).
    pub fn host(&self) -> &PluginHost {
        &self.host
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).await.ok()?;
        rx.await.ok()
    }

    /// The serving catalog.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.borrow().clone()
    }

    /// Every catalog generation as it is published (what sessions follow).
    pub fn catalogs(&self) -> watch::Receiver<Arc<Catalog>> {
        self.catalog.clone()
    }

    /// How the call tools of the session driving `call` act on it: through
    /// the `calls` module, recorded as done by the agent.
    fn call_hooks(&self, call: &agentd_api::session::CallStatus) -> session::CallHooks {
        let me = self.clone();
        let call_id = call.call_id.clone();
        let by = format!("agent {}", call.agent.as_deref().unwrap_or("?"));
        Arc::new(move |action| {
            let (me, call_id, by) = (me.clone(), call_id.clone(), by.clone());
            Box::pin(async move {
                match action {
                    session::CallAction::Transfer { target_uri } => {
                        crate::calls::transfer(&me, &call_id, &target_uri, &by, false)
                            .await
                            .map(|_| format!("The call was transferred to {target_uri}."))
                            .map_err(|e| e.to_string())
                    }
                    session::CallAction::HangUp => crate::calls::hang_up(&me, &call_id, &by, false)
                        .await
                        .map(|_| "The call was hung up.".to_string())
                        .map_err(|e| e.to_string()),
                }
            })
        })
    }

    /// The daemon's calls.
    pub fn calls(&self) -> Arc<crate::calls::Calls> {
        self.calls.clone()
    }

    /// The journal every session records into.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The daemon-wide event stream and budget.
    pub fn events(&self) -> &session::EventHub {
        &self.events
    }

    /// When the daemon started, ms since the Unix epoch.
    pub fn started_ms(&self) -> u64 {
        self.started_ms
    }

    /// Start a session of `agent` (or the default agent).
    pub async fn start_session(
        &self,
        agent: Option<&str>,
        overrides: SettingsOverlay,
    ) -> Result<SessionHandle, SessionError> {
        self.start_session_with(agent, overrides, None).await
    }

    /// The loopback url of the server the daemon runs for model `model`
    /// (the offline model or a scenario), if it runs one.
    pub async fn local_url(&self, model: &str) -> Option<String> {
        self.ask(|reply| Command::LocalUrl {
            model: model.to_string(),
            reply,
        })
        .await
        .flatten()
    }

    /// Start a session, attached by sideband to a call when `call` is given
    /// (a draining daemon refuses either).
    pub async fn start_session_with(
        &self,
        agent: Option<&str>,
        overrides: SettingsOverlay,
        call: Option<CallSetup>,
    ) -> Result<SessionHandle, SessionError> {
        let stopping = || SessionError::Ended("(the daemon is stopping)".into());
        let plan = self
            .ask(|reply| Command::Plan {
                agent: agent.map(str::to_string),
                reply,
            })
            .await
            .ok_or_else(stopping)??;
        let mut endpoint = plan.endpoint;
        let status = call.map(|c| {
            endpoint.url = c.sideband_url;
            endpoint.media = c.media;
            let mut status = c.status;
            status.session = Some(plan.id.clone());
            status
        });
        let call_hooks = status.as_ref().map(|s| self.call_hooks(s));
        let handle = session::start(
            &plan.id,
            plan.catalog,
            &plan.agent,
            session::SessionOptions {
                endpoint,
                overrides,
                journal: self.journal.clone(),
                notices: Some(plan.notices),
                call: status,
                call_hooks,
                events: self.events.clone(),
            },
        )
        .await?;
        self.commands
            .send(Command::Register(handle.clone()))
            .await
            .map_err(|_| stopping())?;
        Ok(handle)
    }

    /// A session by id, live or recently ended.
    pub async fn session(&self, id: &str) -> Option<SessionHandle> {
        self.ask(|reply| Command::Session {
            id: id.to_string(),
            reply,
        })
        .await
        .flatten()
    }

    /// All sessions, oldest first.
    pub async fn sessions(&self) -> Vec<SessionHandle> {
        self.ask(Command::Sessions).await.unwrap_or_default()
    }

    /// Live sessions and calls waiting for a person.
    pub async fn counts(&self) -> Counts {
        self.ask(Command::Counts).await.unwrap_or_default()
    }

    /// The executor holding pending call `call_id`, found through the index.
    pub async fn pending_call(&self, call_id: &str) -> Result<ExecutorHandle, LookupError> {
        self.ask(|reply| Command::Pending {
            call_id: call_id.to_string(),
            reply,
        })
        .await
        .unwrap_or_else(|| Err(LookupError::Unknown(call_id.to_string())))
    }

    /// Prune the journal to the serving config's `[journal]` retention now
    /// and every [`crate::store::PRUNE_EVERY`]. The work runs on the
    /// journal's writer thread, never on the reactor; a reload that changes
    /// the retention applies from the next round.
    pub fn spawn_journal_pruning(&self) -> tokio::task::JoinHandle<()> {
        let journal = self.journal.clone();
        let catalog = self.catalog.clone();
        tokio::spawn(async move {
            loop {
                let retention = catalog.borrow().config.journal;
                if retention != crate::store::Retention::default() {
                    match journal.prune(retention).await {
                        Ok(p) if p.sessions > 0 => tracing::info!(
                            sessions = p.sessions,
                            bytes_before = p.bytes_before,
                            bytes_after = p.bytes_after,
                            "journal pruned"
                        ),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "cannot prune the journal"),
                    }
                }
                tokio::time::sleep(crate::store::PRUNE_EVERY).await;
            }
        })
    }

    /// Every call waiting for a person, daemon-wide, oldest first. The
    /// index names the executors holding them; each is asked for its own
    /// (outside the supervisor task, so a busy executor delays only this list).
    pub async fn pending_approvals(&self) -> Vec<crate::session::PendingApproval> {
        let holders = self.ask(Command::Holders).await.unwrap_or_default();
        let mut all = Vec::new();
        for status in futures_util::future::join_all(holders.iter().map(|h| h.status())).await {
            all.extend(status.pending);
        }
        all.sort_by(|a, b| (a.since_ms, &a.call_id).cmp(&(b.since_ms, &b.call_id)));
        all
    }

    /// Re-read the config and plugins; resolves once the outcome is known
    /// (and, when applied, published to every session).
    pub async fn reload(&self, trigger: Trigger) -> Option<ReloadOutcome> {
        self.ask(|reply| Command::Reload {
            trigger,
            reply: Some(reply),
        })
        .await
    }

    /// Ask for a reload without waiting for it (the watcher, SIGHUP).
    pub fn request_reload(&self, trigger: Trigger) {
        if self
            .commands
            .try_send(Command::Reload {
                trigger,
                reply: None,
            })
            .is_err()
        {
            tracing::warn!(
                trigger = trigger.as_str(),
                "reload request dropped: the supervisor is busy or stopping"
            );
        }
    }

    /// What the last reload did, if there was one.
    pub async fn last_reload(&self) -> Option<ReloadOutcome> {
        self.ask(Command::LastReload).await.flatten()
    }

    /// Stop taking new sessions: starting one fails with
    /// [`SessionError::Draining`] from now on; live ones go on.
    pub async fn drain(&self) {
        let _ = self.ask(Command::Drain).await;
    }

    /// Ask the daemon to drain and stop, as SIGTERM does (`POST /v1/drain`).
    pub fn request_stop(&self) {
        self.stop.send_replace(true);
    }

    /// Resolves once a stop was asked for with [`Self::request_stop`].
    pub async fn stop_requested(&self) {
        let mut rx = self.stop.subscribe();
        // The sender lives as long as `self`: the error arm cannot happen.
        let _ = rx.wait_for(|asked| *asked).await;
    }

    /// Close every live session (on shutdown), all at once.
    pub async fn close_all(&self) {
        let live: Vec<SessionHandle> = self
            .sessions()
            .await
            .into_iter()
            .filter(|h| !h.is_closed())
            .collect();
        futures_util::future::join_all(live.iter().map(|h| h.close())).await;
    }

    /// Watch the config and plugin files (unless `[daemon] watch = false`)
    /// and reload after each burst of changes.
    pub fn spawn_watcher(&self) -> Result<tokio::task::JoinHandle<()>, reload::watch::WatchError> {
        let me = self.clone();
        reload::watch::spawn_watcher(self.catalogs(), move || me.request_reload(Trigger::Watch))
    }
}

/// A supervisor with one agent `a`, no plugins and an in-memory journal,
/// for unit tests of what runs on top of it.
#[cfg(test)]
pub(crate) async fn test_supervisor() -> Supervisor {
    let config = crate::config::Config::parse(
        std::path::Path::new("/etc/agentd/agents.toml"),
        "[agents.a]\ninstructions = \"x\"\n",
    )
    .unwrap();
    let host = Arc::new(PluginHost::new().unwrap());
    let catalog = Catalog::build(config, &host).await.unwrap();
    Supervisor::start(catalog, host, Journal::in_memory().unwrap())
        .await
        .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn supervisor() -> Supervisor {
        super::test_supervisor().await
    }

    #[tokio::test]
    async fn a_draining_daemon_takes_no_new_sessions() {
        let sup = supervisor().await;
        let live = sup
            .start_session(None, SettingsOverlay::default())
            .await
            .unwrap();
        assert!(!sup.counts().await.draining);
        sup.drain().await;
        let counts = sup.counts().await;
        assert!(counts.draining);
        assert_eq!(counts.live_sessions, 1);
        let refused = sup
            .start_session(Some("a"), SettingsOverlay::default())
            .await
            .err();
        assert!(
            matches!(refused, Some(SessionError::Draining)),
            "{refused:?}"
        );
        // The live session goes on.
        live.send_text("still here".into()).await.unwrap();
        live.close().await.unwrap();
    }

    #[tokio::test]
    async fn unknown_agents_and_calls_are_named() {
        let sup = supervisor().await;
        let err = sup
            .start_session(Some("nobody"), SettingsOverlay::default())
            .await
            .err();
        assert!(
            matches!(&err, Some(SessionError::UnknownAgent(a)) if a == "nobody"),
            "{err:?}"
        );
        assert_eq!(
            sup.pending_call("call_9").await.err(),
            Some(LookupError::Unknown("call_9".into()))
        );
        assert!(sup.session("s404").await.is_none());
    }
}
