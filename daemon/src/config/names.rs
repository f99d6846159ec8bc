//! The names agents.toml may use: plugins, agents, tools, guardrails and
//! aliases must be valid function names of the model API (they are joined
//! into the tool names the model sees); environment variables must be names
//! a shell accepts.

/// Plugin, tool and guardrail names: what the model API allows in a function name.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `[A-Za-z_][A-Za-z0-9_]*`: what a shell accepts as a variable name.
pub(super) fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
