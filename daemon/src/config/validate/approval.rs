//! `[agents.NAME.approval]`: the default action, the timeout of an
//! unanswered ask, and the rules (tool pattern, action, optional condition on
//! an argument), kept in the order written since the first match wins.

use serde_spanned::Spanned;

use super::Ctx;
use crate::config::parse_duration;
use crate::config::raw;
use crate::policy::{Action, ApprovalPolicy, Condition, Rule, ToolPattern};

impl Ctx<'_> {
    pub(super) fn approval(&mut self, a: &raw::RawApproval) -> ApprovalPolicy {
        let mut policy = ApprovalPolicy::default();
        if let Some(d) = &a.default
            && let Some(action) = self.action(d)
        {
            policy.default = action;
        }
        if let Some(t) = &a.timeout {
            match parse_duration(t.get_ref()) {
                Ok(v) => policy.timeout = Some(v),
                Err(e) => self.error(t, format!("timeout: {e}")),
            }
        }
        for rule in &a.rules {
            let r = rule.get_ref();
            let Some(tool) = self.tool_pattern(&r.tool) else {
                continue;
            };
            let Some(action) = self.action(&r.action) else {
                continue;
            };
            let when = match &r.when {
                None => None,
                Some(c) => {
                    match Condition::new(c.arg.get_ref(), c.gt, c.ge, c.lt, c.le, c.eq.clone()) {
                        Ok(c) => Some(c),
                        Err(e) => {
                            self.error(&c.arg, e);
                            None
                        }
                    }
                }
            };
            policy.rules.push(Rule { tool, action, when });
        }
        policy
    }

    fn action(&mut self, s: &Spanned<String>) -> Option<Action> {
        match s.get_ref().as_str() {
            "allow" => Some(Action::Allow),
            "ask" => Some(Action::Ask),
            "deny" => Some(Action::Deny),
            other => {
                self.error(
                    s,
                    format!("unknown approval action `{other}`; expected allow, ask or deny"),
                );
                None
            }
        }
    }

    fn tool_pattern(&mut self, s: &Spanned<String>) -> Option<ToolPattern> {
        match ToolPattern::parse(s.get_ref()) {
            Ok(p) => Some(p),
            Err(e) => {
                self.error(s, e);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::test_support::parse;
    use crate::policy::Action;

    #[test]
    fn approval_rules_are_parsed() {
        let c = parse(
        r#"
[agents.a]
tools = ["calc.*"]
[agents.a.approval]
default = "allow"
timeout = "60s"
rules = [{ tool = "calc.multiply", action = "ask" }, { tool = "pay.send", action = "deny", when = { arg = "/amount", gt = 100 } }]
"#,
    )
    .unwrap();
        let p = &c.agents["a"].approval;
        assert_eq!(p.timeout, Some(Duration::from_secs(60)));
        assert_eq!(p.decide("calc.multiply", "{}"), Action::Ask);
        assert_eq!(p.decide("calc.add", "{}"), Action::Allow);
        assert_eq!(p.decide("pay.send", r#"{"amount":101}"#), Action::Deny);
    }
}
