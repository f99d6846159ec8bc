//! Callers reach agents: phone calls (SIP) and browsers (WebRTC), with
//! agentd as the server side of each call. The provider carries the media;
//! agentd accepts calls, drives each by a sideband WebSocket (`?call_id=`),
//! and from then on the call is an ordinary session (tools, approvals,
//! guardrails, handoffs, journal).
//!
//! - `signature`: Standard Webhooks verification of the incoming-call webhook;
//! - `routing`: the numbers in a call's SIP headers;
//! - `rest`, `control`: call control on the provider's REST API;
//! - `webhook`: `realtime.call.incoming` → verify, deduplicate, route, accept or reject;
//! - `webrtc`: relaying a browser's offer, ephemeral keys, attaching to a call;
//! - `switchboard` (this file): the calls the daemon knows and how each ended.
//!
//! [`Calls`] owns the daemon's call records and the webhook ids already
//! seen, behind one mutex held only to read or change them (never across an
//! await).

pub mod control;
pub mod rest;
pub mod routing;
pub mod signature;
pub mod webhook;
pub mod webrtc;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::catalog::Agent;
use crate::config::SettingsOverlay;
use crate::realtime::conversation::Media;
use crate::session::settings::{for_media, session_config};
use crate::store::{Journal, Record};
use crate::supervisor::{CallSetup, Supervisor};
pub use agentd_api::session::CallStatus;
pub use control::{CallControl, ControlError};

/// How long a webhook id is remembered: longer than the timestamp
/// tolerance, so a replay is either remembered or stale.
const SEEN_FOR: Duration = Duration::from_secs(2 * signature::TOLERANCE_SECS);

/// The daemon's calls and the webhook deliveries it has seen.
#[derive(Default)]
pub struct Calls {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    seen: HashMap<String, Instant>,
    calls: BTreeMap<String, CallStatus>,
}

impl Calls {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding it cannot leave the maps half-changed (each
        // change is one insert), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remember webhook `id`; false when it was seen already.
    pub fn first_delivery(&self, id: &str) -> bool {
        let mut inner = self.lock();
        let now = Instant::now();
        inner
            .seen
            .retain(|_, at| now.duration_since(*at) < SEEN_FOR);
        inner.seen.insert(id.to_string(), now).is_none()
    }

    /// Every call, by call id.
    pub fn list(&self) -> Vec<CallStatus> {
        self.lock().calls.values().cloned().collect()
    }

    pub fn get(&self, call_id: &str) -> Option<CallStatus> {
        self.lock().calls.get(call_id).cloned()
    }

    /// Record `status` (a new call, or a new outcome) unless the call is
    /// known and `only_new`; false when it was known.
    fn put(&self, status: CallStatus, only_new: bool) -> bool {
        let mut inner = self.lock();
        if only_new && inner.calls.contains_key(&status.call_id) {
            return false;
        }
        inner.calls.insert(status.call_id.clone(), status);
        true
    }

    /// Forget a call whose attach failed (so it may be attached again).
    fn forget(&self, call_id: &str) {
        self.lock().calls.remove(call_id);
    }

    fn set_outcome(
        &self,
        call_id: &str,
        outcome: &str,
        session: Option<&str>,
    ) -> Option<CallStatus> {
        let mut inner = self.lock();
        let c = inner.calls.get_mut(call_id)?;
        c.outcome = outcome.to_string();
        if let Some(s) = session {
            c.session = Some(s.to_string());
        }
        Some(c.clone())
    }
}

/// Journal a call's state.
fn journal(journal: &Journal, c: &CallStatus, ended: bool) {
    journal.record_later(Record::Call {
        call_id: c.call_id.clone(),
        channel: c.channel.clone(),
        caller: c.caller.clone(),
        callee: c.callee.clone(),
        agent: c.agent.clone(),
        session: c.session.clone(),
        outcome: c.outcome.clone(),
        ended,
    });
}

/// The `session` object `agent` would send on `media`, as the provider's
/// accept, call and client-secret bodies take it: always `type` and `model`.
pub fn accept_settings(agent: &Agent, media: Media) -> Value {
    let settings = for_media(
        session_config(agent, &SettingsOverlay::default(), true),
        media,
    );
    let mut v =
        serde_json::to_value(&settings).unwrap_or_else(|_| Value::Object(Default::default()));
    if let Some(o) = v.as_object_mut() {
        o.insert("type".into(), Value::from("realtime"));
        o.insert("model".into(), Value::from(agent.model.model.clone()));
        // Tracing is a separate update after connect, as for every session.
        o.remove("tracing");
    }
    v
}

/// The sideband url for `call_id`: the model's realtime url with
/// `?call_id=` in place of its query.
pub fn sideband_url(realtime_url: &str, call_id: &str) -> String {
    let base = realtime_url
        .split(['?', '#'])
        .next()
        .unwrap_or(realtime_url);
    format!("{base}?call_id={call_id}")
}

/// Why a call could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("no [sip] section: phone calls are off")]
    NoSip,
    #[error("no agent named `{0}`")]
    UnknownAgent(String),
    #[error("no call `{0}`")]
    UnknownCall(String),
    #[error("call `{0}` already has a session attached")]
    AlreadyAttached(String),
    #[error("`{0}` is not among [sip] transfer_targets")]
    TransferNotAllowed(String),
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error(transparent)]
    Session(#[from] crate::session::SessionError),
    #[error("{0}")]
    Other(String),
}

