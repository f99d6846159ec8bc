//! `{{name}}`: an agentd guardrail plugin.
//!
//! Build the component: `agentd plugin build` (writes `{{name}}.wasm`).
//! Test natively: `cargo test`.

/// The plugin's guardrails: each `#[guardrail]` function judges text or tool calls.
#[agentd_plugin_sdk::plugin]
mod {{ident}} {
    use agentd_plugin_sdk::Verdict;

    /// Stops text that mentions a password.
    #[guardrail]
    pub fn no_passwords(text: &str) -> Result<Verdict, String> {
        if text.len() > 1_000_000 {
            // Contract 0.2: an error means "cannot judge"; agentd trips on it.
            return Err("text too long to judge".into());
        }
        Ok(if text.to_lowercase().contains("password") {
            Verdict::trip("mentions a password")
        } else {
            Verdict::pass()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{{ident}}::Plugin;
    use agentd_plugin_sdk::{CallContext, Plugin as _, Subject, Verdict};

    #[test]
    fn trips_on_passwords_only() {
        let ctx = CallContext::default();
        let check = |t: &str| Plugin::check("no_passwords", &Subject::OutputText(t.into()), &ctx);
        assert_eq!(check("my Password is 1234"), Ok(Verdict::trip("mentions a password")));
        assert_eq!(check("hello"), Ok(Verdict::pass()));
    }
}
