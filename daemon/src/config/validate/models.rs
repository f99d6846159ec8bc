//! `[models.NAME]`: provider, url, key variable, TLS CA file, scenario
//! script, keepalive and reconnect keys (resilience), and the settings its
//! agents start from. A `default` sim model exists even when none is written.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_spanned::Spanned;

use super::Ctx;
use crate::config::raw;
use crate::config::{
    DEFAULT_MODEL, MAX_RECONNECT_ATTEMPTS, Modality, ModelConfig, Provider, Resilience,
    SettingsOverlay, api_base_from_url, parse_duration,
};

impl Ctx<'_> {
    /// Every `[models.NAME]`, plus the built-in `default` unless the file declares one.
    pub(super) fn models(
        &mut self,
        declared: &BTreeMap<raw::S, raw::RawModel>,
    ) -> BTreeMap<String, ModelConfig> {
        let mut models = BTreeMap::new();
        for (name, m) in declared {
            if let Some(model) = self.model(name, m) {
                models.insert(name.get_ref().clone(), model);
            }
        }
        models
            .entry(DEFAULT_MODEL.to_string())
            .or_insert_with(|| ModelConfig {
                name: DEFAULT_MODEL.to_string(),
                provider: Provider::Sim,
                url: None,
                api_base: None,
                model: "agentd-sim".to_string(),
                api_key_env: None,
                headers: BTreeMap::new(),
                tracing: true,
                ca_file: None,
                scenario: None,
                transcripts: Vec::new(),
                resilience: Resilience::default(),
                defaults: SettingsOverlay::default(),
            });
        models
    }

    fn model(&mut self, name: &Spanned<String>, m: &raw::RawModel) -> Option<ModelConfig> {
        let provider = match m.provider.as_ref().map(|p| p.get_ref().as_str()) {
            None | Some("sim") => Provider::Sim,
            Some("openai") => Provider::OpenAi,
            Some(other) => {
                let p = m.provider.as_ref()?;
                self.error(
                    p,
                    format!("unknown provider `{other}`; expected `sim` or `openai`"),
                );
                return None;
            }
        };
        let model = m
            .model
            .as_ref()
            .map(|s| s.get_ref().clone())
            .unwrap_or_else(|| match provider {
                Provider::Sim => "agentd-sim".to_string(),
                Provider::OpenAi => "gpt-realtime".to_string(),
            });
        let url = match (&provider, &m.url) {
            (Provider::Sim, Some(u)) => {
                self.error(u, "the sim provider runs on loopback and takes no `url`");
                None
            }
            (Provider::Sim, None) => None,
            (Provider::OpenAi, Some(u)) => {
                let v = u.get_ref();
                if !(v.starts_with("ws://") || v.starts_with("wss://")) {
                    self.error(u, format!("url `{v}` must start with ws:// or wss://"));
                }
                Some(v.clone())
            }
            (Provider::OpenAi, None) => {
                Some(format!("wss://api.openai.com/v1/realtime?model={model}"))
            }
        };
        let api_key_env = match provider {
            Provider::Sim => None,
            Provider::OpenAi => Some(
                m.api_key_env
                    .as_ref()
                    .map(|s| s.get_ref().clone())
                    .unwrap_or_else(|| "OPENAI_API_KEY".to_string()),
            ),
        };
        let ca_file = m.ca_file.as_ref().and_then(|c| {
            if provider == Provider::Sim {
                self.error(
                    c,
                    "the sim provider runs on loopback without TLS and takes no `ca_file`",
                );
                return None;
            }
            if !url.as_deref().is_some_and(|u| u.starts_with("wss://")) {
                self.error(c, "`ca_file` is only used with a wss:// url");
            }
            let path = self.path(c);
            if let Err(e) = crate::realtime::tls::read_ca_file(&path) {
                self.error(c, format!("ca_file: {e}"));
            }
            Some(path)
        });
        let scenario = m.scenario.as_ref().and_then(|sc| {
            if provider != Provider::Sim {
                self.error(
                    sc,
                    "`scenario` is played by the sim provider; set provider = \"sim\"",
                );
                return None;
            }
            let path = self.path(sc);
            match crate::realtime::scenario::Scenario::load(&path) {
                Ok(_) => Some(path),
                Err(e) => {
                    self.error(sc, e.to_string());
                    None
                }
            }
        });
        let transcripts = match &m.transcripts {
            Some(t) if provider != Provider::Sim => {
                self.error(
                    t,
                    "`transcripts` are spoken by the sim provider; set provider = \"sim\"",
                );
                Vec::new()
            }
            Some(t) if scenario.is_some() => {
                self.error(
                    t,
                    "`transcripts` are used by the offline model, not by a `scenario` (write the caller's lines in the script)",
                );
                Vec::new()
            }
            Some(t) => t.get_ref().clone(),
            None => Vec::new(),
        };
        let resilience = self.resilience(m);
        let defaults = self.overlay(name, &m.defaults);
        let api_base = match (&provider, &m.api_base) {
            (Provider::Sim, Some(b)) => {
                self.error(
                    b,
                    "the sim provider serves its REST routes on loopback and takes no `api_base`",
                );
                None
            }
            (Provider::Sim, None) => None,
            (Provider::OpenAi, Some(b)) => {
                let v = b.get_ref();
                if !(v.starts_with("http://") || v.starts_with("https://")) {
                    self.error(
                        b,
                        format!("api_base `{v}` must start with http:// or https://"),
                    );
                }
                Some(v.trim_end_matches('/').to_string())
            }
            (Provider::OpenAi, None) => url.as_deref().map(api_base_from_url),
        };
        Some(ModelConfig {
            name: name.get_ref().clone(),
            provider,
            url,
            api_base,
            model,
            api_key_env,
            headers: m.headers.clone(),
            tracing: m.tracing.unwrap_or(true),
            ca_file,
            scenario,
            transcripts,
            resilience,
            defaults,
        })
    }

    /// A duration key that must be more than zero, with where it was written.
    fn positive_duration<'v>(
        &mut self,
        key: &str,
        v: Option<&'v Spanned<String>>,
    ) -> Option<(Duration, &'v Spanned<String>)> {
        let v = v?;
        match parse_duration(v.get_ref()) {
            Ok(d) if d.is_zero() => self.error(v, format!("{key} must be more than zero")),
            Ok(d) => return Some((d, v)),
            Err(e) => self.error(v, format!("{key}: {e}")),
        }
        None
    }

    /// Keepalive and reconnect keys; each bad one is reported and left at its default.
    fn resilience(&mut self, m: &raw::RawModel) -> Resilience {
        let mut r = Resilience::default();
        let keepalive = self.positive_duration("keepalive", m.keepalive.as_ref());
        let dead_after = self.positive_duration("dead_after", m.dead_after.as_ref());
        let backoff = self.positive_duration("reconnect_backoff", m.reconnect_backoff.as_ref());
        let backoff_max =
            self.positive_duration("reconnect_backoff_max", m.reconnect_backoff_max.as_ref());
        if let Some((d, _)) = keepalive {
            r.ping_interval = d;
        }
        if let Some((d, at)) = dead_after {
            // Silence is judged at each ping: a limit under the ping interval
            // would declare a quiet but healthy model dead between two pings.
            if d <= r.ping_interval {
                self.error(
                    at,
                    format!(
                        "dead_after ({}) must be longer than keepalive ({:?})",
                        at.get_ref(),
                        r.ping_interval
                    ),
                );
            } else {
                r.dead_after = d;
            }
        } else if keepalive.is_some() {
            // Keep the default ratio (twice the ping interval) when only keepalive is set.
            r.dead_after = r.ping_interval * 2;
        }
        if let Some(n) = &m.reconnect_attempts {
            match u32::try_from(*n.get_ref()) {
                Ok(v) if v <= MAX_RECONNECT_ATTEMPTS => r.max_attempts = v,
                _ => self.error(
                    n,
                    format!("reconnect_attempts must be 0 to {MAX_RECONNECT_ATTEMPTS}"),
                ),
            }
        }
        if let Some((d, _)) = backoff {
            r.backoff_initial = d;
            r.backoff_max = r.backoff_max.max(d);
        }
        if let Some((d, at)) = backoff_max {
            if d < r.backoff_initial {
                self.error(
                    at,
                    format!(
                        "reconnect_backoff_max ({}) is shorter than reconnect_backoff ({:?})",
                        at.get_ref(),
                        r.backoff_initial
                    ),
                );
            } else {
                r.backoff_max = d;
            }
        }
        r
    }

    fn overlay(&mut self, at: &Spanned<String>, r: &raw::RawSettings) -> SettingsOverlay {
        let mut output_modalities = None;
        if let Some(list) = &r.output_modalities {
            let mut out = Vec::new();
            for m in list {
                match m.as_str() {
                    "audio" => out.push(Modality::Audio),
                    "text" => out.push(Modality::Text),
                    other => self.error(
                        at,
                        format!("defaults: unknown output modality `{other}`; expected `audio` or `text`"),
                    ),
                }
            }
            output_modalities = Some(out);
        }
        let overlay = SettingsOverlay {
            instructions: r.instructions.clone(),
            voice: r.voice.clone(),
            output_modalities,
        };
        if let Err(e) = overlay.validate() {
            self.error(at, format!("defaults: {e}"));
        }
        overlay
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::test_support::{assert_reported, messages, messages_at, parse};
    use crate::config::{Config, Resilience};

    #[test]
    fn ca_file_is_checked_where_it_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("agents.toml");
        std::fs::write(dir.path().join("not-pem.txt"), "hello\n").unwrap();
        let text = r#"[models.a]
provider = "openai"
url = "wss://models.internal/v1/realtime"
ca_file = "missing.pem"

[models.b]
provider = "openai"
url = "wss://models.internal/v1/realtime"
ca_file = "not-pem.txt"

[models.c]
provider = "openai"
url = "ws://models.internal/v1/realtime"
ca_file = "not-pem.txt"

[models.d]
provider = "sim"
ca_file = "x.pem"
"#;
        let m = messages_at(&config, text);
        let expect = [
            ("4:11", "ca_file: CA file "),
            ("9:11", "holds no `BEGIN CERTIFICATE` section"),
            ("14:11", "`ca_file` is only used with a wss:// url"),
            ("18:11", "the sim provider runs on loopback"),
        ];
        assert_reported(&m, &config, &expect);
        // models.c: its file is also not PEM, reported at the same place.
        assert_eq!(m.len(), expect.len() + 1, "{m:#?}");

        let key = rcgen::KeyPair::generate().unwrap();
        let ca = rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        let c = Config::parse(
        &config,
        "[models.a]\nprovider = \"openai\"\nurl = \"wss://models.internal/v1/realtime\"\nca_file = \"ca.pem\"\n",
    )
    .unwrap();
        assert_eq!(c.models["a"].ca_file, Some(dir.path().join("ca.pem")));
    }

    #[test]
    fn resilience_keys_reach_the_connection() {
        let c = parse(
            r#"[models.fast]
keepalive = "2s"
dead_after = "5s"
reconnect_attempts = 2
reconnect_backoff = "100ms"
reconnect_backoff_max = "1s"

[models.keepalive_only]
keepalive = "3s"
reconnect_backoff = "30s"
"#,
        )
        .unwrap();
        let want = Resilience {
            ping_interval: Duration::from_secs(2),
            dead_after: Duration::from_secs(5),
            max_attempts: 2,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
        };
        assert_eq!(c.models["fast"].resilience, want);
        let endpoint = crate::realtime::endpoint::Endpoint::for_model(
            &c.models["fast"],
            Some("ws://127.0.0.1:1/"),
        )
        .unwrap();
        assert_eq!(endpoint.resilience, want);
        // Unset keys keep their defaults; dead_after follows keepalive; the cap follows the start.
        let other = &c.models["keepalive_only"].resilience;
        assert_eq!(other.dead_after, Duration::from_secs(6));
        assert_eq!(other.backoff_max, Duration::from_secs(30));
        assert_eq!(other.max_attempts, Resilience::default().max_attempts);
        assert_eq!(c.models["default"].resilience, Resilience::default());
    }

    #[test]
    fn bad_resilience_keys_are_reported_where_they_are_written() {
        let text = r#"[models.a]
keepalive = "0s"
dead_after = "soon"
reconnect_attempts = -1

[models.b]
keepalive = "30s"
dead_after = "10s"
reconnect_backoff = "2s"
reconnect_backoff_max = "1s"
"#;
        let m = messages(text);
        let expect = [
            ("agents.toml:2:13:", "keepalive must be more than zero"),
            ("agents.toml:3:14:", "dead_after: `soon` is not a duration"),
            ("agents.toml:4:22:", "reconnect_attempts must be 0 to 1000"),
            (
                "agents.toml:8:14:",
                "dead_after (10s) must be longer than keepalive (30s)",
            ),
            (
                "agents.toml:10:25:",
                "reconnect_backoff_max (1s) is shorter than reconnect_backoff (2s)",
            ),
        ];
        for (at, what) in expect {
            assert!(
                m.iter().any(|d| d.contains(at) && d.contains(what)),
                "no `{at} {what}` in {m:#?}"
            );
        }
        assert_eq!(m.len(), expect.len(), "{m:#?}");
    }

    #[test]
    fn a_scenario_is_checked_where_it_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("agents.toml");
        std::fs::write(dir.path().join("ok.json"), r#"{"steps": [{"sleep": 0}]}"#).unwrap();
        std::fs::write(dir.path().join("bad.json"), r#"{"steps": [{"wait": 1}]}"#).unwrap();
        let text = r#"[models.replay]
provider = "sim"
scenario = "ok.json"

[models.missing]
scenario = "nope.json"

[models.broken]
scenario = "bad.json"

[models.remote]
provider = "openai"
url = "ws://127.0.0.1:9/"
scenario = "ok.json"
"#;
        let m = messages_at(&config, text);
        let expect = [
            ("6:12", "cannot read scenario"),
            ("9:12", "scenario steps[0]: unknown step"),
            ("14:12", "`scenario` is played by the sim provider"),
        ];
        assert_reported(&m, &config, &expect);
        assert_eq!(m.len(), expect.len(), "{m:#?}");
        let c = Config::parse(&config, "[models.replay]\nscenario = \"ok.json\"\n").unwrap();
        assert_eq!(
            c.models["replay"].scenario,
            Some(dir.path().join("ok.json"))
        );
    }

    #[test]
    fn transcripts_are_the_offline_models_only() {
        let c = parse(
            "[models.scripted]\ntranscripts = [\"hello\", \"call calc.multiply {\\\"a\\\":6,\\\"b\\\":7}\"]\n",
        )
        .unwrap();
        assert_eq!(
            c.models["scripted"].transcripts,
            ["hello", r#"call calc.multiply {"a":6,"b":7}"#]
        );
        assert!(c.models["default"].transcripts.is_empty());
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("agents.toml");
        std::fs::write(dir.path().join("ok.json"), r#"{"steps": [{"sleep": 0}]}"#).unwrap();
        let text = r#"[models.remote]
provider = "openai"
url = "ws://127.0.0.1:9/"
transcripts = ["hi"]

[models.replay]
scenario = "ok.json"
transcripts = ["hi"]
"#;
        let m = messages_at(&config, text);
        let expect = [
            ("4:15", "`transcripts` are spoken by the sim provider"),
            ("8:15", "not by a `scenario`"),
        ];
        assert_reported(&m, &config, &expect);
        assert_eq!(m.len(), expect.len(), "{m:#?}");
    }
}
