//! The incoming-call webhook (`[sip] webhook_path` on the TCP listener).
//!
//! In order, each step failing closed: the signature and timestamp are
//! verified (401 and a log line naming why, nothing else happens); the
//! delivery id is deduplicated (a repeat is answered 200 and changes
//! nothing); the event is read; then the call is rejected with
//! `reject_status` when no route matches, `max_calls` calls are live or the
//! daemon is draining, and otherwise accepted with the settings its agent
//! would send and attached by sideband. The reply is 200 as soon as the
//! accept (or reject) has been answered; the sideband is opened after it.

use std::time::{SystemTime, UNIX_EPOCH};

use hyper::StatusCode;
use serde_json::{Value, json};

use super::routing::{sip_header, user_part};
use super::signature::{secret_key, verify};
use super::{CallControl, CallStatus, accept_settings, journal};
use crate::realtime::conversation::Media;
use crate::supervisor::Supervisor;

/// The headers of a delivery that matter.
pub struct Delivery<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub body: &'a [u8],
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Handle one delivery: the status and JSON body to answer.
pub async fn handle(daemon: &Supervisor, d: Delivery<'_>) -> (StatusCode, Value) {
    let catalog = daemon.catalog();
    let Some(sip) = catalog.config.sip.clone() else {
        return (
            StatusCode::NOT_FOUND,
            json!({"error": {"code": "not_found", "message": "phone calls are off"}}),
        );
    };
    let refuse = |why: String| {
        tracing::warn!(webhook_id = d.id.unwrap_or("-"), reason = %why, "webhook refused");
        (
            StatusCode::UNAUTHORIZED,
            json!({"error": {"code": "bad_signature", "message": why}}),
        )
    };
    let secret = match std::env::var(&sip.webhook_secret_env) {
        Ok(s) => s,
        Err(_) => {
            return refuse(format!(
                "the webhook secret (${}) is not set: every webhook is refused",
                sip.webhook_secret_env
            ));
        }
    };
    let key = match secret_key(&secret) {
        Ok(k) => k,
        Err(e) => return refuse(format!("${}: {e}", sip.webhook_secret_env)),
    };
    if let Err(e) = verify(&key, d.id, d.timestamp, d.signature, d.body, now()) {
        return refuse(e.to_string());
    }
    let id = d.id.unwrap_or_default();
    let calls = daemon.calls();
    if !calls.first_delivery(id) {
        tracing::info!(webhook_id = %id, "webhook delivered again; already handled");
        return (StatusCode::OK, json!({"duplicate": true}));
    }
    let event: Value = match serde_json::from_slice(d.body) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(webhook_id = %id, error = %e, "signed webhook is not JSON");
            return (
                StatusCode::BAD_REQUEST,
                json!({"error": {"code": "bad_request", "message": format!("body: {e}")}}),
            );
        }
    };
    if event["type"] != "realtime.call.incoming" {
        tracing::info!(webhook_id = %id, kind = %event["type"], "webhook event not handled");
        return (StatusCode::OK, json!({"ignored": event["type"]}));
    }
    let Some(call_id) = event["data"]["call_id"]
        .as_str()
        .filter(|c| !c.is_empty())
        .map(str::to_string)
    else {
        return (
            StatusCode::BAD_REQUEST,
            json!({"error": {"code": "bad_request", "message": "data.call_id is missing"}}),
        );
    };
    let headers = &event["data"]["sip_headers"];
    let callee = sip_header(headers, "To").map(user_part).unwrap_or_default();
    let caller = sip_header(headers, "From")
        .map(user_part)
        .unwrap_or_default();
    let mut status = CallStatus {
        channel: "sip".into(),
        call_id: call_id.clone(),
        caller: Some(caller.clone()),
        callee: Some(callee.clone()),
        agent: None,
        session: None,
        outcome: String::new(),
    };
    let agent = sip
        .route(&callee, &caller)
        .and_then(|a| catalog.agents.get(a))
        .cloned();
    let live = live_sip_calls(daemon).await;
    let refusal = if daemon.counts().await.draining {
        Some("the daemon is draining")
    } else if agent.is_none() {
        Some("no route matches")
    } else if live >= sip.max_calls {
        Some("max_calls calls are live")
    } else {
        None
    };
    // The model that answers: the route's agent's, else the [sip] model's.
    let model = agent
        .as_ref()
        .map(|a| a.model.clone())
        .or_else(|| catalog.config.models.get(&sip.model).cloned());
    let Some(model) = model else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": {"code": "no_model", "message": "the [sip] model is gone"}}),
        );
    };
    let local = daemon.local_url(&model.name).await;
    let control = match CallControl::for_model(&model, local.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(call = %call_id, error = %e, "cannot control calls");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": {"code": "call_control", "message": e.to_string()}}),
            );
        }
    };
    if let Some(why) = refusal {
        status.outcome = format!("rejected {}", sip.reject_status);
        tracing::info!(call = %call_id, %caller, %callee, reason = why, status = sip.reject_status, "call rejected");
        calls.put(status.clone(), true);
        journal(daemon.journal(), &status, true);
        crate::metrics::metrics().call_offered(crate::metrics::Channel::Sip, false);
        if let Err(e) = control.reject(&call_id, sip.reject_status).await {
            tracing::warn!(call = %call_id, error = %e, "reject failed");
            return (
                StatusCode::BAD_GATEWAY,
                json!({"error": {"code": "call_control", "message": e.to_string()}}),
            );
        }
        return (
            StatusCode::OK,
            json!({"call_id": call_id, "outcome": status.outcome, "reason": why}),
        );
    }
    let Some(agent) = agent else {
        // `refusal` is set whenever no agent was routed: not reached.
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": {"code": "internal", "message": "no agent was routed"}}),
        );
    };
    status.agent = Some(agent.name().to_string());
    status.outcome = "accepted".into();
    if !calls.put(status.clone(), true) {
        // A second delivery of the same call under another webhook id.
        tracing::info!(call = %call_id, "call already handled");
        return (StatusCode::OK, json!({"duplicate": true}));
    }
    let settings = accept_settings(&agent, Media::Sip);
    if let Err(e) = control.accept(&call_id, &settings).await {
        tracing::warn!(call = %call_id, error = %e, "accept failed");
        calls.set_outcome(&call_id, "accept failed", None);
        return (
            StatusCode::BAD_GATEWAY,
            json!({"error": {"code": "call_control", "message": e.to_string()}}),
        );
    }
    tracing::info!(call = %call_id, %caller, %callee, agent = %agent.name(), "call accepted");
    crate::metrics::metrics().call_offered(crate::metrics::Channel::Sip, true);
    journal(daemon.journal(), &status, false);
    let url = agent.model.url.clone().or(local).unwrap_or_default();
    let daemon2 = daemon.clone();
    tokio::spawn(async move {
        if let Err(e) = super::attach(&daemon2, &agent, &url, status, Media::Sip).await {
            tracing::warn!(call = %call_id, error = %e, "sideband did not attach; hanging up");
            let _ = control.hangup(&call_id).await;
            if let Some(c) =
                daemon2
                    .calls()
                    .set_outcome(&call_id, "hung up by agentd (no sideband)", None)
            {
                journal(daemon2.journal(), &c, true);
            }
        }
    });
    (StatusCode::OK, json!({"outcome": "accepted"}))
}

