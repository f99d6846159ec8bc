//! Model servers the daemon runs itself: the offline model (`provider =
//! "sim"`) and one scenario server per sim model that names a `scenario`.
//!
//! They start at start-up for the models the config names, and after each
//! applied reload for models it added (or whose scenario file changed), so a
//! sim model added by reload works at once. Servers are never stopped while
//! the daemon runs: sessions of a removed model keep their connection until
//! they end.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::config::{Config, ModelConfig, Provider};
use crate::realtime::scenario::{Scenario, ScenarioServer};
use crate::realtime::sim::SimServer;

/// Why a model server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ModelServerError {
    #[error("cannot start the offline model: {0}")]
    Sim(std::io::Error),
    #[error("model `{model}`: cannot start its scenario {path}: {reason}")]
    Scenario {
        model: String,
        path: PathBuf,
        reason: String,
    },
}

/// The offline model and the scenario servers, owned by the supervisor.
#[derive(Default)]
pub struct ModelServers {
    sim: Option<SimServer>,
    /// By model name, with the scenario file each plays.
    scenarios: BTreeMap<String, (PathBuf, ScenarioServer)>,
}

impl ModelServers {
    /// Start what `config`'s sim models need and is not running yet. Every
    /// model is tried; the errors of those that failed are returned.
    pub async fn ensure(&mut self, config: &Config) -> Vec<ModelServerError> {
        let mut errors = Vec::new();
        for m in config.models.values() {
            if m.provider != Provider::Sim {
                continue;
            }
            match &m.scenario {
                Some(path) => {
                    if self
                        .scenarios
                        .get(&m.name)
                        .is_some_and(|(running, _)| running == path)
                    {
                        continue;
                    }
                    match start_scenario(m, path).await {
                        Ok(server) => {
                            tracing::info!(model = %m.name, scenario = %path.display(), "scenario server started");
                            self.scenarios
                                .insert(m.name.clone(), (path.clone(), server));
                        }
                        Err(e) => errors.push(e),
                    }
                }
                None if self.sim.is_none() => match SimServer::start().await {
                    Ok(sim) => {
                        tracing::info!(model = %m.name, "offline model started");
                        self.sim = Some(sim);
                    }
                    Err(e) => errors.push(ModelServerError::Sim(e)),
                },
                None => {}
            }
        }
        // Scripted transcripts follow every reload; connections opened
        // from now on get the new lines.
        if let Some(sim) = &self.sim {
            for m in config.models.values() {
                if m.provider == Provider::Sim && m.scenario.is_none() {
                    sim.set_transcripts(&m.name, m.transcripts.clone());
                }
            }
        }
        errors
    }

    /// The loopback url serving `model`, when the daemon serves it itself.
    pub fn local_url(&self, model: &ModelConfig) -> Option<String> {
        if model.provider != Provider::Sim {
            return None;
        }
        match (&model.scenario, self.scenarios.get(&model.name)) {
            (Some(_), Some((_, server))) => Some(server.url(&model.model)),
            (Some(_), None) => None,
            (None, _) => self
                .sim
                .as_ref()
                .map(|s| s.url_for(&model.model, &model.name)),
        }
    }
}

async fn start_scenario(
    m: &ModelConfig,
    path: &std::path::Path,
) -> Result<ScenarioServer, ModelServerError> {
    let failed = |reason: String| ModelServerError::Scenario {
        model: m.name.clone(),
        path: path.to_path_buf(),
        reason,
    };
    let owned = path.to_path_buf();
    // Reading and parsing the script is file I/O: off the reactor.
    let scenario = tokio::task::spawn_blocking(move || Scenario::load(&owned))
        .await
        .map_err(|e| failed(format!("loader task failed: {e}")))?
        .map_err(|e| failed(e.to_string()))?;
    ScenarioServer::start(scenario)
        .await
        .map_err(|e| failed(e.to_string()))
}
