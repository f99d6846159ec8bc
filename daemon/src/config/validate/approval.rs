//! `[agents.NAME.approval]`: the default action, the timeout of an
//! unanswered ask and what it becomes (`on_timeout`), and the rules (tool
//! pattern, action, optional `when` condition), kept in the order written
//! since the first match wins.
//!
//! Conditions are checked whole here — pointers, regexes (compiled once,
//! now), which tests go together — so evaluating one on a call cannot fail.
//! A rule that an earlier one shadows is a warning, not an error: the config
//! still means something, just not what its author probably meant.

use serde_spanned::Spanned;

use super::Ctx;
use crate::config::parse_duration;
use crate::config::raw;
use crate::policy::{
    Action, ApprovalPolicy, OnTimeout, Predicate, Rule, Test, ToolPattern, check_pointer,
};

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
        if let Some(o) = &a.on_timeout {
            match o.get_ref().as_str() {
                "reject" => policy.on_timeout = OnTimeout::Reject,
                "approve" => policy.on_timeout = OnTimeout::Approve,
                other => self.error(
                    o,
                    format!("unknown on_timeout `{other}`; expected reject or approve"),
                ),
            }
            if a.timeout.is_none() {
                self.warn(o, "on_timeout has no effect without a timeout");
            }
        }
        let mut spans = Vec::new();
        for rule in &a.rules {
            let r = rule.get_ref();
            let tool = self.tool_pattern(&r.tool);
            let action = self.action(&r.action);
            let when = r.when.as_ref().map(|w| self.predicate(w));
            let (Some(tool), Some(action)) = (tool, action) else {
                continue;
            };
            let when = match when {
                None => None,
                Some(Some(p)) => Some(p),
                Some(None) => continue,
            };
            policy.rules.push(Rule { tool, action, when });
            spans.push(rule);
        }
        for (j, rule) in spans.iter().enumerate() {
            if let Some(i) = policy.shadowed_by(j) {
                let earlier = self.at(spans[i]);
                self.warn(
                    rule,
                    format!(
                        "this rule never decides: the rule at {}:{} (`{}`) already covers every call it could match",
                        earlier.line, earlier.col, policy.rules[i]
                    ),
                );
            }
        }
        policy
    }

    /// A `when` table; `None` (with the problems reported) if it is wrong.
    fn predicate(&mut self, w: &Spanned<raw::RawWhen>) -> Option<Predicate> {
        let r = w.get_ref();
        let combinators = [r.all.is_some(), r.any.is_some(), r.not.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        let has_tests = r.eq.is_some()
            || r.ne.is_some()
            || r.gt.is_some()
            || r.ge.is_some()
            || r.lt.is_some()
            || r.le.is_some()
            || r.one_of.is_some()
            || r.matches.is_some()
            || r.exists.is_some();
        if combinators > 1 || (combinators == 1 && (r.arg.is_some() || has_tests)) {
            self.error(
                w,
                "a condition is either `arg` with its tests, or one of `all`, `any`, `not`",
            );
            return None;
        }
        if let Some(parts) = r.all.as_ref().or(r.any.as_ref()) {
            if parts.get_ref().is_empty() {
                self.error(parts, "`all` and `any` need at least one condition");
                return None;
            }
            let mut ok = true;
            let mut list = Vec::new();
            for p in parts.get_ref() {
                match self.predicate(p) {
                    Some(p) => list.push(p),
                    None => ok = false,
                }
            }
            if !ok {
                return None;
            }
            return Some(if r.all.is_some() {
                Predicate::All(list)
            } else {
                Predicate::Any(list)
            });
        }
        if let Some(inner) = &r.not {
            return self.predicate(inner).map(|p| Predicate::Not(Box::new(p)));
        }
        let Some(arg) = &r.arg else {
            self.error(
                w,
                "a condition needs `arg` (a JSON Pointer such as `/amount`), or `all`, `any` or `not`",
            );
            return None;
        };
        if let Err(e) = check_pointer(arg.get_ref()) {
            self.error(arg, e);
            return None;
        }
        let mut tests = Vec::new();
        let value = |v: &Spanned<serde_json::Value>| v.get_ref().clone();
        let num = |v: &Spanned<f64>| *v.get_ref();
        if let Some(v) = &r.eq {
            tests.push(Test::Eq(value(v)));
        }
        if let Some(v) = &r.ne {
            tests.push(Test::Ne(value(v)));
        }
        for (v, make) in [
            (&r.gt, Test::Gt as fn(f64) -> Test),
            (&r.ge, Test::Ge),
            (&r.lt, Test::Lt),
            (&r.le, Test::Le),
        ] {
            if let Some(v) = v {
                tests.push(make(num(v)));
            }
        }
        if let Some(v) = &r.one_of {
            if v.get_ref().is_empty() {
                self.error(v, "`in` needs at least one value");
                return None;
            }
            tests.push(Test::In(v.get_ref().clone()));
        }
        if let Some(m) = &r.matches {
            match regex::Regex::new(m.get_ref()) {
                Ok(re) => tests.push(Test::Matches(re)),
                Err(e) => {
                    let first = e.to_string();
                    let first = first.lines().last().unwrap_or("").trim();
                    let first = first.strip_prefix("error: ").unwrap_or(first);
                    self.error(
                        m,
                        format!("matches: `{}` is not a valid regex: {first}", m.get_ref()),
                    );
                    return None;
                }
            }
        }
        if let Some(e) = &r.exists {
            tests.push(Test::Exists(*e.get_ref()));
        }
        if tests.is_empty() {
            self.error(
                arg,
                format!(
                    "the condition on `{}` needs a test: eq, ne, gt, ge, lt, le, in, matches or exists",
                    arg.get_ref()
                ),
            );
            return None;
        }
        Some(Predicate::Arg {
            arg: arg.get_ref().clone(),
            tests,
        })
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

    use serde_json::json;

    use crate::config::test_support::{messages, parse};
    use crate::policy::{Action, OnTimeout};

    #[test]
    fn approval_rules_are_parsed() {
        let c = parse(
            r#"
[agents.a]
tools = ["calc.*"]
[agents.a.approval]
default = "allow"
timeout = "60s"
on_timeout = "approve"
rules = [{ tool = "calc.multiply", action = "ask" }, { tool = "pay.send", action = "deny", when = { arg = "/amount", gt = 100 } }]
"#,
        )
        .unwrap();
        let p = &c.agents["a"].approval;
        assert_eq!(p.timeout, Some(Duration::from_secs(60)));
        assert_eq!(p.on_timeout, OnTimeout::Approve);
        let d = |tool: &str, args| p.decide(tool, &args).action;
        assert_eq!(d("calc.multiply", json!({})), Action::Ask);
        assert_eq!(d("calc.add", json!({})), Action::Allow);
        assert_eq!(d("pay.send", json!({"amount": 101})), Action::Deny);
        assert_eq!(d("pay.send", json!({"amount": "101"})), Action::Deny);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn every_predicate_form_is_read() {
        let c = parse(
            r#"
[agents.a]
[agents.a.approval]
default = "allow"
[[agents.a.approval.rules]]
tool = "files.*"
action = "deny"
when = { any = [{ arg = "/path", matches = "^/etc/" }, { not = { arg = "/mode", in = ["read", "stat"] } }] }
[[agents.a.approval.rules]]
tool = "pay.transfer"
action = "ask"
when = { all = [{ arg = "/currency", ne = "EUR" }, { arg = "/memo", exists = true }, { arg = "/amount", ge = 10, le = 20 }, { arg = "/to", eq = "bob" }] }
"#,
        )
        .unwrap();
        let p = &c.agents["a"].approval;
        let d = |tool: &str, args| p.decide(tool, &args).action;
        assert_eq!(
            d("files.read", json!({"path": "/etc/x", "mode": "read"})),
            Action::Deny
        );
        assert_eq!(
            d("files.read", json!({"path": "/tmp/x", "mode": "read"})),
            Action::Allow
        );
        assert_eq!(
            d("files.read", json!({"path": "/tmp/x", "mode": "write"})),
            Action::Deny
        );
        let pay = json!({"currency": "USD", "memo": "", "amount": 15, "to": "bob"});
        assert_eq!(d("pay.transfer", pay), Action::Ask);
        let pay = json!({"currency": "EUR", "memo": "", "amount": 15, "to": "bob"});
        assert_eq!(d("pay.transfer", pay), Action::Allow);
    }

    #[test]
    fn bad_predicates_are_reported_where_written() {
        let text = r#"
[agents.a]
[agents.a.approval]
rules = [
  { tool = "a.b", action = "ask", when = { arg = "amount", gt = 1 } },
  { tool = "a.b", action = "ask", when = { arg = "/p", matches = "(" } },
  { tool = "a.b", action = "ask", when = { arg = "/p" } },
  { tool = "a.b", action = "ask", when = { gt = 1 } },
  { tool = "a.b", action = "ask", when = { arg = "/p", gt = 1, all = [] } },
  { tool = "a.b", action = "ask", when = { any = [] } },
  { tool = "a.b", action = "ask", when = { arg = "/a~2", eq = 1 } },
  { tool = "a.b", action = "ask", when = { arg = "/p", in = [] } },
]
on_timeout = "later"
"#;
        let m = messages(text);
        let want = [
            ("5:50", "arg `amount` must be a JSON Pointer"),
            ("6:66", "matches: `(` is not a valid regex: unclosed group"),
            ("7:50", "the condition on `/p` needs a test"),
            ("8:42", "a condition needs `arg`"),
            ("9:42", "either `arg` with its tests, or one of"),
            ("10:50", "`all` and `any` need at least one condition"),
            ("11:50", "is not a JSON Pointer"),
            ("12:61", "`in` needs at least one value"),
            ("14:14", "unknown on_timeout `later`"),
        ];
        crate::config::test_support::assert_reported(
            &m,
            std::path::Path::new("/etc/agentd/agents.toml"),
            &want,
        );
        assert_eq!(m.len(), want.len(), "{m:#?}");
    }

    #[test]
    fn unknown_keys_in_conditions_are_errors_with_position() {
        let m = messages(
            "[agents.a]\napproval = { rules = [{ tool = \"a.b\", action = \"ask\", when = { arg = \"/x\", gtt = 1 } }] }\n",
        );
        assert_eq!(m.len(), 1, "{m:#?}");
        assert!(m[0].starts_with("/etc/agentd/agents.toml:2:"), "{}", m[0]);
        assert!(m[0].contains("unknown field `gtt`"), "{}", m[0]);
    }

    #[test]
    fn a_shadowed_rule_is_a_warning() {
        let c = parse(
            r#"
[agents.a]
[agents.a.approval]
rules = [
  { tool = "pay.*", action = "deny" },
  { tool = "pay.transfer", action = "ask" },
]
"#,
        )
        .unwrap();
        let w: Vec<String> = c.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(w.len(), 1, "{w:#?}");
        assert!(
            w[0].starts_with("/etc/agentd/agents.toml:6:3: this rule never decides: the rule at 5:3 (`deny pay.*`)"),
            "{}",
            w[0]
        );
    }
}
