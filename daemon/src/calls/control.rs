//! Call control on the provider's REST API, as documented for the
//! Realtime API: `POST {api_base}/realtime/calls/{call_id}/accept` (the
//! session settings), `/reject` (`{"status_code"}`), `/refer`
//! (`{"target_uri"}`), `/hangup`; `POST {api_base}/realtime/calls` for a
//! WebRTC offer (multipart `sdp` + `session`), and
//! `POST {api_base}/realtime/client_secrets` for an ephemeral key.
//!
//! The API key is read from the model's `api_key_env` for each request and
//! goes only into the `Authorization` header; errors carry the url and the
//! provider's status, never the key.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::rest::{self, Reply};
use crate::config::ModelConfig;

/// Where call control goes for one model.
#[derive(Clone)]
pub struct CallControl {
    pub api_base: String,
    api_key: Option<String>,
    ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for CallControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallControl")
            .field("api_base", &self.api_base)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Why a call-control request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ControlError {
    #[error("model `{0}` has no REST base (api_base) and no local server plays it")]
    NoApiBase(String),
    #[error("model `{model}` needs its API key in ${var}, which is not set")]
    MissingKey { model: String, var: String },
    #[error(transparent)]
    Rest(#[from] rest::RestError),
    #[error("{what} answered {status}: {body}")]
    Refused {
        what: String,
        status: u16,
        body: String,
    },
}

impl CallControl {
    /// Call control for `model`; `local_url` is the loopback realtime url of
    /// the daemon's own server for a sim model.
    pub fn for_model(
        model: &ModelConfig,
        local_url: Option<&str>,
    ) -> Result<CallControl, ControlError> {
        let api_base = match (&model.api_base, local_url) {
            (Some(b), _) => b.clone(),
            (None, Some(local)) => crate::config::api_base_from_url(local),
            (None, None) => return Err(ControlError::NoApiBase(model.name.clone())),
        };
        let api_key = match &model.api_key_env {
            Some(var) => Some(std::env::var(var).map_err(|_| ControlError::MissingKey {
                model: model.name.clone(),
                var: var.clone(),
            })?),
            None => None,
        };
        Ok(CallControl {
            api_base,
            api_key,
            ca_file: model.ca_file.clone(),
        })
    }

    async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Reply, ControlError> {
        let url = format!("{}{path}", self.api_base);
        let reply = rest::post(
            &url,
            self.api_key.as_deref(),
            content_type,
            body,
            self.ca_file.as_deref(),
        )
        .await?;
        if !(200..300).contains(&reply.status) {
            let text = String::from_utf8_lossy(&reply.body);
            return Err(ControlError::Refused {
                what: format!("POST {path}"),
                status: reply.status,
                body: text.chars().take(300).collect(),
            });
        }
        Ok(reply)
    }

    async fn post_json(&self, path: &str, body: &Value) -> Result<Reply, ControlError> {
        self.post(path, "application/json", body.to_string().into_bytes())
            .await
    }

    pub async fn accept(&self, call_id: &str, session: &Value) -> Result<(), ControlError> {
        self.post_json(&format!("/realtime/calls/{call_id}/accept"), session)
            .await
            .map(drop)
    }

    pub async fn reject(&self, call_id: &str, status_code: u16) -> Result<(), ControlError> {
        self.post_json(
            &format!("/realtime/calls/{call_id}/reject"),
            &json!({"status_code": status_code}),
        )
        .await
        .map(drop)
    }

    pub async fn refer(&self, call_id: &str, target_uri: &str) -> Result<(), ControlError> {
        self.post_json(
            &format!("/realtime/calls/{call_id}/refer"),
            &json!({"target_uri": target_uri}),
        )
        .await
        .map(drop)
    }

    pub async fn hangup(&self, call_id: &str) -> Result<(), ControlError> {
        self.post_json(&format!("/realtime/calls/{call_id}/hangup"), &json!({}))
            .await
            .map(drop)
    }

    /// Relay a browser's SDP offer with the session settings; the SDP
    /// answer and the call id (the last segment of `Location`).
    pub async fn create_call(
        &self,
        sdp: &str,
        session: &Value,
    ) -> Result<(String, String), ControlError> {
        let session_text = session.to_string();
        let (content_type, body) = rest::multipart(&[
            ("sdp", "application/sdp", sdp),
            ("session", "application/json", &session_text),
        ]);
        let reply = self.post("/realtime/calls", &content_type, body).await?;
        let call_id = reply
            .location
            .as_deref()
            .and_then(|l| l.trim_end_matches('/').rsplit('/').next())
            .filter(|id| !id.is_empty())
            .ok_or_else(|| ControlError::Refused {
                what: "POST /realtime/calls".into(),
                status: reply.status,
                body: "the answer has no Location header naming the call".into(),
            })?
            .to_string();
        Ok((String::from_utf8_lossy(&reply.body).into_owned(), call_id))
    }

    /// An ephemeral key for `session` that lapses after `seconds`.
    pub async fn client_secret(
        &self,
        session: &Value,
        seconds: u64,
    ) -> Result<Value, ControlError> {
        let body = json!({"session": session, "expires_after": {"anchor": "created_at", "seconds": seconds}});
        let reply = self.post_json("/realtime/client_secrets", &body).await?;
        let v: Value = serde_json::from_slice(&reply.body).map_err(|e| ControlError::Refused {
            what: "POST /realtime/client_secrets".into(),
            status: reply.status,
            body: format!("not JSON: {e}"),
        })?;
        Ok(json!({"value": v["value"], "expires_at": v["expires_at"]}))
    }
}
