//! Approval policy: decides, per tool call, whether it runs, waits for a
//! person, or is refused.
//!
//! Rules are tried in order and the first whose tool pattern matches and
//! whose `when` condition holds decides; the agent's `default` covers the
//! rest. The parts: [`pattern`] (which tools a rule names), [`predicate`]
//! (conditions on arguments, three-valued), [`decide`](ApprovalPolicy::decide)
//! (here) and its explanation, which `agentctl policy explain` prints.
//!
//! **Fail closed.** A condition on a missing or mistyped argument is neither
//! true nor false. Such a rule does not decide alone: the call gets the
//! strictest (deny > ask > allow) of that rule's action and of what the
//! remaining rules and the default decide. A model that sends
//! `"amount": "5000"` to a rule `ask when /amount gt 100` is asked about,
//! never allowed by falling through to `default = "allow"`.
//!
//! Pure logic: the executor asks, this module answers.

pub mod pattern;
pub mod predicate;

use std::fmt;
use std::time::Duration;

use serde_json::Value;

pub use pattern::ToolPattern;
pub use predicate::{Predicate, Test, Truth, check_pointer};

/// What happens to a tool call. Ordered by strictness: `Allow < Ask < Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
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

/// What an unanswered `ask` becomes when its `timeout` passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnTimeout {
    #[default]
    Reject,
    Approve,
}

/// One rule of an agent's approval policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub tool: ToolPattern,
    pub action: Action,
    pub when: Option<Predicate>,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.action.as_str(), self.tool)?;
        if let Some(w) = &self.when {
            write!(f, " when {w}")?;
        }
        Ok(())
    }
}

/// An agent's `[agents.NAME.approval]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalPolicy {
    pub default: Action,
    /// An unanswered `ask` is settled after this long; `None` waits forever.
    pub timeout: Option<Duration>,
    /// How a timed-out `ask` is settled.
    pub on_timeout: OnTimeout,
    pub rules: Vec<Rule>,
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        ApprovalPolicy {
            default: Action::Allow,
            timeout: None,
            on_timeout: OnTimeout::Reject,
            rules: Vec::new(),
        }
    }
}

/// What one rule said about a call (rules for other tools are left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The rule's index in `rules` (0-based).
    pub rule: usize,
    /// The rule as text, e.g. `ask pay.transfer when /amount gt 100`.
    pub text: String,
    /// The rule's action.
    pub action: Action,
    /// `matches`, `does not match`, or why it could not tell.
    pub verdict: Truth,
}

/// A decision and how it was reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    /// The rule that decided (0-based), or `None` for the default.
    pub rule: Option<usize>,
    /// Whether an undecidable condition made the decision stricter.
    pub failed_closed: bool,
    /// The rules for this tool, in order, up to the one that decided.
    pub steps: Vec<Step>,
}

impl Decision {
    /// A short reason for the journal: `policy`, `policy rule 2`,
    /// `policy rule 1, failed closed`.
    pub fn reason(&self) -> String {
        let base = match self.rule {
            Some(i) => format!("policy rule {}", i + 1),
            None => "policy default".to_string(),
        };
        if self.failed_closed {
            format!("{base}, failed closed")
        } else {
            base
        }
    }

    /// Every line `agentctl policy explain` prints.
    pub fn explain(&self, default: Action) -> Vec<String> {
        let mut lines = Vec::new();
        for s in &self.steps {
            let verdict = match &s.verdict {
                Truth::True => "matches".to_string(),
                Truth::False => "does not match".to_string(),
                Truth::Unknown(why) => format!(
                    "cannot tell ({why}): fails closed, the decision is at least `{}`",
                    s.action.as_str()
                ),
            };
            lines.push(format!("rule {} `{}`: {verdict}", s.rule + 1, s.text));
        }
        if self.rule.is_none() {
            lines.push(format!("default: {}", default.as_str()));
        }
        lines.push(format!(
            "decision: {}{}",
            self.action.as_str(),
            if self.failed_closed {
                " (made stricter by a condition that could not be evaluated)"
            } else {
                ""
            }
        ));
        lines
    }
}

