//! `POST /v1/reload`: reload agents.toml and the plugins now, like SIGHUP.
//! A rejection is a 422 whose message lists every error, one per line, as
//! `agentd check` prints them; the running config is unchanged.

use hyper::{Response, StatusCode};

use crate::control::errors::ApiError;
use crate::control::reply::{self, Body};
use crate::daemon::Daemon;
use crate::reload::{ReloadOutcome, Trigger};

pub async fn reload(daemon: &Daemon) -> Result<Response<Body>, ApiError> {
    let (outcome, report) = daemon.reload(Trigger::Api).await;
    if let ReloadOutcome::Rejected(_) = outcome {
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
