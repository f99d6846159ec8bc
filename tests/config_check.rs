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

#[test]
fn model_visible_tool_names_are_checked_where_they_are_written() {
    let calc = plugin("calc");
    let long = "p".repeat(61);
    let text = format!(
        r#"[plugins.calc]
path = "{calc}"
[plugins.{long}]
path = "{calc}"

[agents.a]
tools = ["calc.add", {{ use = "calc.multiply", as = "calc_add" }}, "{long}.add"]

[agents.b]
tools = [{{ use = "calc.divide", as = "transfer_to_a" }}]
handoffs = ["a"]
"#,
        calc = calc.display()
    );
    let (code, _, err) = check(&text);
    assert_eq!(code, 78, "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        [
            "agents.toml:7:22: tools `calc.add` and `calc.multiply` would both be called `calc_add` by the model; rename one with { use = \"...\", as = \"...\" }",
            &format!(
                "agents.toml:7:66: tool `{long}.add` would be called `{long}_add` by the model, over the API's 64-character limit; give it a shorter name with {{ use = \"{long}.add\", as = \"...\" }}"
            ),
            "agents.toml:11:13: agent `b`: tool `calc.divide` has the same name as the handoff to `a`",
        ],
        "{err}"
    );
}

#[tokio::test]
async fn model_visible_names_are_plugin_underscore_tool_unless_aliased() {
    let text = format!(
        "[plugins.calc]\npath = \"{}\"\n[agents.a]\ntools = [\"calc.*\", {{ use = \"calc.add\", as = \"sum\" }}]\n",
        plugin("calc").display()
    );
    let config = agentd::config::Config::parse(std::path::Path::new("/t/agents.toml"), &text)
        .unwrap_or_else(|e| panic!("{e}"));
    let host = agentd::plugin::PluginHost::new().expect("plugin host");
    let catalog = agentd::catalog::Catalog::build(config, &host)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let agent = &catalog.agents["a"];
    let names: Vec<(&str, &str)> = agent
        .tools
        .iter()
        .map(|t| (t.model_name.as_str(), t.qualified.as_str()))
        .collect();
    // `calc.*` came first, so calc.add is offered once, under its default name.
    assert_eq!(
        names,
        [
            ("calc_add", "calc.add"),
            ("calc_multiply", "calc.multiply"),
            ("calc_divide", "calc.divide"),
        ]
    );
    let text = format!(
        "[plugins.calc]\npath = \"{}\"\n[agents.a]\ntools = [{{ use = \"calc.add\", as = \"sum\" }}, \"calc.*\"]\n",
        plugin("calc").display()
    );
    let config = agentd::config::Config::parse(std::path::Path::new("/t/agents.toml"), &text)
        .unwrap_or_else(|e| panic!("{e}"));
    let catalog = agentd::catalog::Catalog::build(config, &host)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let agent = &catalog.agents["a"];
    assert_eq!(
        agent.tool("sum").map(|t| t.qualified.as_str()),
        Some("calc.add")
    );
    assert!(
        agent.tool("calc_add").is_none(),
        "an alias replaces the default name"
    );
    assert_eq!(
        agent.tool("calc_divide").map(|t| t.qualified.as_str()),
        Some("calc.divide")
    );
}
