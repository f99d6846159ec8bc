//! `[journal]`: retention of the audit journal — `max_age` (ended sessions
//! older than this go, with their calls, approvals, items and trips) and
//! `max_size` (beyond this much data, the oldest ended sessions go). Both
//! unset keeps everything.

use super::Ctx;
use crate::config::raw;
use crate::config::{parse_duration, parse_size};
use crate::store::Retention;

impl Ctx<'_> {
    pub(super) fn journal(&mut self, raw: &raw::RawJournal) -> Retention {
        let mut r = Retention::default();
        if let Some(a) = &raw.max_age {
            match parse_duration(a.get_ref()) {
                Ok(d) if !d.is_zero() => r.max_age = Some(d),
                Ok(_) => self.error(a, "max_age must be more than 0"),
                Err(e) => self.error(a, format!("max_age: {e}")),
            }
        }
        if let Some(s) = &raw.max_size {
            match parse_size(s.get_ref()) {
                Ok(n) if n > 0 => r.max_size = Some(n),
                Ok(_) => self.error(s, "max_size must be more than 0"),
                Err(e) => self.error(s, format!("max_size: {e}")),
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::test_support::{messages, parse};

    #[test]
    fn retention_is_read_and_checked_where_written() {
        let c = parse("[journal]\nmax_age = \"30d\"\nmax_size = \"1GiB\"\n").unwrap();
        assert_eq!(c.journal.max_age, Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(c.journal.max_size, Some(1 << 30));
        assert_eq!(
            parse("").unwrap().journal,
            crate::store::Retention::default()
        );
        assert_eq!(
            messages("[journal]\nmax_age = \"soon\"\nmax_size = \"0\"\nkeep = 1\n"),
            ["/etc/agentd/agents.toml:4:1: unknown field `keep`, expected `max_age` or `max_size`"]
        );
        assert_eq!(
            messages("[journal]\nmax_age = \"soon\"\nmax_size = \"0\"\n"),
            [
                "/etc/agentd/agents.toml:2:11: max_age: `soon` is not a duration (like 5s or 200ms)",
                "/etc/agentd/agents.toml:3:12: max_size must be more than 0",
            ]
        );
    }
}
