//! `when` conditions: tests on the call's arguments, addressed by JSON
//! Pointer, combined with `all`, `any` and `not`.
//!
//! Evaluation is three-valued. A test on an argument that is missing, or of
//! another JSON type than the test needs (`gt` on a string, `matches` on a
//! number, `eq = 100` against `"100"`), is neither true nor false but
//! [`Truth::Unknown`]: the policy then fails closed (see the crate's
//! `decide`). `exists` is the one test defined on a missing argument.
//! `all` is false if any part is false, else unknown if any is; `any` is true
//! if any part is true, else unknown if any is; `not` keeps unknown unknown.
//!
//! Everything that can be wrong with a predicate (a bad pointer, a bad
//! regex, a test without an argument) is refused when it is built, so
//! evaluation is a pure, total function.

use std::fmt;

use regex::Regex;
use serde_json::Value;

/// The outcome of a predicate on one call's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    /// The argument is missing or mistyped; the text says which.
    Unknown(String),
}

/// One comparison of an argument.
#[derive(Debug, Clone)]
pub enum Test {
    Eq(Value),
    Ne(Value),
    Gt(f64),
    Ge(f64),
    Lt(f64),
    Le(f64),
    In(Vec<Value>),
    Matches(Regex),
    Exists(bool),
}

impl PartialEq for Test {
    fn eq(&self, other: &Test) -> bool {
        use Test::*;
        match (self, other) {
            (Eq(a), Eq(b)) | (Ne(a), Ne(b)) => a == b,
            (Gt(a), Gt(b)) | (Ge(a), Ge(b)) | (Lt(a), Lt(b)) | (Le(a), Le(b)) => a == b,
            (In(a), In(b)) => a == b,
            (Matches(a), Matches(b)) => a.as_str() == b.as_str(),
            (Exists(a), Exists(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Test {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Test::Eq(v) => write!(f, "eq {v}"),
            Test::Ne(v) => write!(f, "ne {v}"),
            Test::Gt(n) => write!(f, "gt {n}"),
            Test::Ge(n) => write!(f, "ge {n}"),
            Test::Lt(n) => write!(f, "lt {n}"),
            Test::Le(n) => write!(f, "le {n}"),
            Test::In(vs) => write!(f, "in {}", Value::Array(vs.clone())),
            Test::Matches(r) => write!(f, "matches /{}/", r.as_str()),
            Test::Exists(b) => write!(f, "exists = {b}"),
        }
    }
}

/// A `when` condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// Every test on the argument at `arg` (a JSON Pointer) holds.
    Arg {
        arg: String,
        tests: Vec<Test>,
    },
    All(Vec<Predicate>),
    Any(Vec<Predicate>),
    Not(Box<Predicate>),
}

/// Check a JSON Pointer (RFC 6901): empty (the whole arguments) or `/`-led,
/// with `~` only as `~0` or `~1`.
pub fn check_pointer(arg: &str) -> Result<(), String> {
    if !(arg.is_empty() || arg.starts_with('/')) {
        return Err(format!(
            "arg `{arg}` must be a JSON Pointer such as `/amount`"
        ));
    }
    let mut chars = arg.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "arg `{arg}` is not a JSON Pointer: `~` must be written `~0` (and `/` inside a name `~1`)"
            ));
        }
    }
    Ok(())
}

/// The JSON type's name, for messages and for type checks.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn unknown(arg: &str, why: String) -> Truth {
    Truth::Unknown(format!("`{arg}` {why}"))
}

fn truth(b: bool) -> Truth {
    if b { Truth::True } else { Truth::False }
}

impl Test {
    /// This test on `value` (the argument, or `None` when missing).
    fn eval(&self, arg: &str, value: Option<&Value>) -> Truth {
        if let Test::Exists(want) = self {
            return truth(value.is_some() == *want);
        }
        let Some(v) = value else {
            return unknown(arg, "is missing".into());
        };
        let mistyped = |want: &str| unknown(arg, format!("is a {}, not a {want}", kind(v)));
        let number = |f: &dyn Fn(f64) -> bool| match v.as_f64() {
            Some(n) => truth(f(n)),
            None => mistyped("number"),
        };
        match self {
            Test::Eq(want) | Test::Ne(want) => {
                if kind(want) != kind(v) {
                    return mistyped(kind(want));
                }
                let same = json_eq(v, want);
                truth(if matches!(self, Test::Eq(_)) {
                    same
                } else {
                    !same
                })
            }
            Test::Gt(x) => number(&|n| n > *x),
            Test::Ge(x) => number(&|n| n >= *x),
            Test::Lt(x) => number(&|n| n < *x),
            Test::Le(x) => number(&|n| n <= *x),
            Test::In(options) => {
                if options.iter().any(|o| json_eq(o, v)) {
                    Truth::True
                } else if options.iter().any(|o| kind(o) == kind(v)) {
                    Truth::False
                } else {
                    let kinds: Vec<&str> = options.iter().map(kind).collect();
                    mistyped(&kinds.join(" or "))
                }
            }
            Test::Matches(re) => match v.as_str() {
                Some(s) => truth(re.is_match(s)),
                None => mistyped("string"),
            },
            Test::Exists(_) => unreachable!("handled above"),
        }
    }
}