/// Call control and the realtime url for agent `agent`'s model.
async fn model_of(daemon: &Supervisor, agent: &Agent) -> Result<(CallControl, String), CallError> {
    let local = daemon.local_url(&agent.model.name).await;
    let control = CallControl::for_model(&agent.model, local.as_deref())?;
    let url = agent
        .model
        .url
        .clone()
        .or(local)
        .ok_or_else(|| CallError::Other(format!("model `{}` has no url", agent.model.name)))?;
    Ok((control, url))
}

/// Start the sideband session of an accepted call and record it.
pub async fn attach(
    daemon: &Supervisor,
    agent: &Agent,
    realtime_url: &str,
    mut status: CallStatus,
    media: Media,
) -> Result<crate::session::SessionHandle, CallError> {
    let setup = CallSetup {
        sideband_url: sideband_url(realtime_url, &status.call_id),
        media,
        status: status.clone(),
    };
    let handle = daemon
        .start_session_with(Some(agent.name()), SettingsOverlay::default(), Some(setup))
        .await?;
    status.session = Some(handle.id.to_string());
    let calls = daemon.calls();
    if let Some(c) = calls.set_outcome(&status.call_id, &status.outcome, Some(&handle.id)) {
        journal(daemon.journal(), &c, false);
    }
    tracing::info!(call = %status.call_id, channel = %status.channel, session = %handle.id, agent = %agent.name(), "call attached by sideband");
    watch_end(daemon.clone(), status.call_id.clone(), handle.clone());
    Ok(handle)
}

/// When the session ends, stamp the call's end (keeping its outcome, or
/// `ended by the provider` when nobody hung up or transferred it).
fn watch_end(daemon: Supervisor, call_id: String, handle: crate::session::SessionHandle) {
    tokio::spawn(async move {
        let (_, mut rx) = handle.bus.subscribe(u64::MAX);
        while !handle.is_closed() {
            match rx.recv().await {
                Ok(ev) if ev.is_closed() => {
                    break;
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
        let calls = daemon.calls();
        let current = calls.get(&call_id);
        let outcome = match current.as_ref().map(|c| c.outcome.as_str()) {
            Some("accepted") | None => "ended by the provider".to_string(),
            Some(o) => o.to_string(),
        };
        if let Some(c) = calls.set_outcome(&call_id, &outcome, None) {
            journal(daemon.journal(), &c, true);
        }
    });
}

/// The control for call `call_id` (from the agent that answered it).
async fn control_for(
    daemon: &Supervisor,
    call_id: &str,
) -> Result<(CallStatus, CallControl), CallError> {
    let c = daemon
        .calls()
        .get(call_id)
        .ok_or_else(|| CallError::UnknownCall(call_id.to_string()))?;
    let catalog = daemon.catalog();
    let agent = c
        .agent
        .as_deref()
        .and_then(|a| catalog.agents.get(a))
        .ok_or_else(|| CallError::UnknownCall(call_id.to_string()))?;
    let (control, _) = model_of(daemon, agent).await?;
    Ok((c, control))
}

/// Hang call `call_id` up, recording who did.
/// `close`: close its session too (an operator's request; an agent's call
/// tool ends its session itself, after its outcome is recorded).
pub async fn hang_up(
    daemon: &Supervisor,
    call_id: &str,
    by: &str,
    close: bool,
) -> Result<CallStatus, CallError> {
    let (c, control) = control_for(daemon, call_id).await?;
    control.hangup(call_id).await?;
    finish(daemon, &c, &format!("hung up by {by}"), close).await
}

/// Transfer call `call_id` to `target` (an allowed URI), recording it.
pub async fn transfer(
    daemon: &Supervisor,
    call_id: &str,
    target: &str,
    by: &str,
    close: bool,
) -> Result<CallStatus, CallError> {
    let catalog = daemon.catalog();
    let sip = catalog.config.sip.as_ref().ok_or(CallError::NoSip)?;
    if !sip.may_transfer_to(target) {
        return Err(CallError::TransferNotAllowed(target.to_string()));
    }
    let (c, control) = control_for(daemon, call_id).await?;
    control.refer(call_id, target).await?;
    tracing::info!(call = %call_id, %target, %by, "call transferred");
    finish(daemon, &c, &format!("transferred to {target}"), close).await
}

/// Record a call's final outcome and close its session.
async fn finish(
    daemon: &Supervisor,
    c: &CallStatus,
    outcome: &str,
    close: bool,
) -> Result<CallStatus, CallError> {
    let calls = daemon.calls();
    let updated = calls
        .set_outcome(&c.call_id, outcome, None)
        .ok_or_else(|| CallError::UnknownCall(c.call_id.clone()))?;
    journal(daemon.journal(), &updated, true);
    if close
        && let Some(s) = &c.session
        && let Some(h) = daemon.session(s).await
    {
        // The provider ends the sideband too; closing it here does not wait for that.
        let h = h.clone();
        tokio::spawn(async move {
            let _ = h.close().await;
        });
    }
    Ok(updated)
}
