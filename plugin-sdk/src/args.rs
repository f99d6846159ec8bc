//! Decoding a tool's JSON arguments into typed Rust values.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{Schema, ToolError};

/// The arguments of one tool call, checked against the tool's parameter names.
///
/// Used by the code `#[plugin]` generates; every failure is a
/// [`ToolError::InvalidArguments`] whose message names the field, in serde's words.
#[derive(Debug)]
pub struct Arguments {
    fields: Map<String, Value>,
}

impl Arguments {
    /// Parses `json` (an object; empty text or `null` count as `{}`) and rejects fields not in `expected`.
    pub fn parse(json: &str, expected: &[&str]) -> Result<Self, ToolError> {
        let value = if json.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(json).map_err(|e| {
                ToolError::InvalidArguments(format!("the arguments are not valid JSON: {e}"))
            })?
        };
        let fields = match value {
            Value::Object(fields) => fields,
            Value::Null => Map::new(),
            other => {
                return Err(ToolError::InvalidArguments(format!(
                    "the arguments must be a JSON object, not {}",
                    kind(&other)
                )));
            }
        };
        if let Some(unknown) = fields.keys().find(|k| !expected.contains(&k.as_str())) {
            return Err(ToolError::InvalidArguments(format!(
                "unknown field `{unknown}`, {}",
                expectation(expected)
            )));
        }
        Ok(Self { fields })
    }

    /// Takes field `name` as a `T`; a missing field is an error unless `T` is an `Option`.
    pub fn take<T: DeserializeOwned + Schema>(&mut self, name: &str) -> Result<T, ToolError> {
        let value = match self.fields.remove(name) {
            Some(value) => value,
            None if T::OPTIONAL => Value::Null,
            None => {
                return Err(ToolError::InvalidArguments(format!(
                    "missing field `{name}`"
                )));
            }
        };
        serde_json::from_value(value)
            .map_err(|e| ToolError::InvalidArguments(format!("field `{name}`: {e}")))
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// serde's wording for the list of accepted fields.
fn expectation(expected: &[&str]) -> String {
    match expected {
        [] => "there are no fields".to_owned(),
        [one] => format!("expected `{one}`"),
        [rest @ .., last] => {
            let rest: Vec<String> = rest.iter().map(|f| format!("`{f}`")).collect();
            if rest.len() == 1 {
                format!("expected {} or `{last}`", rest[0])
            } else {
                format!("expected one of {}, `{last}`", rest.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(result: Result<impl std::fmt::Debug, ToolError>) -> String {
        match result {
            Err(ToolError::InvalidArguments(message)) => message,
            other => panic!("expected invalid-arguments, got {other:?}"),
        }
    }

    #[test]
    fn decodes_typed_fields() {
        let mut args =
            Arguments::parse(r#"{"a": 2, "b": 3.5, "tags": ["x"]}"#, &["a", "b", "tags"]).unwrap();
        assert_eq!(args.take::<f64>("a").unwrap(), 2.0);
        assert_eq!(args.take::<f64>("b").unwrap(), 3.5);
        assert_eq!(
            args.take::<Vec<String>>("tags").unwrap(),
            vec!["x".to_owned()]
        );
    }

    #[test]
    fn optional_fields_may_be_missing_or_null() {
        let mut args = Arguments::parse(r#"{"b": null}"#, &["a", "b"]).unwrap();
        assert_eq!(args.take::<Option<u32>>("a").unwrap(), None);
        assert_eq!(args.take::<Option<u32>>("b").unwrap(), None);
        let mut args = Arguments::parse(r#"{"a": 4}"#, &["a"]).unwrap();
        assert_eq!(args.take::<Option<u32>>("a").unwrap(), Some(4));
    }

    #[test]
    fn empty_and_null_are_empty_objects() {
        for text in ["", "  ", "null", "{}"] {
            let mut args = Arguments::parse(text, &["a"]).unwrap();
            assert_eq!(args.take::<Option<bool>>("a").unwrap(), None);
        }
    }

    #[test]
    fn missing_required_field() {
        let mut args = Arguments::parse(r#"{"a": 1}"#, &["a", "b"]).unwrap();
        assert_eq!(err(args.take::<f64>("b")), "missing field `b`");
    }

    #[test]
    fn unknown_field() {
        assert_eq!(
            err(Arguments::parse(r#"{"a": 1, "c": 2}"#, &["a", "b"])),
            "unknown field `c`, expected `a` or `b`"
        );
        assert_eq!(
            err(Arguments::parse(r#"{"z": 1}"#, &["a", "b", "c"])),
            "unknown field `z`, expected one of `a`, `b`, `c`"
        );
        assert_eq!(
            err(Arguments::parse(r#"{"z": 1}"#, &["a"])),
            "unknown field `z`, expected `a`"
        );
        assert_eq!(
            err(Arguments::parse(r#"{"z": 1}"#, &[])),
            "unknown field `z`, there are no fields"
        );
    }

    #[test]
    fn wrong_types_name_the_field() {
        let mut args = Arguments::parse(
            r#"{"a": "two", "n": -1, "f": 1.5, "v": null}"#,
            &["a", "n", "f", "v"],
        )
        .unwrap();
        assert_eq!(
            err(args.take::<f64>("a")),
            "field `a`: invalid type: string \"two\", expected f64"
        );
        assert_eq!(
            err(args.take::<u32>("n")),
            "field `n`: invalid value: integer `-1`, expected u32"
        );
        assert_eq!(
            err(args.take::<i64>("f")),
            "field `f`: invalid type: floating point `1.5`, expected i64"
        );
        assert_eq!(
            err(args.take::<String>("v")),
            "field `v`: invalid type: null, expected a string"
        );
    }

    #[test]
    fn not_an_object() {
        assert_eq!(
            err(Arguments::parse("[1, 2]", &["a"])),
            "the arguments must be a JSON object, not an array"
        );
        assert_eq!(
            err(Arguments::parse("\"a\"", &["a"])),
            "the arguments must be a JSON object, not a string"
        );
        assert_eq!(
            err(Arguments::parse("{\"a\": ", &["a"])),
            "the arguments are not valid JSON: EOF while parsing a value at line 1 column 6"
        );
    }
}
