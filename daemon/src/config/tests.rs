use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/agentd/agents.toml"), text)
}

fn messages(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("config should be refused:\n{text}"),
        Err(e) => e.diagnostics.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn minimal_config_gets_defaults() {
    let c = parse("[agents.a]\ninstructions = \"hi\"\n").unwrap();
    let a = &c.agents["a"];
    assert_eq!(a.model, "default");
    assert_eq!(c.models["default"].provider, Provider::Sim);
    assert_eq!(a.output_modalities, vec![Modality::Audio]);
    assert!(a.async_tool_calls);
    assert_eq!(c.default_agent(), Some("a"));
    assert_eq!(c.guardrails.debounce_text_length, 100);
}

#[test]
fn relative_paths_resolve_against_the_config_folder() {
    let c =
        parse("[daemon]\nsocket = \"run/a.sock\"\n[plugins.calc]\npath = \"plugins/calc.wasm\"\n")
            .unwrap();
    assert_eq!(c.daemon.socket, Path::new("/etc/agentd/run/a.sock"));
    assert_eq!(
        c.plugins["calc"].path,
        Path::new("/etc/agentd/plugins/calc.wasm")
    );
}

#[test]
fn syntax_error_names_file_line_and_column() {
    let m = messages("[agents.a]\ninstructions = \"hi\"\nvoice = \n");
    assert_eq!(m.len(), 1);
    assert!(m[0].starts_with("/etc/agentd/agents.toml:3:"), "{}", m[0]);
}

#[test]
fn unknown_key_is_an_error_with_position() {
    let m = messages("[agents.a]\ninstructions = \"hi\"\ninstructoins = \"typo\"\n");
    assert!(m[0].starts_with("/etc/agentd/agents.toml:3:1:"), "{}", m[0]);
    assert!(m[0].contains("instructoins"), "{}", m[0]);
}

#[test]
fn every_semantic_error_is_reported_with_its_position() {
    let text = r#"
[plugins.calc]
path = "calc.wasm"
sandbox = { memory = "lots", timeout = "5" }

[agents.a]
model = "nope"
tools = ["calc"]
handoffs = ["ghost"]
approval = { default = "maybe" }
"#;
    let m = messages(text);
    let want = [
        ("4:22", "memory: `lots` is not a size"),
        ("4:40", "timeout: duration `5` needs a unit"),
        ("7:9", "no model named `nope`"),
        ("8:10", "tool `calc` must be written `plugin.tool`"),
        ("9:13", "handoff to unknown agent `ghost`"),
        ("10:24", "unknown approval action `maybe`"),
    ];
    assert_eq!(m.len(), want.len(), "{m:#?}");
    for (pos, text) in want {
        assert!(
            m.iter()
                .any(|d| d.starts_with(&format!("/etc/agentd/agents.toml:{pos}: {text}"))),
            "missing {pos} {text} in {m:#?}"
        );
    }
}

#[test]
fn approval_rules_are_parsed() {
    let c = parse(
        r#"
[agents.a]
tools = ["calc.*"]
[agents.a.approval]
default = "allow"
timeout = "60s"
rules = [{ tool = "calc.multiply", action = "ask" }, { tool = "pay.send", action = "deny", when = { arg = "/amount", gt = 100 } }]
"#,
    )
    .unwrap();
    let p = &c.agents["a"].approval;
    assert_eq!(p.timeout, Some(Duration::from_secs(60)));
    assert_eq!(p.decide("calc.multiply", "{}"), Action::Ask);
    assert_eq!(p.decide("calc.add", "{}"), Action::Allow);
    assert_eq!(p.decide("pay.send", r#"{"amount":101}"#), Action::Deny);
}

#[test]
fn tool_aliases_need_a_single_tool() {
    let m = messages("[agents.a]\ntools = [{ use = \"calc.*\", as = \"x\" }]\n");
    assert!(m[0].contains("an alias needs one tool"), "{}", m[0]);
    let c = parse("[agents.a]\ntools = [{ use = \"calc.add\", as = \"add\" }]\n").unwrap();
    assert_eq!(c.agents["a"].tools[0].alias.as_deref(), Some("add"));
}

#[test]
fn sandbox_grants_are_resolved_against_the_config_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let text = r#"
[plugins.files.sandbox]
memory = "32MiB"
dirs = [{ host = "data", guest = "/data" }, { host = "data", guest = "/out", mode = "rw" }]
env = { GREETING = "hello" }
allow_hosts = ["api.example.com:443", "127.0.0.1:8080", "[::1]:9"]
"#;
    let text = format!("[plugins.files]\npath = \"files.wasm\"\n{}", &text[1..]);
    let c = Config::parse(&dir.path().join("agents.toml"), &text).unwrap();
    let s = &c.plugins["files"].sandbox;
    assert_eq!(s.memory, 32 << 20);
    assert_eq!(
        s.dirs,
        vec![
            DirGrant {
                host: dir.path().join("data"),
                guest: "/data".into(),
                read_only: true
            },
            DirGrant {
                host: dir.path().join("data"),
                guest: "/out".into(),
                read_only: false
            },
        ]
    );
    assert_eq!(s.env, vec![("GREETING".to_string(), "hello".to_string())]);
    let hosts: Vec<String> = s.allow_hosts.iter().map(ToString::to_string).collect();
    assert_eq!(hosts, ["api.example.com:443", "127.0.0.1:8080", "[::1]:9"]);
}

#[test]
fn inherit_env_copies_only_the_named_variables_that_are_set() {
    // PATH is set for any test run; the other name is not.
    let c = parse(
        "[plugins.p]\npath = \"p.wasm\"\nsandbox = { inherit_env = [\"PATH\", \"AGENTD_TEST_SURELY_UNSET\"] }\n",
    )
    .unwrap();
    let env = &c.plugins["p"].sandbox.env;
    assert_eq!(env.len(), 1);
    assert_eq!(env[0].0, "PATH");
    assert_eq!(Some(env[0].1.clone()), std::env::var("PATH").ok());
}

#[test]
fn bad_sandbox_grants_are_errors_with_positions() {
    let m = messages(
        r#"[plugins.p]
path = "p.wasm"
sandbox = { dirs = [{ host = "/definitely/not/here", guest = "/d" }] }
[plugins.q]
path = "q.wasm"
sandbox = { dirs = [{ host = "/", guest = "rel", mode = "ro" }] }
[plugins.r]
path = "r.wasm"
sandbox = { dirs = [{ host = "/", guest = "/x", mode = "rwx" }] }
[plugins.s]
path = "s.wasm"
sandbox = { allow_hosts = ["example.com"], env = { "1BAD" = "x" } }
"#,
    );
    let want = [
        "agents.toml:3:30: dirs: /definitely/not/here is not an existing directory",
        "agents.toml:6:43: dirs: guest path `rel` must be absolute",
        "agents.toml:9:56: dirs: mode `rwx` must be `ro` or `rw`",
        "agents.toml:12:28: allow_hosts: `example.com` must be `host:port`",
        "agents.toml:12:52: env: `1BAD` is not a variable name",
    ];
    for w in want {
        assert!(m.iter().any(|d| d.contains(w)), "no `{w}` in {m:#?}");
    }
    // Unknown keys are a parse error, reported alone (serde stops at the first).
    let m = messages("[plugins.t]\npath = \"t.wasm\"\nsandbox = { dirz = [] }\n");
    assert!(
        m[0].starts_with("/etc/agentd/agents.toml:3:13:"),
        "{}",
        m[0]
    );
    assert!(m[0].contains("dirz"), "{}", m[0]);
}
