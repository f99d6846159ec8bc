//! The running daemon: the current catalog, the plugin host, the offline
//! model and the table of sessions. Control requests act through it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::catalog::Catalog;
use crate::config::{Provider, SettingsOverlay};
use crate::control::api::ReloadReport;
use crate::plugin::PluginHost;
use crate::realtime::scenario::{Scenario, ScenarioServer};
use crate::realtime::sim::SimServer;
use crate::reload::{ReloadOutcome, Trigger};
use crate::session::{self, SessionError, SessionHandle, SessionOptions};
use crate::store::Journal;

/// Why the daemon could not start its model servers.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot start the offline model: {0}")]
    Sim(std::io::Error),
    #[error("model `{model}`: cannot start its scenario: {reason}")]
    Scenario { model: String, reason: String },
}

/// How many ended sessions stay readable (events, history) before the oldest go.
const KEPT_CLOSED_SESSIONS: usize = 256;

/// Shared daemon state; one per process.
pub struct Daemon {
    pub started_ms: u64,
    pub host: PluginHost,
    pub journal: Journal,
    catalog: RwLock<Arc<Catalog>>,
    sim: Option<SimServer>,
    /// Scenario servers of sim models with a `scenario`, by model name.
    scenarios: BTreeMap<String, ScenarioServer>,
    sessions: Mutex<BTreeMap<String, (u64, SessionHandle)>>,
    counter: AtomicU64,
    /// Held for the whole of a reload, so reloads never interleave.
    pub(crate) reload_lock: tokio::sync::Mutex<()>,
    last_reload: Mutex<Option<ReloadReport>>,
}

impl Daemon {
    /// Wrap a built catalog; starts the offline model if any model uses it,
    /// and a scenario server for each sim model that names a scenario.
    pub async fn new(
        catalog: Catalog,
        host: PluginHost,
        journal: Journal,
    ) -> Result<Daemon, DaemonError> {
        let mut scenarios = BTreeMap::new();
        for m in catalog.config.models.values() {
            let Some(path) = &m.scenario else { continue };
            let scenario = Scenario::load(path).map_err(|e| DaemonError::Scenario {
                model: m.name.clone(),
                reason: e.to_string(),
            })?;
            let server =
                ScenarioServer::start(scenario)
                    .await
                    .map_err(|e| DaemonError::Scenario {
                        model: m.name.clone(),
                        reason: e.to_string(),
                    })?;
            tracing::info!(model = %m.name, scenario = %path.display(), "scenario server started");
            scenarios.insert(m.name.clone(), server);
        }
        let needs_sim = catalog
            .config
            .models
            .values()
            .any(|m| m.provider == Provider::Sim && m.scenario.is_none());
        let sim = if needs_sim {
            Some(SimServer::start().await.map_err(DaemonError::Sim)?)
        } else {
            None
        };
        Ok(Daemon {
            started_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            host,
            journal,
            catalog: RwLock::new(Arc::new(catalog)),
            sim,
            scenarios,
            sessions: Mutex::new(BTreeMap::new()),
            counter: AtomicU64::new(0),
            reload_lock: tokio::sync::Mutex::new(()),
            last_reload: Mutex::new(None),
        })
    }

    /// The current catalog snapshot.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replace the catalog in one step (see [`crate::reload`]); readers
    /// holding the old `Arc` keep it until they are done.
    pub(crate) fn swap_catalog(&self, catalog: Arc<Catalog>) {
        *self.catalog.write().unwrap_or_else(|p| p.into_inner()) = catalog;
    }

    /// Re-read the config and plugins; see [`crate::reload::reload`].
    pub async fn reload(&self, trigger: Trigger) -> (ReloadOutcome, ReloadReport) {
        crate::reload::reload(self, trigger).await
    }

    /// What the last reload did, if there was one.
    pub fn last_reload(&self) -> Option<ReloadReport> {
        self.last_reload
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_last_reload(&self, report: ReloadReport) {
        *self.last_reload.lock().unwrap_or_else(|p| p.into_inner()) = Some(report);
    }

    /// Start a session of `agent` (or the default agent).
    pub async fn start_session(
        &self,
        agent: Option<&str>,
        overrides: SettingsOverlay,
    ) -> Result<SessionHandle, SessionError> {
        let catalog = self.catalog();
        let agent = match agent {
            Some(a) => a.to_string(),
            None => catalog
                .config
                .default_agent()
                .ok_or_else(|| SessionError::UnknownAgent("(none configured)".into()))?
                .to_string(),
        };
        let model_name = catalog
            .agents
            .get(&agent)
            .ok_or_else(|| SessionError::UnknownAgent(agent.clone()))?
            .config
            .model
            .clone();
        let model = catalog
            .config
            .models
            .get(&model_name)
            .ok_or_else(|| SessionError::UnknownModel(model_name.clone()))?;
        let sim_url = match self.scenarios.get(&model.name) {
            Some(scenario) => Some(scenario.url(&model.model)),
            None => self.sim.as_ref().map(|s| s.url(&model.model)),
        };
        let endpoint = session::endpoint_for(model, sim_url.as_deref())?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        let id = format!("s{n}-{:06x}", rand::random::<u32>() & 0xff_ffff);
        let handle = session::start(
            &id,
            catalog,
            &agent,
            SessionOptions {
                endpoint,
                overrides,
                journal: self.journal.clone(),
            },
        )
        .await?;
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let closed: Vec<String> = sessions
            .iter()
            .filter(|(_, (_, h))| h.is_closed())
            .map(|(id, (n, _))| (*n, id.clone()))
            .collect::<BTreeMap<_, _>>()
            .into_values()
            .collect();
        if closed.len() >= KEPT_CLOSED_SESSIONS {
            for id in &closed[..closed.len() + 1 - KEPT_CLOSED_SESSIONS] {
                sessions.remove(id);
            }
        }
        sessions.insert(id, (n, handle.clone()));
        Ok(handle)
    }

    /// A session by id, live or recently ended.
    pub fn session(&self, id: &str) -> Option<SessionHandle> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.get(id).map(|(_, h)| h.clone())
    }

    /// All sessions, oldest first.
    pub fn sessions(&self) -> Vec<SessionHandle> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<_> = sessions.values().cloned().collect();
        all.sort_by_key(|(n, _)| *n);
        all.into_iter().map(|(_, h)| h).collect()
    }

    /// The live session holding pending call `call_id`, if any.
    pub async fn find_pending(&self, call_id: &str) -> Option<SessionHandle> {
        for h in self.sessions() {
            if !h.is_closed() && h.has_pending(call_id).await {
                return Some(h);
            }
        }
        None
    }

    /// Close every live session (on shutdown).
    pub async fn close_all(&self) {
        for h in self.sessions() {
            if !h.is_closed() {
                let _ = h.close().await;
            }
        }
    }
}