impl ApprovalPolicy {
    /// Decide for a call of `qualified` (`plugin.tool`) with `args`.
    ///
    /// The first rule for the tool whose condition is true decides; a rule
    /// whose condition is unknown raises the floor to its action and the
    /// search goes on; the default decides if no rule did. The floor is then
    /// applied: the answer is never laxer than an undecidable rule.
    pub fn decide(&self, qualified: &str, args: &Value) -> Decision {
        let mut floor: Option<Action> = None;
        let mut steps = Vec::new();
        let mut decided = None;
        for (i, r) in self.rules.iter().enumerate() {
            if !r.tool.matches(qualified) {
                continue;
            }
            let verdict = r.when.as_ref().map_or(Truth::True, |w| w.eval(args));
            steps.push(Step {
                rule: i,
                text: r.to_string(),
                action: r.action,
                verdict: verdict.clone(),
            });
            match verdict {
                Truth::True => {
                    decided = Some((i, r.action));
                    break;
                }
                Truth::False => {}
                Truth::Unknown(_) => floor = floor.max(Some(r.action)),
            }
        }
        let (rule, base) = match decided {
            Some((i, a)) => (Some(i), a),
            None => (None, self.default),
        };
        let action = floor.map_or(base, |f| f.max(base));
        Decision {
            action,
            rule,
            failed_closed: action != base,
            steps,
        }
    }

    /// The index of an earlier rule that shadows rule `j`: it applies to every
    /// tool `j` names and has no condition, so `j` can never decide.
    pub fn shadowed_by(&self, j: usize) -> Option<usize> {
        let later = self.rules.get(j)?;
        self.rules[..j]
            .iter()
            .position(|r| r.when.is_none() && r.tool.covers(&later.tool))
    }

    /// A fingerprint of the policy: answers remembered for an agent are kept
    /// with it and lapse when it changes. Derived from the whole value, so a
    /// new field can never be left out.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("{self:?}").as_bytes());
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(tool: &str, action: Action, when: Option<Predicate>) -> Rule {
        Rule {
            tool: ToolPattern::parse(tool).unwrap(),
            action,
            when,
        }
    }

    fn gt(arg: &str, n: f64) -> Option<Predicate> {
        Some(Predicate::Arg {
            arg: arg.into(),
            tests: vec![Test::Gt(n)],
        })
    }

    fn policy(default: Action, rules: Vec<Rule>) -> ApprovalPolicy {
        ApprovalPolicy {
            default,
            rules,
            ..ApprovalPolicy::default()
        }
    }

    #[test]
    fn action_names_match_their_serialized_form() {
        for a in [Action::Allow, Action::Ask, Action::Deny] {
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
        }
        assert!(Action::Allow < Action::Ask && Action::Ask < Action::Deny);
    }

    #[test]
    fn first_matching_rule_decides() {
        let p = policy(
            Action::Allow,
            vec![
                rule("pay.transfer", Action::Ask, gt("/amount", 100.0)),
                rule("pay.*", Action::Deny, None),
            ],
        );
        let d = |args: Value| p.decide("pay.transfer", &args);
        assert_eq!(d(json!({"amount": 500})).action, Action::Ask);
        assert_eq!(d(json!({"amount": 500})).rule, Some(0));
        assert_eq!(d(json!({"amount": 5})).action, Action::Deny);
        assert_eq!(p.decide("calc.add", &json!({})).action, Action::Allow);
        assert_eq!(p.decide("calc.add", &json!({})).rule, None);
    }