/// SIP calls whose session is still live (or still attaching).
async fn live_sip_calls(daemon: &Supervisor) -> usize {
    let mut n = 0;
    for c in daemon.calls().list() {
        if c.channel != "sip" || c.outcome != "accepted" {
            continue;
        }
        match &c.session {
            Some(s) => {
                if daemon.session(s).await.is_some_and(|h| !h.is_closed()) {
                    n += 1;
                }
            }
            None => n += 1,
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    /// The secret's variable, set once for this test process (no other test reads it).
    const VAR: &str = "AGENTD_UNIT_WEBHOOK_SECRET_DRAIN";

    #[tokio::test]
    async fn a_draining_daemon_rejects_new_calls_with_the_configured_status() {
        let secret = format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(b"drain-test-key")
        );
        // SAFETY: only this test reads or writes this variable.
        unsafe { std::env::set_var(VAR, &secret) };
        let text = format!(
            "[agents.a]\ninstructions = \"x\"\n[sip]\nwebhook_secret_env = \"{VAR}\"\nreject_status = 480\nroutes = [{{ agent = \"a\" }}]\n"
        );
        let config =
            crate::config::Config::parse(std::path::Path::new("/etc/agentd/agents.toml"), &text)
                .unwrap();
        let host = std::sync::Arc::new(crate::plugin::PluginHost::new().unwrap());
        let catalog = crate::catalog::Catalog::build(config, &host).await.unwrap();
        let daemon = Supervisor::start(catalog, host, crate::store::Journal::in_memory().unwrap())
            .await
            .unwrap();
        let local = daemon.local_url("default").await.unwrap();
        let sim = crate::config::api_base_from_url(&local);
        // The offline model makes the call and signs its webhook.
        let ask = json!({"to": "+1800", "webhook_url": "http://127.0.0.1:9/unused", "secret": secret, "deliver": false});
        let r = crate::calls::rest::post(
            &format!("{sim}/sim/calls"),
            None,
            "application/json",
            ask.to_string().into_bytes(),
            None,
        )
        .await
        .unwrap();
        let made: Value = serde_json::from_slice(&r.body).unwrap();
        let w = &made["webhook"];
        daemon.drain().await;
        let ts = w["timestamp"].as_u64().unwrap().to_string();
        let (status, reply) = handle(
            &daemon,
            Delivery {
                id: w["id"].as_str(),
                timestamp: Some(&ts),
                signature: w["signature"].as_str(),
                body: w["body"].as_str().unwrap().as_bytes(),
            },
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        assert_eq!(
            (reply["outcome"].as_str(), reply["reason"].as_str()),
            (Some("rejected 480"), Some("the daemon is draining"))
        );
        let call_id = made["call_id"].as_str().unwrap();
        let rec = sim_record(&sim, call_id).await;
        assert_eq!(
            (rec["state"].as_str(), &rec["rejects"][0]["status_code"]),
            (Some("rejected"), &json!(480))
        );
        assert_eq!(rec["accepts"], json!([]));
        assert_eq!(daemon.counts().await.live_sessions, 0);
    }

    async fn sim_record(sim: &str, call_id: &str) -> Value {
        let hostport = sim.trim_start_matches("http://").trim_end_matches("/v1");
        let mut s = tokio::net::TcpStream::connect(hostport).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        s.write_all(
            format!("GET /v1/sim/calls/{call_id} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        serde_json::from_str(out.split_once("\r\n\r\n").unwrap().1).unwrap()
    }
}
