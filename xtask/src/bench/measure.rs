//! What a benchmark measures of a process, from Linux's `/proc`: CPU time
//! (10 ms ticks of `stat`, and ns-precise `schedstat` of its live threads),
//! memory (`VmRSS`, `VmHWM`, and resetting the high-water mark so a peak
//! covers one phase only), this process's own CPU time, and the machine's
//! load to record beside the figures.

use std::io::Write;

use anyhow::{Context, Result, anyhow};

/// user+sys CPU seconds of a process, all threads (10 ms ticks).
pub fn proc_cpu_s(pid: u32) -> Result<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    stat_cpu_s(pid, &text)
}

/// user+sys CPU seconds from the text of `/proc/PID/stat`.
fn stat_cpu_s(pid: u32, text: &str) -> Result<f64> {
    // The command name (field 2) may hold spaces and parentheses: fields are
    // counted from after its last `) `.
    let after = text
        .rsplit_once(") ")
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow!("unexpected /proc/{pid}/stat: {text}"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .ok_or_else(|| anyhow!("no field {i} in /proc/{pid}/stat"))
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as f64 } else { 100.0 };
    // Fields 14 and 15 of stat(5), counted from the state (field 3).
    Ok((tick(11)? + tick(12)?) / hz)
}

/// On-CPU seconds of a process's live threads, in ns precision (the sum of
/// `/proc/PID/task/*/schedstat`); `None` when schedstat is unavailable.
/// Threads that exit in between would be missed: compared with the 10 ms
/// ticks of [`proc_cpu_s`], which count them, in the results.
pub fn proc_sched_cpu_s(pid: u32) -> Option<f64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut ns = 0u64;
    for t in tasks.flatten() {
        let text = std::fs::read_to_string(t.path().join("schedstat")).ok()?;
        ns += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(ns as f64 / 1e9)
}

/// A `kB` line of /proc/PID/status, in KiB.
pub fn proc_status_kb(pid: u32, key: &str) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status_kb(&text, key).ok_or_else(|| anyhow!("no {key} in /proc/{pid}/status"))
}

fn status_kb(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Reset a process's `VmHWM` to its current RSS (clear_refs(5), Linux ≥ 4.0),
/// so the next peak read is of what follows; `false` when that is refused.
pub fn reset_peak_rss(pid: u32) -> bool {
    std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{pid}/clear_refs"))
        .and_then(|mut f| f.write_all(b"5"))
        .is_ok()
}

/// user+sys CPU seconds of this process so far.
pub fn own_cpu_s() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// `N CPUs, load average A B C`, recorded with each run.
pub fn machine_state() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!(
        "{cpus} CPUs, load average {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_after_the_command_name() {
        // A command name with a space and a `) ` in it; utime 150, stime 50.
        let stat = "42 (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 3 0 5 0 0";
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        let cpu = stat_cpu_s(42, stat).unwrap();
        assert!((cpu - 200.0 / hz).abs() < 1e-9, "{cpu}");
        assert!(stat_cpu_s(42, "garbage").is_err());
    }

    #[test]
    fn status_lines_are_read_in_kib() {
        let status = "Name:\tagentd\nVmHWM:\t   70912 kB\nVmRSS:\t   29568 kB\n";
        assert_eq!(status_kb(status, "VmHWM"), Some(70912));
        assert_eq!(status_kb(status, "VmRSS"), Some(29568));
        assert_eq!(status_kb(status, "VmSwap"), None);
    }

    #[test]
    fn this_process_can_be_measured() {
        let pid = std::process::id();
        assert!(proc_cpu_s(pid).unwrap() >= 0.0);
        assert!(proc_status_kb(pid, "VmRSS").unwrap() > 0);
    }
}
