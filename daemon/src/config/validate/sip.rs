//! `[sip]`: the model it uses (which must exist and not be unreachable),
//! routes naming declared agents that all use that model, limits, and the
//! warning for an agent routed to SIP that sets server-VAD tuning SIP refuses.

use std::collections::BTreeMap;

use serde_spanned::Spanned;

use super::Ctx;
use crate::config::raw;
use crate::config::realtime::TurnDetection;
use crate::config::{
    AgentConfig, DEFAULT_MAX_CALLS, DEFAULT_MODEL, DEFAULT_REJECT_STATUS, DEFAULT_WEBHOOK_PATH,
    ModelConfig, SipConfig, SipRoute,
};

impl Ctx<'_> {
    /// `[sip]`, when written; run after agents (routes name them).
    pub(super) fn sip(
        &mut self,
        raw: &Spanned<raw::RawSip>,
        models: &BTreeMap<String, ModelConfig>,
        agents: &BTreeMap<String, AgentConfig>,
    ) -> Option<SipConfig> {
        let s = raw.get_ref();
        let model = s
            .model
            .as_ref()
            .map_or(DEFAULT_MODEL.to_string(), |m| m.get_ref().clone());
        if !models.contains_key(&model) {
            let at = s
                .model
                .as_ref()
                .map_or_else(|| self.at(raw), |m| self.at(m));
            self.diagnostics.push(crate::config::Diagnostic {
                location: Some(at),
                message: format!("[sip] model: no model named `{model}` under [models]"),
            });
        }
        let webhook_path = s
            .webhook_path
            .as_ref()
            .map_or(DEFAULT_WEBHOOK_PATH.to_string(), |p| p.get_ref().clone());
        if let Some(p) = &s.webhook_path
            && (!p.get_ref().starts_with('/') || p.get_ref().starts_with("/v1/"))
        {
            self.error(
                p,
                "webhook_path must start with `/` and not with `/v1/` (the API's routes)",
            );
        }
        let webhook_secret_env = match &s.webhook_secret_env {
            Some(v) => v.get_ref().clone(),
            None => "OPENAI_WEBHOOK_SECRET".to_string(),
        };
        let mut routes = Vec::new();
        for r in &s.routes {
            let route = r.get_ref();
            let agent = route.agent.get_ref();
            match agents.get(agent) {
                None => self.error(&route.agent, format!("route: no agent named `{agent}`")),
                Some(a) => {
                    if a.model != model {
                        self.error(
                            &route.agent,
                            format!("agent `{agent}` uses model `{}`, but [sip] calls are served by model `{model}`", a.model),
                        );
                    }
                    if let TurnDetection::ServerVad {
                        threshold,
                        prefix_padding_ms,
                        silence_duration_ms,
                        ..
                    } = &a.realtime.turn_detection
                        && (threshold.is_some()
                            || prefix_padding_ms.is_some()
                            || silence_duration_ms.is_some())
                    {
                        self.warn(
                            &route.agent,
                            format!("agent `{agent}` is routed to SIP, which refuses server_vad `threshold`, `prefix_padding_ms` and `silence_duration_ms`; they are left out of its calls"),
                        );
                    }
                }
            }
            routes.push(SipRoute {
                to: route.to.as_ref().map(|v| v.get_ref().clone()),
                from: route.from.as_ref().map(|v| v.get_ref().clone()),
                agent: agent.clone(),
            });
        }
        let max_calls = match &s.max_calls {
            Some(n) => match usize::try_from(*n.get_ref()) {
                Ok(v) => v,
                Err(_) => {
                    self.error(n, "max_calls must be 0 or more");
                    DEFAULT_MAX_CALLS
                }
            },
            None => DEFAULT_MAX_CALLS,
        };
        let reject_status = match &s.reject_status {
            Some(n) => match u16::try_from(*n.get_ref()) {
                Ok(v) if (400..700).contains(&v) => v,
                _ => {
                    self.error(n, "reject_status must be a SIP status from 400 to 699");
                    DEFAULT_REJECT_STATUS
                }
            },
            None => DEFAULT_REJECT_STATUS,
        };
        Some(SipConfig {
            model,
            webhook_path,
            webhook_secret_env,
            routes,
            max_calls,
            reject_status,
            transfer_targets: s
                .transfer_targets
                .iter()
                .map(|t| t.get_ref().clone())
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::{messages, parse};

    #[test]
    fn routes_name_agents_on_the_sip_model_and_vad_tuning_is_warned() {
        let c = parse(
            "[agents.a]\ninstructions = \"x\"\nturn_detection = { type = \"server_vad\", threshold = 0.4 }\n[sip]\nroutes = [{ to = \"+1800*\", agent = \"a\" }]\n",
        )
        .unwrap();
        let sip = c.sip.as_ref().unwrap();
        assert_eq!(
            (sip.max_calls, sip.reject_status, sip.webhook_path.as_str()),
            (100, 603, "/webhooks/openai")
        );
        assert_eq!(sip.route("+18001", "x"), Some("a"));
        assert_eq!(c.warnings.len(), 1);
        assert!(
            c.warnings[0].message.contains("refuses server_vad"),
            "{:?}",
            c.warnings
        );
        let m = messages("[sip]\nroutes = [{ agent = \"nobody\" }]\nreject_status = 200\n");
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].contains("no agent named `nobody`"), "{m:?}");
        assert!(m[1].contains("reject_status"), "{m:?}");
    }
}
