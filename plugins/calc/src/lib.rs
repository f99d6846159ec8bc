//! Example tool plugin: arithmetic the model can call.
//!
//! Build with `cargo build -p calc --target wasm32-wasip2 --profile plugin`.

/// Arithmetic tools.
#[agentd_plugin_sdk::plugin]
mod calc {
    /// Add two numbers.
    #[tool]
    pub fn add(a: f64, b: f64) -> f64 {
        a + b
    }

    /// Multiply two numbers.
    #[tool]
    pub fn multiply(a: f64, b: f64) -> f64 {
        a * b
    }

    /// Divide `a` by `b`. Fails when `b` is zero.
    #[tool]
    pub fn divide(a: f64, b: f64) -> Result<f64, String> {
        if b == 0.0 {
            Err("division by zero".to_owned())
        } else {
            Ok(a / b)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::calc::Plugin;
    use agentd_plugin_sdk::{CallContext, Plugin as _, ToolError};

    fn call(name: &str, args: &str) -> Result<String, ToolError> {
        Plugin::call_tool(name, args, &CallContext::default())
    }

    #[test]
    fn arithmetic() {
        assert_eq!(call("add", r#"{"a":2,"b":3}"#), Ok("5".into()));
        assert_eq!(call("multiply", r#"{"a":2.5,"b":4}"#), Ok("10".into()));
        assert_eq!(call("divide", r#"{"a":1,"b":8}"#), Ok("0.125".into()));
        assert_eq!(
            call("divide", r#"{"a":1,"b":0}"#),
            Err(ToolError::Failed("division by zero".into()))
        );
    }

    #[test]
    fn describes_three_tools() {
        let names: Vec<String> = Plugin::describe_tools()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, ["add", "multiply", "divide"]);
        assert!(Plugin::describe_guardrails().is_empty());
    }
}
