//! The sandbox through the real daemon: a misbehaving plugin is contained
//! while the same session keeps being served, and the daemon's log stays
//! readable.

mod common;

use agentd::plugin::sandbox::OUTPUT_LINES_PER_WINDOW;
use common::{TestDaemon, fixture, plugin};

#[tokio::test]
async fn a_stdout_flood_neither_floods_the_log_nor_stalls_other_calls() {
    let d = TestDaemon::start(&format!(
        r#"
[plugins.calc]
path = "{calc}"

[plugins.faulty]
path = "{faulty}"
sandbox = {{ timeout = "2s" }}

[agents.a]
instructions = "test"
tools = ["calc.*", "faulty.*"]
"#,
        calc = plugin("calc").display(),
        faulty = fixture("faulty").display(),
    ))
    .await;
    let s = d.start_session("a").await;
    let mut ev = d.watch(&s);

    // Prints until its 2 s deadline stops it; other calls run meanwhile.
    d.send(&s, r#"call faulty.shout {"lines":0}"#).await;
    ev.until_type("tool_start", &[("tool", "faulty.shout")])
        .await;
    d.send(&s, r#"call calc.add {"a":20,"b":22}"#).await;
    let add = ev.until_type("tool_end", &[("tool", "calc.add")]).await;
    assert_eq!(add["output"], "42");
    let shout = ev.until_type("tool_end", &[("tool", "faulty.shout")]).await;
    assert_eq!(shout["outcome"], "failed");
    let out = shout["output"].as_str().unwrap();
    assert!(out.contains("longer than its 2s limit"), "{out}");

    // Unlimited, this would be hundreds of thousands of lines; the limit is
    // per second, and the call lasted a little over 2 s (at most 4 windows).
    let log = d.log();
    let printed = log.lines().filter(|l| l.contains(" shout ")).count();
    let most = 4 * OUTPUT_LINES_PER_WINDOW as usize;
    assert!(
        (1..=most).contains(&printed),
        "{printed} guest stdout lines reached the log (at most {most} expected)"
    );
    assert!(log.contains("lines dropped"), "{log}");
    let stopped = log
        .lines()
        .find(|l| l.contains("tool call stopped by the sandbox"))
        .unwrap_or_else(|| panic!("no log line for the stopped call:\n{log}"));
    assert!(
        stopped.contains("plugin=faulty") && stopped.contains("tool=\"shout\""),
        "{stopped}"
    );
}
