//! `{{name}}`: an agentd tool plugin.
//!
//! Build the component: `agentd plugin build` (writes `{{name}}.wasm`).
//! Test natively: `cargo test`.

/// The plugin's tools: each `#[tool]` function is one tool the model can call.
#[agentd_plugin_sdk::plugin]
mod {{ident}} {
    /// Greets someone by name.
    #[tool]
    pub fn greet(name: String) -> String {
        format!("Hello, {name}!")
    }
}

#[cfg(test)]
mod tests {
    use super::{{ident}}::Plugin;
    use agentd_plugin_sdk::{CallContext, Plugin as _};

    #[test]
    fn greets_by_name() {
        let ctx = CallContext::default();
        assert_eq!(
            Plugin::call_tool("greet", r#"{"name": "Ada"}"#, &ctx),
            Ok("Hello, Ada!".to_string())
        );
        assert_eq!(Plugin::describe_tools()[0].name, "greet");
    }
}
