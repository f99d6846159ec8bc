//! Where a model connection goes and what it presents there: the URL, the
//! bearer key, extra headers, the tracing setting and the keepalive policy.
//!
//! An [`Endpoint`] is built from a validated `[models.X]` entry at the moment
//! a session starts ([`Endpoint::for_model`]): that is when the API key is
//! read from its environment variable, so a key set or rotated after
//! start-up is used by the next session. The key never leaves this type in
//! readable form except in the `Authorization` header: its `Debug` prints
//! `<redacted>`, and header values are left out of it too (they may hold
//! credentials of their own).

use std::path::PathBuf;

use serde_json::Value;

use crate::config::{ModelConfig, Resilience};

/// Where and how to connect.
#[derive(Clone)]
pub struct Endpoint {
    pub url: String,
    /// Sent as `Authorization: Bearer …`; never logged.
    pub api_key: Option<String>,
    pub headers: Vec<(String, String)>,
    /// `session.tracing` sent in a second `session.update` after each
    /// `session.created`, as the reference does; `None` sends nothing.
    pub tracing: Option<Value>,
    /// Keepalive and reconnect policy.
    pub resilience: Resilience,
    /// PEM file of extra CAs trusted for `wss://` (beside the built-in roots).
    pub ca_file: Option<PathBuf>,
    /// Where the audio travels: this socket, or a call's media path (a sideband).
    pub media: crate::realtime::conversation::Media,
}

/// Why no endpoint could be built for a model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EndpointError {
    #[error("model `{model}` has no url and no local server plays it")]
    NoUrl { model: String },
    #[error("model `{model}` needs its API key in ${var}, which is not set")]
    MissingApiKey { model: String, var: String },
}

impl Endpoint {
    /// The endpoint of `model`: its own `url`, else `local_url` (the
    /// daemon's offline model or scenario server for a sim model). The API
    /// key is read from `api_key_env` now.
    pub fn for_model(
        model: &ModelConfig,
        local_url: Option<&str>,
    ) -> Result<Endpoint, EndpointError> {
        let url = match (&model.url, local_url) {
            (Some(u), _) => u.clone(),
            (None, Some(local)) => local.to_string(),
            (None, None) => {
                return Err(EndpointError::NoUrl {
                    model: model.name.clone(),
                });
            }
        };
        let api_key = match &model.api_key_env {
            Some(var) => Some(
                std::env::var(var).map_err(|_| EndpointError::MissingApiKey {
                    model: model.name.clone(),
                    var: var.clone(),
                })?,
            ),
            None => None,
        };
        Ok(Endpoint {
            url,
            api_key,
            headers: model
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            // `tracing = false` on the model removes tracing from the settings.
            tracing: model.tracing.then(|| Value::from("auto")),
            resilience: model.resilience.clone(),
            ca_file: model.ca_file.clone(),
            media: Default::default(),
        })
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("tracing", &self.tracing)
            .field("resilience", &self.resilience)
            .field("ca_file", &self.ca_file)
            .field("media", &self.media)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn models(text: &str) -> Config {
        Config::parse(std::path::Path::new("/test/agents.toml"), text)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn an_endpoint_carries_the_model_settings_and_reads_the_key_now() {
        // PATH is set wherever cargo runs tests: it stands in for a key.
        let key = std::env::var("PATH").expect("PATH is set");
        let c = models(
            r#"[models.remote]
provider = "openai"
url = "wss://realtime.example/v1/realtime"
api_key_env = "PATH"
headers = { "OpenAI-Project" = "proj_secret_value" }
tracing = false
reconnect_attempts = 2
"#,
        );
        let e = Endpoint::for_model(&c.models["remote"], Some("ws://127.0.0.1:1/")).unwrap();
        assert_eq!(e.url, "wss://realtime.example/v1/realtime");
        assert_eq!(e.api_key.as_deref(), Some(key.as_str()));
        assert_eq!(
            e.headers,
            [(
                "OpenAI-Project".to_string(),
                "proj_secret_value".to_string()
            )]
        );
        assert_eq!(e.tracing, None);
        assert_eq!(e.resilience.max_attempts, 2);
        let shown = format!("{e:?}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains(&key), "{shown}");
        assert!(!shown.contains("proj_secret_value"), "{shown}");

        // A sim model has no url of its own: it goes where the daemon serves it.
        let local = Endpoint::for_model(&c.models["default"], Some("ws://127.0.0.1:1/")).unwrap();
        assert_eq!(
            (local.url.as_str(), local.api_key, local.tracing),
            ("ws://127.0.0.1:1/", None, Some(Value::from("auto")))
        );
    }

    #[test]
    fn a_missing_key_or_url_names_the_model() {
        let c = models(
            r#"[models.remote]
provider = "openai"
api_key_env = "AGENTD_TEST_SURELY_UNSET_KEY"
"#,
        );
        assert_eq!(
            Endpoint::for_model(&c.models["remote"], None).unwrap_err(),
            EndpointError::MissingApiKey {
                model: "remote".into(),
                var: "AGENTD_TEST_SURELY_UNSET_KEY".into()
            }
        );
        let e = Endpoint::for_model(&c.models["default"], None).unwrap_err();
        assert_eq!(
            e,
            EndpointError::NoUrl {
                model: "default".into()
            }
        );
        assert!(e.to_string().contains("`default`"), "{e}");
    }
}
