//! Turning what a tool returns into the text sent to the model.

use std::fmt::Display;

use serde::Serialize;

/// Why a tool call failed; mirrors the WIT `tool-error`. Both cases are shown to the model.
///
/// It deliberately does not implement `Display`, so a tool may return
/// `Result<T, ToolError>` to choose the case itself, while any other
/// `Result<T, E: Display>` becomes [`ToolError::Failed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolError {
    /// The arguments did not match the tool's schema.
    InvalidArguments(String),
    /// The tool ran and failed.
    Failed(String),
}

impl ToolError {
    /// The message, whichever the case.
    pub fn message(&self) -> &str {
        match self {
            ToolError::InvalidArguments(m) | ToolError::Failed(m) => m,
        }
    }
}

/// A value a tool can return: converted into the string the model receives.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned by a tool: it does not implement `agentd_plugin_sdk::IntoToolOutput`",
    note = "return String, &str, a number, bool, serde_json::Value, `Json(value)` for any `T: Serialize`, or `Result<T, E>` of one of these with `E: Display`"
)]
pub trait IntoToolOutput {
    /// The output text, or the error the call fails with.
    fn into_tool_output(self) -> Result<String, ToolError>;
}

/// Wraps a `Serialize` value so that a tool returns it as compact JSON text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoToolOutput for Json<T> {
    fn into_tool_output(self) -> Result<String, ToolError> {
        serde_json::to_string(&self.0)
            .map_err(|e| ToolError::Failed(format!("cannot serialize the output: {e}")))
    }
}

impl IntoToolOutput for String {
    fn into_tool_output(self) -> Result<String, ToolError> {
        Ok(self)
    }
}

impl IntoToolOutput for &str {
    fn into_tool_output(self) -> Result<String, ToolError> {
        Ok(self.to_owned())
    }
}

impl IntoToolOutput for serde_json::Value {
    fn into_tool_output(self) -> Result<String, ToolError> {
        Ok(self.to_string())
    }
}

macro_rules! via_display {
    ($($t:ty),*) => {$(
        impl IntoToolOutput for $t {
            fn into_tool_output(self) -> Result<String, ToolError> {
                Ok(self.to_string())
            }
        }
    )*};
}
via_display!(
    bool, char, i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64
);

impl<T: IntoToolOutput, E: Display> IntoToolOutput for Result<T, E> {
    fn into_tool_output(self) -> Result<String, ToolError> {
        match self {
            Ok(value) => value.into_tool_output(),
            Err(e) => Err(ToolError::Failed(e.to_string())),
        }
    }
}

impl<T: IntoToolOutput> IntoToolOutput for Result<T, ToolError> {
    fn into_tool_output(self) -> Result<String, ToolError> {
        self.and_then(IntoToolOutput::into_tool_output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn out<T: IntoToolOutput>(value: T) -> Result<String, ToolError> {
        value.into_tool_output()
    }

    #[test]
    fn strings_as_is() {
        assert_eq!(out("hi \"there\""), Ok("hi \"there\"".to_owned()));
        assert_eq!(out(String::from("x\ny")), Ok("x\ny".to_owned()));
    }

    #[test]
    fn numbers_and_bools_via_display() {
        assert_eq!(out(2.0_f64 + 3.0), Ok("5".to_owned()));
        assert_eq!(out(2.5_f64), Ok("2.5".to_owned()));
        assert_eq!(out(0.1_f32), Ok("0.1".to_owned()));
        assert_eq!(out(-7_i32), Ok("-7".to_owned()));
        assert_eq!(out(u64::MAX), Ok("18446744073709551615".to_owned()));
        assert_eq!(out(true), Ok("true".to_owned()));
    }

    #[test]
    fn json_wrapper_and_value() {
        assert_eq!(
            out(Json(json!({"b": [1, 2], "a": null}))),
            Ok(r#"{"a":null,"b":[1,2]}"#.to_owned())
        );
        assert_eq!(out(Json(vec!["x", "y"])), Ok(r#"["x","y"]"#.to_owned()));
        assert_eq!(out(Json(1.5)), Ok("1.5".to_owned()));
        assert_eq!(out(json!({"k": "v"})), Ok(r#"{"k":"v"}"#.to_owned()));
    }

    #[test]
    fn json_wrapper_serialization_error_is_failed() {
        let mut map = std::collections::HashMap::new();
        map.insert(vec![1u8], 1);
        assert_eq!(
            out(Json(map)),
            Err(ToolError::Failed(
                "cannot serialize the output: key must be a string".to_owned()
            ))
        );
    }

    #[test]
    fn results() {
        assert_eq!(out(Ok::<f64, String>(4.0)), Ok("4".to_owned()));
        assert_eq!(
            out(Err::<f64, String>("division by zero".to_owned())),
            Err(ToolError::Failed("division by zero".to_owned()))
        );
        let parse = "x".parse::<i32>();
        assert_eq!(
            out(parse),
            Err(ToolError::Failed(
                "invalid digit found in string".to_owned()
            ))
        );
        assert_eq!(
            out(Err::<String, ToolError>(ToolError::InvalidArguments(
                "b must not be 0".to_owned()
            ))),
            Err(ToolError::InvalidArguments("b must not be 0".to_owned()))
        );
        assert_eq!(
            out(Ok::<_, ToolError>(Json([1, 2]))),
            Ok("[1,2]".to_owned())
        );
    }
}
