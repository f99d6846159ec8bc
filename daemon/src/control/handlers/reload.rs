//! `POST /v1/reload`: reload agents.toml and the plugins now, like SIGHUP.
//! A rejection is a 422 whose message lists every error, one per line, as
//! `agentd check` prints them; the running config is unchanged.

use hyper::{Response, StatusCode};

use crate::control::errors::ApiError;
use crate::control::reply::{self, Body};
use crate::reload::{ReloadOutcome, ReloadResult, Trigger};
use crate::supervisor::Supervisor;
use agentd_api::responses::ReloadReport;

pub async fn reload(daemon: &Supervisor) -> Result<Response<Body>, ApiError> {
    let outcome = daemon.reload(Trigger::Api).await.ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "stopping",
            "the daemon is stopping",
        )
    })?;
    let report = report(&outcome);
    if let ReloadResult::Rejected(_) = outcome.result {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reload_rejected",
            format!(
                "reload rejected; the running config is unchanged:\n{}",
                report.errors.join("\n")
            ),
        ));
    }
    Ok(reply::json(StatusCode::OK, &report))
}

/// What a reload did, as the API reports it (also `last_reload` in the status).
pub fn report(outcome: &ReloadOutcome) -> ReloadReport {
    let mut r = ReloadReport {
        trigger: outcome.trigger.as_str().to_string(),
        time_ms: outcome.time_ms,
        plugins_failed: outcome.plugins_failed.clone(),
        ..ReloadReport::default()
    };
    match &outcome.result {
        ReloadResult::Applied(c) => {
            r.outcome = "applied".into();
            r.agents_added = c.agents_added.clone();
            r.agents_removed = c.agents_removed.clone();
            r.agents_changed = c.agents_changed.clone();
            r.plugins_added = c.plugins_added.clone();
            r.plugins_removed = c.plugins_removed.clone();
            r.plugins_changed = c.plugins_changed.clone();
            r.models_added = c.models_added.clone();
            r.models_removed = c.models_removed.clone();
            r.models_changed = c.models_changed.clone();
            r.settings_changed = c.settings_changed;
        }
        ReloadResult::Unchanged => r.outcome = "unchanged".into(),
        ReloadResult::Rejected(errors) => {
            r.outcome = "rejected".into();
            r.errors = errors.clone();
        }
    }
    r
}
