//! Example guardrail plugin: a word blocklist and a leaked-secret detector.
//!
//! Build with `cargo build -p blocklist --target wasm32-wasip2 --profile plugin`.

/// Words `blocklist` stops, lowercase; matched case-insensitively as whole words.
const BLOCKED_WORDS: &[&str] = &["forbidden", "fuck", "shit", "bitch", "bastard", "asshole"];

/// A kind of API key: a prefix followed by at least `min_body` characters of `[A-Za-z0-9]`.
struct KeyPattern {
    /// What the reason calls it (never the key itself).
    kind: &'static str,
    prefix: &'static str,
    min_body: usize,
    /// Whether `-` and `_` may appear in the body (they do not count towards `min_body`).
    dashes: bool,
}

const KEY_PATTERNS: &[KeyPattern] = &[
    KeyPattern {
        kind: "an API key (sk-…)",
        prefix: "sk-",
        min_body: 20,
        dashes: true,
    },
    KeyPattern {
        kind: "an AWS access key id (AKIA…)",
        prefix: "AKIA",
        min_body: 16,
        dashes: false,
    },
    KeyPattern {
        kind: "a GitHub token (ghp_…)",
        prefix: "ghp_",
        min_body: 30,
        dashes: false,
    },
    KeyPattern {
        kind: "a GitHub token (github_pat_…)",
        prefix: "github_pat_",
        min_body: 30,
        dashes: true,
    },
    KeyPattern {
        kind: "a Slack token (xox…)",
        prefix: "xoxb-",
        min_body: 20,
        dashes: true,
    },
];

/// The first blocked word in `text`, compared case-insensitively as a whole word.
fn find_blocked_word(text: &str) -> Option<&'static str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .find_map(|word| {
            let word = word.to_lowercase();
            BLOCKED_WORDS
                .iter()
                .copied()
                .find(|blocked| *blocked == word)
        })
}

/// What kind of key `text` seems to contain, if any.
fn find_key(text: &str) -> Option<&'static str> {
    KEY_PATTERNS.iter().find_map(|pattern| {
        text.match_indices(pattern.prefix)
            .any(|(at, _)| {
                let starts_token = text[..at]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_' && c != '-');
                let body = &text[at + pattern.prefix.len()..];
                let counted = body
                    .chars()
                    .take_while(|&c| {
                        c.is_ascii_alphanumeric() || (pattern.dashes && (c == '-' || c == '_'))
                    })
                    .filter(char::is_ascii_alphanumeric)
                    .count();
                starts_token && counted >= pattern.min_body
            })
            .then_some(pattern.kind)
    })
}

/// Guardrails over text and tool calls.
#[agentd_plugin_sdk::plugin]
mod guards {
    use agentd_plugin_sdk::{Verdict, log};

    /// Stops text or tool calls that contain a blocked word (case-insensitive, whole words).
    #[guardrail]
    pub fn blocklist(text: &str) -> Verdict {
        match super::find_blocked_word(text) {
            Some(word) => {
                log::info(format!("blocklist: blocked word \"{word}\""));
                Verdict::trip(format!("contains the blocked word \"{word}\""))
            }
            None => Verdict::pass(),
        }
    }

    /// Stops text or tool calls that contain what looks like an API key or token.
    #[guardrail]
    pub fn no_secrets(text: &str) -> Verdict {
        match super::find_key(text) {
            Some(kind) => {
                log::info(format!("no_secrets: found {kind}"));
                Verdict::trip(format!("contains what looks like {kind}"))
            }
            None => Verdict::pass(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::guards::Plugin;
    use agentd_plugin_sdk::{CallContext, Plugin as _, Subject, Verdict};

    fn check(name: &str, subject: Subject) -> Verdict {
        Plugin::check(name, &subject, &CallContext::default())
            .unwrap_or_else(|e| panic!("guardrail `{name}` failed: {e}"))
    }

    fn text(name: &str, text: &str) -> Verdict {
        check(name, Subject::OutputText(text.into()))
    }

    #[test]
    fn blocklist_whole_words_case_insensitive() {
        assert_eq!(
            text("blocklist", "That is FORBIDDEN, sorry."),
            Verdict::trip("contains the blocked word \"forbidden\"")
        );
        assert_eq!(
            check("blocklist", Subject::InputText("forbidden".into())),
            Verdict::trip("contains the blocked word \"forbidden\"")
        );
        assert_eq!(
            text("blocklist", "the forbiddenness of it"),
            Verdict::pass()
        );
        assert_eq!(text("blocklist", "unforbidden"), Verdict::pass());
        assert_eq!(text("blocklist", "Hello, how are you?"), Verdict::pass());
        assert_eq!(text("blocklist", ""), Verdict::pass());
    }

    #[test]
    fn blocklist_checks_tool_call_arguments() {
        let call = Subject::ToolCall {
            tool: "search".into(),
            arguments_json: r#"{"query":"forbidden fruit"}"#.into(),
        };
        assert!(check("blocklist", call).is_tripped());
        let call = Subject::ToolCall {
            tool: "forbidden".into(),
            arguments_json: r#"{"query":"apples"}"#.into(),
        };
        assert!(!check("blocklist", call).is_tripped());
    }

    #[test]
    fn no_secrets_spots_keys_without_echoing_them() {
        let verdict = text("no_secrets", "my key is sk-abcdefghijklmnopqrstuvwx123 ok");
        assert_eq!(
            verdict,
            Verdict::trip("contains what looks like an API key (sk-…)")
        );
        assert!(text("no_secrets", "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx").is_tripped());
        assert!(text("no_secrets", "\"sk-ant-api03-abcdefghij_klmnopqrst\"").is_tripped());
        assert!(text("no_secrets", "id AKIAIOSFODNN7EXAMPLE here").is_tripped());
        assert!(text("no_secrets", "ghp_abcdefghijklmnopqrstuvwxyz0123456789").is_tripped());
    }

    #[test]
    fn no_secrets_ignores_lookalikes() {
        assert_eq!(text("no_secrets", "sk-short"), Verdict::pass());
        assert_eq!(
            text("no_secrets", "risk-abcdefghijklmnopqrstuvwxyz"),
            Verdict::pass()
        );
        assert_eq!(
            text("no_secrets", "task-abcdefghijklmnopqrstuvwxyz"),
            Verdict::pass()
        );
        assert_eq!(text("no_secrets", "just some text"), Verdict::pass());
    }

    #[test]
    fn describes_two_guardrails_and_no_tools() {
        let names: Vec<String> = Plugin::describe_guardrails()
            .into_iter()
            .map(|g| g.name)
            .collect();
        assert_eq!(names, ["blocklist", "no_secrets"]);
        assert!(Plugin::describe_tools().is_empty());
    }
}
