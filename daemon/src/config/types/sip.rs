//! `[sip]`: phone calls that the model provider's SIP trunk delivers as
//! `realtime.call.incoming` webhooks, and which agent answers which number.

/// A route: which calls an agent answers. Numbers are compared with the
/// user part of the `To`/`From` URIs; a trailing `*` matches any suffix.
#[derive(Debug, Clone, PartialEq)]
pub struct SipRoute {
    pub to: Option<String>,
    pub from: Option<String>,
    pub agent: String,
}

/// `[sip]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SipConfig {
    /// The model whose REST base and key accept, reject, refer and hang up.
    pub model: String,
    pub webhook_path: String,
    /// Environment variable holding the `whsec_…` secret (read per webhook).
    pub webhook_secret_env: String,
    pub routes: Vec<SipRoute>,
    pub max_calls: usize,
    pub reject_status: u16,
    /// URIs `call.transfer` may refer to (`*` suffix wildcard).
    pub transfer_targets: Vec<String>,
}

pub const DEFAULT_WEBHOOK_PATH: &str = "/webhooks/openai";
pub const DEFAULT_MAX_CALLS: usize = 100;
pub const DEFAULT_REJECT_STATUS: u16 = 603;

/// `pattern` (a trailing `*` matches any suffix) against `value`.
pub fn wildcard_match(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

impl SipConfig {
    /// The agent of the first route matching the `To` and `From` user parts.
    pub fn route(&self, to: &str, from: &str) -> Option<&str> {
        self.routes
            .iter()
            .find(|r| {
                r.to.as_deref().is_none_or(|p| wildcard_match(p, to))
                    && r.from.as_deref().is_none_or(|p| wildcard_match(p, from))
            })
            .map(|r| r.agent.as_str())
    }

    /// Whether `call.transfer` may refer a call to `uri`.
    pub fn may_transfer_to(&self, uri: &str) -> bool {
        self.transfer_targets.iter().any(|p| wildcard_match(p, uri))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_route_wins_and_star_is_a_suffix_wildcard() {
        let r = |to: Option<&str>, from: Option<&str>, agent: &str| SipRoute {
            to: to.map(str::to_string),
            from: from.map(str::to_string),
            agent: agent.into(),
        };
        let sip = SipConfig {
            model: "m".into(),
            webhook_path: DEFAULT_WEBHOOK_PATH.into(),
            webhook_secret_env: "S".into(),
            routes: vec![
                r(Some("+18005550100"), None, "concierge"),
                r(None, Some("+1555*"), "vip"),
                r(None, None, "fallback"),
            ],
            max_calls: 1,
            reject_status: 603,
            transfer_targets: vec!["tel:+1800*".into()],
        };
        assert_eq!(sip.route("+18005550100", "+15550001"), Some("concierge"));
        assert_eq!(sip.route("+1999", "+15550001"), Some("vip"));
        assert_eq!(sip.route("+1999", "+1666"), Some("fallback"));
        assert!(sip.may_transfer_to("tel:+18005551234"));
        assert!(!sip.may_transfer_to("tel:+19005551234"));
    }
}
