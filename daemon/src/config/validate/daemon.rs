//! `[daemon]`: paths resolved against the config's folder, defaults filled
//! in, and `default_agent` checked against the agents declared.

use super::Ctx;
use crate::config::raw;
use crate::config::{
    DEFAULT_DRAIN_TIMEOUT, DaemonConfig, JournalSync, LogFormat, MAX_TOOL_QUEUE, MIN_EVENT_MEMORY,
    default_socket_path, default_state_dir, parse_duration,
};

impl Ctx<'_> {
    /// `[daemon]`; `default_agent` must name one of the file's agents.
    pub(super) fn daemon(&mut self, raw: &raw::RawConfig) -> DaemonConfig {
        let state_dir = raw
            .daemon
            .state_dir
            .as_ref()
            .map(|s| self.path(s))
            .unwrap_or_else(default_state_dir);
        let mut daemon = DaemonConfig {
            socket: raw
                .daemon
                .socket
                .as_ref()
                .map(|s| self.path(s))
                .unwrap_or_else(default_socket_path),
            cache_dir: raw
                .daemon
                .cache_dir
                .as_ref()
                .map(|s| self.path(s))
                .unwrap_or_else(|| state_dir.join("cache")),
            state_dir,
            watch: raw.daemon.watch.unwrap_or(true),
            plugin_dir: raw.daemon.plugin_dir.as_ref().map(|s| self.path(s)),
            default_agent: raw
                .daemon
                .default_agent
                .as_ref()
                .map(|s| s.get_ref().clone()),
            tool_queue: crate::plugin::DEFAULT_TOOL_QUEUE,
            socket_group: self.socket_group(&raw.daemon),
            http: raw.daemon.http.as_ref().and_then(|h| self.http(h)),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            log_format: None,
            event_memory: crate::session::hub::DEFAULT_EVENT_MEMORY,
            journal_sync: JournalSync::default(),
        };
        if let Some(s) = &raw.daemon.event_memory {
            match crate::config::parse_size(s.get_ref()) {
                Ok(n) if n >= MIN_EVENT_MEMORY => {
                    daemon.event_memory = usize::try_from(n).unwrap_or(usize::MAX)
                }
                Ok(_) => self.error(s, "event_memory must be at least 1MiB".to_string()),
                Err(e) => self.error(s, format!("event_memory: {e}")),
            }
        }
        if let Some(s) = &raw.daemon.journal_sync {
            match s.get_ref().as_str() {
                "normal" => daemon.journal_sync = JournalSync::Normal,
                "full" => daemon.journal_sync = JournalSync::Full,
                other => self.error(
                    s,
                    format!("journal_sync must be \"normal\" or \"full\", not \"{other}\""),
                ),
            }
        }
        if let Some(t) = &raw.daemon.drain_timeout {
            match parse_duration(t.get_ref()) {
                Ok(d) => daemon.drain_timeout = d,
                Err(e) => self.error(t, format!("drain_timeout: {e}")),
            }
        }
        if let Some(f) = &raw.daemon.log_format {
            match f.get_ref().as_str() {
                "text" => daemon.log_format = Some(LogFormat::Text),
                "json" => daemon.log_format = Some(LogFormat::Json),
                other => self.error(
                    f,
                    format!("log_format must be \"text\" or \"json\", not \"{other}\""),
                ),
            }
        }
        if let Some(n) = &raw.daemon.tool_queue {
            match usize::try_from(*n.get_ref()) {
                Ok(v) if v <= MAX_TOOL_QUEUE => daemon.tool_queue = v,
                _ => self.error(n, format!("tool_queue must be 0 to {MAX_TOOL_QUEUE}")),
            }
        }
        if let Some(name) = &raw.daemon.default_agent
            && !raw.agents.keys().any(|k| k.get_ref() == name.get_ref())
        {
            self.error(
                name,
                format!("default_agent: no agent named `{}`", name.get_ref()),
            );
        }
        daemon
    }
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::{messages, parse};

    #[test]
    fn tool_queue_is_read_and_checked_where_it_is_written() {
        let c = parse("[daemon]\ntool_queue = 7\n").unwrap();
        assert_eq!(c.daemon.tool_queue, 7);
        let c = parse("").unwrap();
        assert_eq!(c.daemon.tool_queue, crate::plugin::DEFAULT_TOOL_QUEUE);
        assert_eq!(
            messages("[daemon]\ntool_queue = -1\n"),
            ["/etc/agentd/agents.toml:2:14: tool_queue must be 0 to 1048576"]
        );
    }

    #[test]
    fn drain_timeout_and_log_format_are_read_and_checked() {
        let c = parse(
            "[daemon]
drain_timeout = \"90s\"
log_format = \"json\"
",
        )
        .unwrap();
        assert_eq!(c.daemon.drain_timeout, std::time::Duration::from_secs(90));
        assert_eq!(c.daemon.log_format, Some(crate::config::LogFormat::Json));
        let c = parse("").unwrap();
        assert_eq!(c.daemon.drain_timeout, crate::config::DEFAULT_DRAIN_TIMEOUT);
        assert_eq!(c.daemon.log_format, None);
        let m = messages(
            "[daemon]
log_format = \"xml\"
",
        );
        assert_eq!(
            m,
            ["/etc/agentd/agents.toml:2:14: log_format must be \"text\" or \"json\", not \"xml\""]
        );
        let m = messages(
            "[daemon]
drain_timeout = \"soon\"
",
        );
        assert!(
            m[0].starts_with("/etc/agentd/agents.toml:2:17: drain_timeout: "),
            "{m:?}"
        );
    }

    #[test]
    fn event_memory_and_journal_sync_are_read_and_checked() {
        use crate::config::JournalSync;
        let c = parse("[daemon]\nevent_memory = \"64MiB\"\njournal_sync = \"full\"\n").unwrap();
        assert_eq!(c.daemon.event_memory, 64 << 20);
        assert_eq!(c.daemon.journal_sync, JournalSync::Full);
        let c = parse("").unwrap();
        assert_eq!(c.daemon.event_memory, 256 << 20);
        assert_eq!(c.daemon.journal_sync, JournalSync::Normal);
        assert_eq!(
            messages("[daemon]\nevent_memory = \"10KiB\"\njournal_sync = \"always\"\n"),
            [
                "/etc/agentd/agents.toml:2:16: event_memory must be at least 1MiB",
                "/etc/agentd/agents.toml:3:16: journal_sync must be \"normal\" or \"full\", not \"always\""
            ]
        );
    }
}
