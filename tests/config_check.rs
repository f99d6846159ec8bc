//! `agentd check` and start-up against bad configs: every problem is named
//! with file:line:col, the exit code is 78 (EX_CONFIG), nothing starts.

mod common;

use std::process::Command;

use common::plugin;

fn check(text: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agents.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_agentd"))
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    let stderr =
        String::from_utf8_lossy(&out.stderr).replace(&path.display().to_string(), "agents.toml");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

#[test]
fn a_good_config_checks_ok() {
    let text = format!(
        "[plugins.calc]\npath = \"{}\"\n[agents.a]\ntools = [\"calc.*\"]\n",
        plugin("calc").display()
    );
    let (code, out, err) = check(&text);
    assert_eq!(code, 0, "{err}");
    assert!(out.ends_with("ok (1 agents, 1 plugins)\n"), "{out}");
}

#[test]
fn syntax_errors_name_line_and_column() {
    let (code, _, err) = check("[agents.a]\ninstructions = \"unterminated\n");
    assert_eq!(code, 78);
    assert!(err.starts_with("agents.toml:2:"), "{err}");
}

#[test]
fn unknown_tools_and_plugins_are_reported_where_they_are_named() {
    let text = format!(
        "[plugins.calc]\npath = \"{}\"\n\n[agents.a]\ntools = [\"calc.sqrt\", \"files.read\"]\nguardrails = [\"calc.nope\"]\n",
        plugin("calc").display()
    );
    let (code, _, err) = check(&text);
    assert_eq!(code, 78, "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        [
            "agents.toml:5:10: plugin `calc` has no tool matching `calc.sqrt` (it has: add, multiply, divide)",
            "agents.toml:5:23: no plugin named `files` (declare it under [plugins] or put files.wasm in plugin_dir)",
            "agents.toml:6:15: plugin `calc` has no guardrail `nope` (it has: none)",
        ],
        "{err}"
    );
}

#[test]
fn a_broken_plugin_is_named_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.wasm");
    std::fs::write(&bad, b"garbage").unwrap();
    let text = format!(
        "[plugins.bad]\npath = \"{}\"\n[agents.a]\ntools = [\"bad.x\"]\n",
        bad.display()
    );
    let (code, _, err) = check(&text);
    assert_eq!(code, 78);
    assert!(
        err.contains("agents.toml:4:10: plugin `bad` failed to load: plugin `bad`:"),
        "{err}"
    );
    assert!(
        err.contains("is not a valid WebAssembly component"),
        "{err}"
    );
}