/// JSON equality where `100` and `100.0` are the same number.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

impl Predicate {
    /// Evaluate on a call's arguments. Pure and total.
    pub fn eval(&self, args: &Value) -> Truth {
        match self {
            Predicate::Arg { arg, tests } => {
                let value = args.pointer(arg);
                let mut result = Truth::True;
                for t in tests {
                    match t.eval(arg, value) {
                        Truth::False => return Truth::False,
                        u @ Truth::Unknown(_) => result = u,
                        Truth::True => {}
                    }
                }
                result
            }
            Predicate::All(parts) => {
                let mut result = Truth::True;
                for p in parts {
                    match p.eval(args) {
                        Truth::False => return Truth::False,
                        u @ Truth::Unknown(_) => result = u,
                        Truth::True => {}
                    }
                }
                result
            }
            Predicate::Any(parts) => {
                let mut result = Truth::False;
                for p in parts {
                    match p.eval(args) {
                        Truth::True => return Truth::True,
                        u @ Truth::Unknown(_) => result = u,
                        Truth::False => {}
                    }
                }
                result
            }
            Predicate::Not(p) => match p.eval(args) {
                Truth::True => Truth::False,
                Truth::False => Truth::True,
                u => u,
            },
        }
    }
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, name: &str, parts: &[Predicate]| {
            write!(f, "{name}(")?;
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{p}")?;
            }
            f.write_str(")")
        };
        match self {
            Predicate::Arg { arg, tests } => {
                let tests: Vec<String> = tests.iter().map(ToString::to_string).collect();
                write!(f, "{arg} {}", tests.join(" and "))
            }
            Predicate::All(parts) => list(f, "all", parts),
            Predicate::Any(parts) => list(f, "any", parts),
            Predicate::Not(p) => write!(f, "not({p})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn arg(a: &str, tests: Vec<Test>) -> Predicate {
        Predicate::Arg {
            arg: a.into(),
            tests,
        }
    }

    fn re(s: &str) -> Regex {
        Regex::new(s).unwrap()
    }

    /// (predicate, arguments, expected): T true, F false, U unknown.
    #[test]
    fn predicates_evaluate_three_valued() {
        let amount_gt_100 = arg("/amount", vec![Test::Gt(100.0)]);
        let cases: Vec<(Predicate, Value, char)> = vec![
            (amount_gt_100.clone(), json!({"amount": 5000}), 'T'),
            (amount_gt_100.clone(), json!({"amount": 5}), 'F'),
            (amount_gt_100.clone(), json!({"amount": "5000"}), 'U'),
            (amount_gt_100.clone(), json!({}), 'U'),
            (amount_gt_100.clone(), json!({"amount": null}), 'U'),
            (
                arg("/amount", vec![Test::Ge(100.0)]),
                json!({"amount": 100}),
                'T',
            ),
            (
                arg("/amount", vec![Test::Lt(100.0)]),
                json!({"amount": 100}),
                'F',
            ),
            (
                arg("/amount", vec![Test::Le(100.0)]),
                json!({"amount": 100.0}),
                'T',
            ),
            (
                arg("/amount", vec![Test::Gt(0.0), Test::Lt(10.0)]),
                json!({"amount": 5}),
                'T',
            ),
            (
                arg("/mode", vec![Test::Eq(json!("delete"))]),
                json!({"mode": "delete"}),
                'T',
            ),
            (
                arg("/mode", vec![Test::Eq(json!("delete"))]),
                json!({"mode": "read"}),
                'F',
            ),
            (
                arg("/mode", vec![Test::Eq(json!("delete"))]),
                json!({"mode": 1}),
                'U',
            ),
            (
                arg("/n", vec![Test::Eq(json!(100))]),
                json!({"n": 100.0}),
                'T',
            ),
            (
                arg("/n", vec![Test::Eq(json!(100))]),
                json!({"n": "100"}),
                'U',
            ),
            (
                arg("/mode", vec![Test::Ne(json!("read"))]),
                json!({"mode": "delete"}),
                'T',
            ),
            (arg("/mode", vec![Test::Ne(json!("read"))]), json!({}), 'U'),
            (
                arg("/to", vec![Test::In(vec![json!("alice"), json!("bob")])]),
                json!({"to": "bob"}),
                'T',
            ),
            (
                arg("/to", vec![Test::In(vec![json!("alice"), json!("bob")])]),
                json!({"to": "eve"}),
                'F',
            ),
            (
                arg("/to", vec![Test::In(vec![json!("alice")])]),
                json!({"to": ["alice"]}),
                'U',
            ),
            (
                arg("/path", vec![Test::Matches(re("^/etc/"))]),
                json!({"path": "/etc/passwd"}),
                'T',
            ),
            (
                arg("/path", vec![Test::Matches(re("^/etc/"))]),
                json!({"path": "/tmp/x"}),
                'F',
            ),
            (
                arg("/path", vec![Test::Matches(re("^/etc/"))]),
                json!({"path": 7}),
                'U',
            ),
            (arg("/x", vec![Test::Exists(true)]), json!({"x": null}), 'T'),
            (arg("/x", vec![Test::Exists(true)]), json!({}), 'F'),
            (arg("/x", vec![Test::Exists(false)]), json!({}), 'T'),
            (
                arg("/a/0/b", vec![Test::Eq(json!(1))]),
                json!({"a": [{"b": 1}]}),
                'T',
            ),
            (
                arg("/a~1b", vec![Test::Eq(json!(1))]),
                json!({"a/b": 1}),
                'T',
            ),
            // Combinators: false wins in `all`, true wins in `any`, unknown otherwise.
            (
                Predicate::All(vec![
                    amount_gt_100.clone(),
                    arg("/x", vec![Test::Exists(true)]),
                ]),
                json!({"amount": "big"}),
                'F',
            ),
            (
                Predicate::All(vec![
                    amount_gt_100.clone(),
                    arg("/x", vec![Test::Exists(true)]),
                ]),
                json!({"amount": "big", "x": 1}),
                'U',
            ),
            (
                Predicate::Any(vec![
                    amount_gt_100.clone(),
                    arg("/x", vec![Test::Exists(true)]),
                ]),
                json!({"amount": "big", "x": 1}),
                'T',
            ),
            (
                Predicate::Any(vec![
                    amount_gt_100.clone(),
                    arg("/x", vec![Test::Exists(true)]),
                ]),
                json!({"amount": "big"}),
                'U',
            ),
            (
                Predicate::Any(vec![amount_gt_100.clone()]),
                json!({"amount": 1}),
                'F',
            ),
            (
                Predicate::Not(Box::new(amount_gt_100.clone())),
                json!({"amount": 1}),
                'T',
            ),
            (
                Predicate::Not(Box::new(amount_gt_100.clone())),
                json!({"amount": 500}),
                'F',
            ),
            (
                Predicate::Not(Box::new(amount_gt_100.clone())),
                json!({"amount": "1"}),
                'U',
            ),
        ];
        for (p, args, want) in cases {
            let got = match p.eval(&args) {
                Truth::True => 'T',
                Truth::False => 'F',
                Truth::Unknown(_) => 'U',
            };
            assert_eq!(got, want, "{p} on {args}");
        }
    }

    #[test]
    fn unknown_names_the_argument_and_why() {
        let p = arg("/amount", vec![Test::Gt(100.0)]);
        assert_eq!(
            p.eval(&json!({"amount": "5000"})),
            Truth::Unknown("`/amount` is a string, not a number".into())
        );
        assert_eq!(
            p.eval(&json!({})),
            Truth::Unknown("`/amount` is missing".into())
        );
    }

    #[test]
    fn pointers_are_checked() {
        assert!(check_pointer("/amount").is_ok());
        assert!(check_pointer("").is_ok());
        assert!(check_pointer("/a~0b~1c").is_ok());
        assert!(check_pointer("amount").is_err());
        assert!(check_pointer("/a~2").is_err());
        assert!(check_pointer("/a~").is_err());
    }
}