    /// The fail-closed table: (rules, default, arguments, decision, failed closed).
    /// README's "Fail closed" table is this one.
    #[test]
    fn undecidable_conditions_fail_closed() {
        use Action::*;
        let ask_big = || rule("pay.transfer", Ask, gt("/amount", 100.0));
        let deny_big = || rule("pay.transfer", Deny, gt("/amount", 1000.0));
        let allow_small = || {
            rule(
                "pay.transfer",
                Allow,
                Some(Predicate::Arg {
                    arg: "/amount".into(),
                    tests: vec![Test::Le(100.0)],
                }),
            )
        };
        let cases: Vec<(Vec<Rule>, Action, Value, Action, bool)> = vec![
            // The attack: a string amount no longer falls through to allow.
            (vec![ask_big()], Allow, json!({"amount": "5000"}), Ask, true),
            (vec![ask_big()], Allow, json!({}), Ask, true),
            (vec![ask_big()], Allow, json!({"amount": 5000}), Ask, false),
            (vec![ask_big()], Allow, json!({"amount": 5}), Allow, false),
            // A stricter default wins over the undecidable rule's action.
            (
                vec![ask_big()],
                Deny,
                json!({"amount": "5000"}),
                Deny,
                false,
            ),
            // A later rule that decides: the stricter of the two.
            (
                vec![ask_big(), rule("pay.*", Allow, None)],
                Deny,
                json!({"amount": "x"}),
                Ask,
                true,
            ),
            (
                vec![ask_big(), rule("pay.*", Deny, None)],
                Allow,
                json!({"amount": "x"}),
                Deny,
                false,
            ),
            // Several undecidable rules: the strictest of them all.
            (
                vec![ask_big(), deny_big()],
                Allow,
                json!({"amount": "x"}),
                Deny,
                true,
            ),
            // An undecidable allow never loosens anything.
            (vec![allow_small()], Ask, json!({"amount": "1"}), Ask, false),
            (vec![allow_small()], Ask, json!({"amount": 1}), Allow, false),
            // A rule that matches before the undecidable one is unaffected.
            (
                vec![rule("pay.transfer", Allow, None), ask_big()],
                Allow,
                json!({"amount": "x"}),
                Allow,
                false,
            ),
            // Rules for other tools play no part.
            (
                vec![rule("calc.*", Deny, gt("/a", 1.0))],
                Allow,
                json!({"amount": "x"}),
                Allow,
                false,
            ),
        ];
        for (i, (rules, default, args, want, closed)) in cases.into_iter().enumerate() {
            let p = policy(default, rules);
            let d = p.decide("pay.transfer", &args);
            assert_eq!(
                (d.action, d.failed_closed),
                (want, closed),
                "case {i}: {args}"
            );
        }
    }

    #[test]
    fn explanations_name_the_rule_and_why() {
        let p = policy(
            Action::Allow,
            vec![rule("pay.transfer", Action::Ask, gt("/amount", 100.0))],
        );
        let d = p.decide("pay.transfer", &json!({"amount": "5000"}));
        assert_eq!(d.reason(), "policy default, failed closed");
        let lines = d.explain(p.default);
        assert_eq!(
            lines,
            [
                "rule 1 `ask pay.transfer when /amount gt 100`: cannot tell (`/amount` is a string, not a number): fails closed, the decision is at least `ask`",
                "default: allow",
                "decision: ask (made stricter by a condition that could not be evaluated)",
            ]
        );
        let d = p.decide("pay.transfer", &json!({"amount": 500}));
        assert_eq!(d.reason(), "policy rule 1");
        assert_eq!(
            d.explain(p.default).last().map(String::as_str),
            Some("decision: ask")
        );
    }

    #[test]
    fn shadowed_rules_are_found() {
        let p = policy(
            Action::Allow,
            vec![
                rule("pay.*", Action::Deny, None),
                rule("pay.transfer", Action::Ask, None),
                rule("calc.add", Action::Ask, gt("/a", 1.0)),
                rule("calc.add", Action::Deny, None),
            ],
        );
        assert_eq!(p.shadowed_by(0), None);
        assert_eq!(p.shadowed_by(1), Some(0));
        assert_eq!(p.shadowed_by(2), None);
        assert_eq!(p.shadowed_by(3), None);
    }

    #[test]
    fn fingerprints_change_with_the_policy() {
        let a = policy(Action::Allow, vec![rule("pay.*", Action::Ask, None)]);
        let mut b = a.clone();
        assert_eq!(a.fingerprint(), b.fingerprint());
        b.rules[0].action = Action::Deny;
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 32);
    }
}
