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
    assert_eq!(a.output_modalities, None);
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
fn realtime_settings_are_validated_with_positions() {
    let text = r#"[agents.a]
input_audio_format = "mp3"
turn_detection = { type = "semantic_vad", threshold = 0.5 }
max_output_tokens = 0
tool_choice = "not a tool"

[agents.b]
turn_detection = { type = "server_vad", eagerness = "high" }
transcription_model = ""

[agents.c]
turn_detection = { type = "loud" }
"#;
    let m = messages(text);
    let expect = [
        ("agents.toml:2:22:", "unknown audio format `mp3`"),
        ("agents.toml:3:18:", "`threshold` does not apply"),
        ("agents.toml:4:21:", "max_output_tokens must be"),
        ("agents.toml:5:15:", "tool_choice `not a tool`"),
        ("agents.toml:8:18:", "`eagerness` does not apply"),
        ("agents.toml:9:23:", "transcription_model is empty"),
        ("agents.toml:12:27:", "unknown turn detection `loud`"),
    ];
    for (at, what) in expect {
        assert!(
            m.iter().any(|d| d.contains(at) && d.contains(what)),
            "no `{at} {what}` in {m:#?}"
        );
    }
    assert_eq!(m.len(), expect.len(), "{m:#?}");
}

#[test]
fn unknown_turn_detection_key_is_an_error() {
    let m = messages("[agents.a]\nturn_detection = { type = \"none\", treshold = 1 }\n");
    assert!(m[0].contains("treshold"), "{m:?}");
}

#[test]
fn realtime_settings_default_to_the_reference() {
    let c = parse("[agents.a]\n").unwrap();
    assert_eq!(
        c.agents["a"].realtime,
        realtime::RealtimeSettings::default()
    );
}

#[test]
fn ca_file_is_checked_where_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agents.toml");
    std::fs::write(dir.path().join("not-pem.txt"), "hello\n").unwrap();
    let text = r#"[models.a]
provider = "openai"
url = "wss://models.internal/v1/realtime"
ca_file = "missing.pem"

[models.b]
provider = "openai"
url = "wss://models.internal/v1/realtime"
ca_file = "not-pem.txt"

[models.c]
provider = "openai"
url = "ws://models.internal/v1/realtime"
ca_file = "not-pem.txt"

[models.d]
provider = "sim"
ca_file = "x.pem"
"#;
    let m: Vec<String> = match Config::parse(&config, text) {
        Ok(_) => panic!("config should be refused"),
        Err(e) => e.diagnostics.iter().map(ToString::to_string).collect(),
    };
    let at = |pos: &str| format!("{}:{pos}: ", config.display());
    let expect = [
        (at("4:11"), "ca_file: CA file "),
        (at("9:11"), "holds no `BEGIN CERTIFICATE` section"),
        (at("14:11"), "`ca_file` is only used with a wss:// url"),
        (at("18:11"), "the sim provider runs on loopback"),
    ];
    for (pos, what) in &expect {
        assert!(
            m.iter()
                .any(|d| d.starts_with(pos.as_str()) && d.contains(what)),
            "no `{pos}{what}` in {m:#?}"
        );
    }
    // models.c: its file is also not PEM, reported at the same place.
    assert_eq!(m.len(), expect.len() + 1, "{m:#?}");

    let key = rcgen::KeyPair::generate().unwrap();
    let ca = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
    let c = Config::parse(
        &config,
        "[models.a]\nprovider = \"openai\"\nurl = \"wss://models.internal/v1/realtime\"\nca_file = \"ca.pem\"\n",
    )
    .unwrap();
    assert_eq!(c.models["a"].ca_file, Some(dir.path().join("ca.pem")));
}

#[test]
fn resilience_keys_reach_the_connection() {
    let c = parse(
        r#"[models.fast]
keepalive = "2s"
dead_after = "5s"
reconnect_attempts = 2
reconnect_backoff = "100ms"
reconnect_backoff_max = "1s"

[models.keepalive_only]
keepalive = "3s"
reconnect_backoff = "30s"
"#,
    )
    .unwrap();
    let want = Resilience {
        ping_interval: Duration::from_secs(2),
        dead_after: Duration::from_secs(5),
        max_attempts: 2,
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_secs(1),
    };
    assert_eq!(c.models["fast"].resilience, want);
    let endpoint =
        crate::session::endpoint_for(&c.models["fast"], Some("ws://127.0.0.1:1/")).unwrap();
    assert_eq!(endpoint.resilience, want);
    // Unset keys keep their defaults; dead_after follows keepalive; the cap follows the start.
    let other = &c.models["keepalive_only"].resilience;
    assert_eq!(other.dead_after, Duration::from_secs(6));
    assert_eq!(other.backoff_max, Duration::from_secs(30));
    assert_eq!(other.max_attempts, Resilience::default().max_attempts);
    assert_eq!(c.models["default"].resilience, Resilience::default());
}

#[test]
fn bad_resilience_keys_are_reported_where_they_are_written() {
    let text = r#"[models.a]
keepalive = "0s"
dead_after = "soon"
reconnect_attempts = -1

[models.b]
keepalive = "30s"
dead_after = "10s"
reconnect_backoff = "2s"
reconnect_backoff_max = "1s"
"#;
    let m = messages(text);
    let expect = [
        ("agents.toml:2:13:", "keepalive must be more than zero"),
        ("agents.toml:3:14:", "dead_after: `soon` is not a duration"),
        ("agents.toml:4:22:", "reconnect_attempts must be 0 to 1000"),
        (
            "agents.toml:8:14:",
            "dead_after (10s) must be longer than keepalive (30s)",
        ),
        (
            "agents.toml:10:25:",
            "reconnect_backoff_max (1s) is shorter than reconnect_backoff (2s)",
        ),
    ];
    for (at, what) in expect {
        assert!(
            m.iter().any(|d| d.contains(at) && d.contains(what)),
            "no `{at} {what}` in {m:#?}"
        );
    }
    assert_eq!(m.len(), expect.len(), "{m:#?}");
}

#[test]
fn a_scenario_is_checked_where_it_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agents.toml");
    std::fs::write(dir.path().join("ok.json"), r#"{"steps": [{"sleep": 0}]}"#).unwrap();
    std::fs::write(dir.path().join("bad.json"), r#"{"steps": [{"wait": 1}]}"#).unwrap();
    let text = r#"[models.replay]
provider = "sim"
scenario = "ok.json"

[models.missing]
scenario = "nope.json"

[models.broken]
scenario = "bad.json"

[models.remote]
provider = "openai"
url = "ws://127.0.0.1:9/"
scenario = "ok.json"
"#;
    let m: Vec<String> = match Config::parse(&config, text) {
        Ok(_) => panic!("config should be refused"),
        Err(e) => e.diagnostics.iter().map(ToString::to_string).collect(),
    };
    let at = |pos: &str| format!("{}:{pos}: ", config.display());
    let expect = [
        (at("6:12"), "cannot read scenario"),
        (at("9:12"), "scenario steps[0]: unknown step"),
        (at("14:12"), "`scenario` is played by the sim provider"),
    ];
    for (pos, what) in &expect {
        assert!(
            m.iter()
                .any(|d| d.starts_with(pos.as_str()) && d.contains(what)),
            "no `{pos}{what}` in {m:#?}"
        );
    }
    assert_eq!(m.len(), expect.len(), "{m:#?}");
    let c = Config::parse(&config, "[models.replay]\nscenario = \"ok.json\"\n").unwrap();
    assert_eq!(
        c.models["replay"].scenario,
        Some(dir.path().join("ok.json"))
    );
}
