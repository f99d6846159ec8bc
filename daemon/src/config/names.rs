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

/// Edit distance between `a` and `b`, by characters: insertions, deletions,
/// substitutions and swaps of neighbours (`fsat` → `fast`) cost one each
/// (optimal string alignment).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut row = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            row[j] = (prev[j] + 1).min(row[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(before[j - 2] + 1);
            }
        }
        before = std::mem::replace(&mut prev, row);
    }
    prev[b.len()]
}

/// The known name closest to `unknown`, when it is close enough to be a
/// likely typo (at most a third of its length apart, and at least one edit
/// closer than a full rewrite).
pub fn closest<'a>(unknown: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let budget = (unknown.chars().count() / 3).max(1);
    known
        .into_iter()
        .map(|k| (edit_distance(unknown, k), k))
        .filter(|(d, k)| *d <= budget && *d < k.chars().count())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_names_are_typos_not_strangers() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("fsat", "fast"), 1);
        assert_eq!(closest("fsat", ["fast", "slow"]), Some("fast"));
        assert_eq!(
            closest("per-sesion", ["per-call", "per-session"]),
            Some("per-session")
        );
        assert_eq!(closest("calc", ["calc", "clock"]), Some("calc"));
        assert_eq!(closest("weather", ["calc", "clock"]), None);
        assert_eq!(closest("memroy", ["memory", "timeout"]), Some("memory"));
    }
}
