//! Approval policy: decides, per tool call, whether it runs, waits for a
//! person, or is refused.
//!
//! Rules are tried in order and the first whose tool pattern (and optional
//! argument condition) matches decides; the agent's `default` covers the rest.
//! Pure logic: the session engine asks, this module answers.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

/// What happens to a tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Run it.
    Allow,
    /// Hold it until someone approves or rejects it.
    Ask,
    /// Refuse it; the model is told it was not approved.
    Deny,
}

impl Action {
    /// The lowercase name used in config, events and the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Ask => "ask",
            Action::Deny => "deny",
        }
    }
}

/// `plugin.tool`, `plugin.*` or `*`: which tools a rule or an agent's list names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolPattern {
    text: String,
}

impl fmt::Display for ToolPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl ToolPattern {
    /// Parse a pattern; `*` matches any run of characters within one part.
    pub fn parse(text: &str) -> Result<ToolPattern, String> {
        if text == "*" {
            return Ok(ToolPattern { text: text.into() });
        }
        let Some((plugin, tool)) = text.split_once('.') else {
            return Err(format!(
                "tool `{text}` must be written `plugin.tool` or `plugin.*`"
            ));
        };
        let ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'*')
        };
        if !ok(plugin) || !ok(tool) {
            return Err(format!(
                "tool `{text}` must be written `plugin.tool` with names of a-z, A-Z, 0-9, `_`, `-` (and `*`)"
            ));
        }
        Ok(ToolPattern { text: text.into() })
    }

    /// Whether the pattern has a wildcard.
    pub fn is_glob(&self) -> bool {
        self.text.contains('*')
    }

    /// The plugin part, when it has no wildcard.
    pub fn plugin(&self) -> Option<&str> {
        let (plugin, _) = self.text.split_once('.')?;
        (!plugin.contains('*')).then_some(plugin)
    }

    /// Whether `qualified` (`plugin.tool`) matches.
    pub fn matches(&self, qualified: &str) -> bool {
        glob_match(self.text.as_bytes(), qualified.as_bytes())
    }
}

fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len())
            .take_while(|&i| i == 0 || text[i - 1] != b'.' || rest.is_empty())
            .any(|i| glob_match(rest, &text[i..])),
        Some((c, rest)) => text.first() == Some(c) && glob_match(rest, &text[1..]),
    }
}

/// A test on one argument of the call, e.g. `{ arg = "/amount", gt = 100 }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// JSON pointer into the arguments.
    pub arg: String,
    pub gt: Option<f64>,
    pub ge: Option<f64>,
    pub lt: Option<f64>,
    pub le: Option<f64>,
    pub eq: Option<Value>,
}

impl Condition {
    /// Build a condition; at least one comparison is needed.
    pub fn new(
        arg: &str,
        gt: Option<f64>,
        ge: Option<f64>,
        lt: Option<f64>,
        le: Option<f64>,
        eq: Option<Value>,
    ) -> Result<Condition, String> {
        if !(arg.is_empty() || arg.starts_with('/')) {
            return Err(format!(
                "arg `{arg}` must be a JSON pointer such as `/amount`"
            ));
        }
        if gt.is_none() && ge.is_none() && lt.is_none() && le.is_none() && eq.is_none() {
            return Err("a condition needs one of gt, ge, lt, le or eq".into());
        }
        Ok(Condition {
            arg: arg.into(),
            gt,
            ge,
            lt,
            le,
            eq,
        })
    }

    /// True when every comparison given holds; a missing or non-numeric argument fails numeric tests.
    pub fn holds(&self, args: &Value) -> bool {
        let Some(v) = args.pointer(&self.arg) else {
            return false;
        };
        if let Some(eq) = &self.eq
            && v != eq
        {
            return false;
        }
        let numeric = [self.gt, self.ge, self.lt, self.le]
            .iter()
            .any(Option::is_some);
        if !numeric {
            return true;
        }
        let Some(n) = v.as_f64() else {
            return false;
        };
        self.gt.is_none_or(|x| n > x)
            && self.ge.is_none_or(|x| n >= x)
            && self.lt.is_none_or(|x| n < x)
            && self.le.is_none_or(|x| n <= x)
    }
}

/// One rule of an agent's approval policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub tool: ToolPattern,
    pub action: Action,
    pub when: Option<Condition>,
}

/// An agent's `[agents.NAME.approval]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalPolicy {
    pub default: Action,
    /// An unanswered `ask` is rejected after this long; `None` waits forever.
    pub timeout: Option<Duration>,
    pub rules: Vec<Rule>,
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        ApprovalPolicy {
            default: Action::Allow,
            timeout: None,
            rules: Vec::new(),
        }
    }
}

impl ApprovalPolicy {
    /// Decide for a call of `qualified` (`plugin.tool`) with JSON `arguments`.
    ///
    /// Arguments that are not valid JSON are matched as `null`: a rule with a
    /// condition then does not apply, and the tool itself reports the bad input.
    pub fn decide(&self, qualified: &str, arguments: &str) -> Action {
        let args: Value = serde_json::from_str(arguments).unwrap_or(Value::Null);
        self.rules
            .iter()
            .find(|r| r.tool.matches(qualified) && r.when.as_ref().is_none_or(|c| c.holds(&args)))
            .map_or(self.default, |r| r.action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(tool: &str, action: Action, when: Option<Condition>) -> Rule {
        Rule {
            tool: ToolPattern::parse(tool).unwrap(),
            action,
            when,
        }
    }

    #[test]
    fn action_names_match_their_serialized_form() {
        for a in [Action::Allow, Action::Ask, Action::Deny] {
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
        }
    }

    #[test]
    fn patterns_match_within_parts() {
        let p = ToolPattern::parse("calc.*").unwrap();
        assert!(p.matches("calc.add"));
        assert!(!p.matches("calculator.add"));
        assert!(ToolPattern::parse("*").unwrap().matches("files.read"));
        assert!(ToolPattern::parse("*.read").unwrap().matches("files.read"));
        assert!(
            !ToolPattern::parse("calc.add")
                .unwrap()
                .matches("calc.adder")
        );
        assert!(ToolPattern::parse("calc").is_err());
        assert!(ToolPattern::parse("calc.a b").is_err());
    }

    #[test]
    fn first_matching_rule_decides() {
        let policy = ApprovalPolicy {
            default: Action::Allow,
            timeout: None,
            rules: vec![
                rule(
                    "pay.transfer",
                    Action::Ask,
                    Some(Condition::new("/amount", Some(100.0), None, None, None, None).unwrap()),
                ),
                rule("pay.*", Action::Deny, None),
            ],
        };
        assert_eq!(
            policy.decide("pay.transfer", r#"{"amount": 500}"#),
            Action::Ask
        );
        assert_eq!(
            policy.decide("pay.transfer", r#"{"amount": 5}"#),
            Action::Deny
        );
        assert_eq!(policy.decide("pay.transfer", "not json"), Action::Deny);
        assert_eq!(policy.decide("calc.add", "{}"), Action::Allow);
    }

    #[test]
    fn eq_condition_compares_json() {
        let c = Condition::new("/mode", None, None, None, None, Some(json!("delete"))).unwrap();
        assert!(c.holds(&json!({"mode": "delete"})));
        assert!(!c.holds(&json!({"mode": "read"})));
        assert!(Condition::new("amount", Some(1.0), None, None, None, None).is_err());
        assert!(Condition::new("/a", None, None, None, None, None).is_err());
    }
}
