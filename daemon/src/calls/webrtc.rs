//! Browser calls. A browser's SDP offer is relayed to the provider's
//! `/realtime/calls` as multipart `sdp` + `session` (the agent's settings)
//! with the API key; the SDP answer goes back to the browser and the call id
//! (the last segment of the answer's `Location`) gets a sideband session.
//! For a browser that calls the provider itself, an ephemeral key with the
//! agent's settings is minted instead, and an operator attaches a sideband
//! to the call it started, once per call id. The API key never leaves the
//! daemon: neither the answer, the ephemeral key's reply nor an error holds it.

use super::{CallError, CallStatus, accept_settings, attach, journal, model_of};
use crate::catalog::Agent;
use crate::realtime::conversation::Media;
use crate::supervisor::Supervisor;

/// How long a minted ephemeral key lives.
pub const CLIENT_SECRET_SECONDS: u64 = 600;

fn agent(daemon: &Supervisor, name: Option<&str>) -> Result<std::sync::Arc<Agent>, CallError> {
    let catalog = daemon.catalog();
    let name = match name {
        Some(n) => n.to_string(),
        None => catalog
            .config
            .default_agent()
            .ok_or_else(|| CallError::UnknownAgent("(none configured)".into()))?
            .to_string(),
    };
    catalog
        .agents
        .get(&name)
        .cloned()
        .ok_or(CallError::UnknownAgent(name))
}

/// What a relayed offer produced.
pub struct Answer {
    pub sdp: String,
    pub call_id: String,
    pub session: String,
}

/// Relay `sdp` for agent `name`, then attach a sideband to the new call.
pub async fn offer(
    daemon: &Supervisor,
    name: Option<&str>,
    sdp: &str,
) -> Result<Answer, CallError> {
    if daemon.counts().await.draining {
        crate::metrics::metrics().call_offered(crate::metrics::Channel::Webrtc, false);
        return Err(crate::session::SessionError::Draining.into());
    }
    let agent = agent(daemon, name)?;
    let (control, url) = model_of(daemon, &agent).await?;
    let settings = accept_settings(&agent, Media::WebRtc);
    let (answer, call_id) = control.create_call(sdp, &settings).await?;
    let status = CallStatus {
        channel: "webrtc".into(),
        call_id: call_id.clone(),
        caller: None,
        callee: None,
        agent: Some(agent.name().to_string()),
        session: None,
        outcome: "accepted".into(),
    };
    daemon.calls().put(status.clone(), false);
    journal(daemon.journal(), &status, false);
    let handle = attach(daemon, &agent, &url, status, Media::WebRtc).await?;
    crate::metrics::metrics().call_offered(crate::metrics::Channel::Webrtc, true);
    Ok(Answer {
        sdp: answer,
        call_id,
        session: handle.id.to_string(),
    })
}

/// An ephemeral key with agent `name`'s settings.
pub async fn client_secret(
    daemon: &Supervisor,
    name: Option<&str>,
) -> Result<serde_json::Value, CallError> {
    let agent = agent(daemon, name)?;
    let (control, _) = model_of(daemon, &agent).await?;
    let settings = accept_settings(&agent, Media::WebRtc);
    Ok(control
        .client_secret(&settings, CLIENT_SECRET_SECONDS)
        .await?)
}

/// Attach a sideband session of agent `name` to a call a client started.
pub async fn attach_existing(
    daemon: &Supervisor,
    call_id: &str,
    name: Option<&str>,
    by: &str,
) -> Result<String, CallError> {
    let agent = agent(daemon, name)?;
    let (_, url) = model_of(daemon, &agent).await?;
    let status = CallStatus {
        channel: "webrtc".into(),
        call_id: call_id.to_string(),
        caller: None,
        callee: None,
        agent: Some(agent.name().to_string()),
        session: None,
        outcome: "accepted".into(),
    };
    if !daemon.calls().put(status.clone(), true) {
        return Err(CallError::AlreadyAttached(call_id.to_string()));
    }
    tracing::info!(call = %call_id, %by, "attaching to a client's call");
    match attach(daemon, &agent, &url, status, Media::WebRtc).await {
        // `attach` journaled the call with its session.
        Ok(handle) => {
            crate::metrics::metrics().call_offered(crate::metrics::Channel::Webrtc, true);
            Ok(handle.id.to_string())
        }
        Err(e) => {
            // Nothing is attached: the id may be tried again.
            daemon.calls().forget(call_id);
            Err(e)
        }
    }
}
