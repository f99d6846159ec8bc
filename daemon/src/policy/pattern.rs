//! Tool patterns: `plugin.tool`, `plugin.*` or `*`, naming which tools a rule
//! or an agent's tool list covers. `*` matches any run of characters within
//! one part (never across the `.`).

use std::fmt;

/// `plugin.tool`, `plugin.*` or `*`: which tools a rule or an agent's list names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolPattern {
    text: String,
}

impl fmt::Display for ToolPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl ToolPattern {
    /// Parse a pattern; `*` matches any run of characters within one part.
    pub fn parse(text: &str) -> Result<ToolPattern, String> {
        if text == "*" {
            return Ok(ToolPattern { text: text.into() });
        }
        let Some((plugin, tool)) = text.split_once('.') else {
            return Err(format!(
                "tool `{text}` must be written `plugin.tool` or `plugin.*`"
            ));
        };
        let ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'*')
        };
        if !ok(plugin) || !ok(tool) {
            return Err(format!(
                "tool `{text}` must be written `plugin.tool` with names of a-z, A-Z, 0-9, `_`, `-` (and `*`)"
            ));
        }
        Ok(ToolPattern { text: text.into() })
    }

    /// Whether the pattern has a wildcard.
    pub fn is_glob(&self) -> bool {
        self.text.contains('*')
    }

    /// The plugin part, when it has no wildcard.
    pub fn plugin(&self) -> Option<&str> {
        let (plugin, _) = self.text.split_once('.')?;
        (!plugin.contains('*')).then_some(plugin)
    }

    /// Whether `qualified` (`plugin.tool`) matches.
    pub fn matches(&self, qualified: &str) -> bool {
        glob_match(self.text.as_bytes(), qualified.as_bytes())
    }

    /// Whether every tool `other` matches is also matched by `self`.
    ///
    /// Matching `other`'s text with its `*` taken as a plain character is
    /// exact here: a `*` in `self` matches any run within a part, so it also
    /// matches the run `other`'s `*` stands for.
    pub fn covers(&self, other: &ToolPattern) -> bool {
        self.matches(&other.text)
    }
}

fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len())
            .take_while(|&i| i == 0 || text[i - 1] != b'.' || rest.is_empty())
            .any(|i| glob_match(rest, &text[i..])),
        Some((c, rest)) => text.first() == Some(c) && glob_match(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ToolPattern {
        ToolPattern::parse(s).unwrap()
    }

    #[test]
    fn patterns_match_within_parts() {
        assert!(p("calc.*").matches("calc.add"));
        assert!(!p("calc.*").matches("calculator.add"));
        assert!(p("*").matches("files.read"));
        assert!(p("*.read").matches("files.read"));
        assert!(!p("calc.add").matches("calc.adder"));
        assert!(ToolPattern::parse("calc").is_err());
        assert!(ToolPattern::parse("calc.a b").is_err());
    }

    #[test]
    fn covering_is_matching_the_other_pattern() {
        let cases = [
            ("*", "pay.transfer", true),
            ("pay.*", "pay.transfer", true),
            ("pay.*", "pay.tr*", true),
            ("pay.t*", "pay.*", false),
            ("pay.transfer", "pay.*", false),
            ("pay.transfer", "pay.transfer", true),
            ("*.read", "files.read", true),
            ("calc.*", "pay.*", false),
        ];
        for (a, b, want) in cases {
            assert_eq!(p(a).covers(&p(b)), want, "{a} covers {b}");
        }
    }
}
