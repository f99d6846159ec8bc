//! Tool arguments against the tool's own JSON Schema.
//!
//! Each tool's `parameters` schema is compiled once, when its plugin is
//! loaded (a schema that does not compile refuses the plugin, naming the
//! tool); every call's arguments are then checked against it before policy
//! or the plugin sees them. Validation is the `boon` crate's (drafts 4 to
//! 2020-12), not ours.
//!
//! A schema may not fetch anything: references to other documents (`$ref`
//! to a file or URL) are refused at load, so a plugin cannot make the host
//! read local files or reach the network through its schema.

use std::error::Error;
use std::fmt;

use boon::{Compiler, ErrorKind, SchemaIndex, Schemas, UrlLoader, ValidationError};
use serde_json::Value;

/// Where a tool's schema lives for the compiler; never fetched.
const LOCATION: &str = "urn:agentd:tool-arguments";

/// How many problems one error message lists.
const MAX_PROBLEMS: usize = 3;

/// A tool's compiled argument schema.
pub struct ArgumentSchema {
    schemas: Schemas,
    index: SchemaIndex,
}

impl fmt::Debug for ArgumentSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ArgumentSchema")
    }
}

/// Compiled from the `parameters` it sits beside, so two are equal when
/// their sources are (which the containing type compares).
impl PartialEq for ArgumentSchema {
    fn eq(&self, _: &ArgumentSchema) -> bool {
        true
    }
}

/// Why a call's arguments were refused; each problem names its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgumentError {
    #[error("arguments are not valid JSON: {0}")]
    NotJson(String),
    #[error("arguments do not match the tool's schema: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid { problems: Vec<Problem> },
}

impl ArgumentError {
    /// The JSON Pointers of the fields at fault (`""` is the whole object).
    pub fn fields(&self) -> Vec<&str> {
        match self {
            ArgumentError::NotJson(_) => Vec::new(),
            ArgumentError::Invalid { problems } => {
                problems.iter().map(|p| p.field.as_str()).collect()
            }
        }
    }
}

/// One problem with the arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// A JSON Pointer to the field (`/amount`); empty for the whole object.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "`{}`: {}", self.field, self.message)
        }
    }
}

struct NoFetching;

impl UrlLoader for NoFetching {
    fn load(&self, url: &str) -> Result<Value, Box<dyn Error>> {
        Err(format!("a tool schema may not refer to another document ({url})").into())
    }
}

impl ArgumentSchema {
    /// Compile a tool's `parameters`.
    pub fn compile(parameters: &Value) -> Result<ArgumentSchema, String> {
        let mut compiler = Compiler::new();
        compiler.use_loader(Box::new(NoFetching));
        compiler
            .add_resource(LOCATION, parameters.clone())
            .map_err(|e| e.to_string())?;
        let mut schemas = Schemas::new();
        let index = compiler
            .compile(LOCATION, &mut schemas)
            .map_err(|e| error_chain(&e))?;
        Ok(ArgumentSchema { schemas, index })
    }

    /// Parse and check a call's arguments; the parsed value on success.
    pub fn check(&self, arguments: &str) -> Result<Value, ArgumentError> {
        let args: Value =
            serde_json::from_str(arguments).map_err(|e| ArgumentError::NotJson(e.to_string()))?;
        match self.schemas.validate(&args, self.index) {
            Ok(()) => Ok(args),
            Err(e) => {
                let mut problems = Vec::new();
                leaves(&e, &mut problems);
                if problems.is_empty() {
                    problems.push(Problem {
                        field: e.instance_location.to_string(),
                        message: e.kind.to_string(),
                    });
                }
                Err(ArgumentError::Invalid { problems })
            }
        }
    }
}

/// The innermost errors: the ones that say what is wrong, not which
/// subschema noticed.
fn leaves(e: &ValidationError<'_, '_>, out: &mut Vec<Problem>) {
    if out.len() >= MAX_PROBLEMS {
        return;
    }
    if e.causes.is_empty() {
        if !matches!(e.kind, ErrorKind::Group | ErrorKind::Schema { .. }) {
            out.push(Problem {
                field: e.instance_location.to_string(),
                message: e.kind.to_string(),
            });
        }
        return;
    }
    for c in &e.causes {
        leaves(c, out);
    }
}

fn error_chain(e: &dyn Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pay() -> ArgumentSchema {
        ArgumentSchema::compile(&json!({
            "type": "object",
            "properties": {
                "amount": {"type": "number", "minimum": 0},
                "to": {"type": "string"},
                "items": {"type": "array", "items": {"type": "integer"}}
            },
            "required": ["amount", "to"],
            "additionalProperties": false
        }))
        .unwrap()
    }

    #[test]
    fn valid_arguments_pass_and_are_parsed() {
        let v = pay().check(r#"{"amount": 5, "to": "bob"}"#).unwrap();
        assert_eq!(v["amount"], 5);
    }

    #[test]
    fn each_refusal_names_the_field() {
        let s = pay();
        let cases: &[(&str, &str, &str)] = &[
            (
                r#"{"amount": "5000", "to": "bob"}"#,
                "/amount",
                "want number, but got string",
            ),
            (
                r#"{"amount": -1, "to": "bob"}"#,
                "/amount",
                "must be >=0, but got -1",
            ),
            (r#"{"to": "bob"}"#, "", "missing properties 'amount'"),
            (
                r#"{"amount": 1, "to": "bob", "items": [1, "x"]}"#,
                "/items/1",
                "want integer",
            ),
            (
                r#"{"amount": 1, "to": "bob", "extra": 1}"#,
                "",
                "additionalProperties 'extra'",
            ),
        ];
        for (args, field, says) in cases {
            let e = s.check(args).unwrap_err();
            assert_eq!(e.fields(), [*field], "{args}: {e}");
            assert!(e.to_string().contains(says), "{args}: {e}");
        }
        let e = s.check(r#"{"amount": "#).unwrap_err();
        assert!(matches!(e, ArgumentError::NotJson(_)), "{e}");
        assert_eq!(
            s.check(r#"{"amount": "5000", "to": "bob"}"#)
                .unwrap_err()
                .to_string(),
            "arguments do not match the tool's schema: `/amount`: want number, but got string"
        );
    }

    #[test]
    fn schemas_that_do_not_compile_or_fetch_are_refused() {
        assert!(ArgumentSchema::compile(&json!({"type": "nonsense"})).is_err());
        let e = ArgumentSchema::compile(&json!({"$ref": "file:///etc/passwd"})).unwrap_err();
        assert!(e.contains("may not refer to another document"), "{e}");
        // An empty schema (what a tool without parameters sends) accepts any object.
        let any = ArgumentSchema::compile(&json!({})).unwrap();
        assert!(any.check("{}").is_ok());
    }
}
