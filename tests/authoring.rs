//! Plugin authoring against real components: contract 0.1 and 0.2 side by
//! side (and a version agentd refuses), a 0.2 guardrail error tripping,
//! `instance` modes (per-call, per-session, pools bound to one session,
//! recycling), and `agentd plugin inspect` run as the real binary.

mod common;

use std::process::Command;

use agentd::config::{InstanceMode, PluginConfig, Sandbox};
use agentd::plugin::{CallInfo, Contract, GuardrailSubject, Plugin, PluginHost};
use common::fixture;

fn host() -> PluginHost {
    PluginHost::with_cache(common::shared_cache_dir()).unwrap()
}

fn cfg(name: &str, file: &str, instance: InstanceMode) -> PluginConfig {
    PluginConfig {
        name: name.into(),
        path: fixture(file),
        sandbox: Sandbox {
            memory: 32 << 20,
            ..Sandbox::default()
        },
        instance,
        at: None,
    }
}

async fn load(host: &PluginHost, name: &str, file: &str, instance: InstanceMode) -> Plugin {
    host.load(&cfg(name, file, instance))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn in_session(session: &str) -> CallInfo {
    CallInfo {
        session_id: session.into(),
        agent: "tester".into(),
        call_id: format!("call-{session}"),
    }
}

async fn count(plugin: &Plugin, tool: &str, session: &str) -> u32 {
    let out = plugin
        .call_tool(tool, "{}", &in_session(session))
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    out.parse().unwrap_or_else(|e| panic!("{out}: {e}"))
}

fn pool(max: u32, recycle_after: u32) -> InstanceMode {
    InstanceMode::Reused {
        max,
        recycle_after,
        recycle_memory: 24 << 20,
        per_session: false,
    }
}

#[tokio::test]
async fn contract_0_1_and_0_2_components_load_side_by_side() {
    let host = host();
    let legacy = load(&host, "legacy", "legacy", InstanceMode::PerCall).await;
    let current = load(&host, "faulty", "faulty", InstanceMode::PerCall).await;
    assert_eq!(legacy.contract, Contract::V0_1);
    assert_eq!(current.contract, Contract::V0_2);
    // A 0.1 tool and a 0.1 guardrail (bare verdict) through the 0.2 host types.
    assert_eq!(count(&legacy, "count", "s").await, 1);
    let info = in_session("s");
    let v = legacy
        .check_guardrail(
            "gate",
            &GuardrailSubject::InputText("the door is closed".into()),
            &info,
        )
        .await
        .unwrap();
    assert!(v.tripwire);
    assert_eq!(v.reason.as_deref(), Some("the gate is closed"));
    let v = legacy
        .check_guardrail("gate", &GuardrailSubject::OutputText("open".into()), &info)
        .await
        .unwrap();
    assert!(!v.tripwire);
}

#[tokio::test]
async fn a_0_2_guardrail_error_trips_and_says_why() {
    let host = host();
    let faulty = load(&host, "faulty", "faulty", InstanceMode::PerCall).await;
    let v = faulty
        .check_guardrail(
            "broken",
            &GuardrailSubject::OutputText("hello".into()),
            &in_session("s"),
        )
        .await
        .expect("an error answer is a verdict for the session, not a failed call");
    assert!(v.tripwire, "fail closed");
    assert_eq!(
        v.reason.as_deref(),
        Some("the guardrail failed: the rules file is missing")
    );
}

#[tokio::test]
async fn another_contract_version_is_refused_naming_the_supported_ones() {
    let host = host();
    let err = host
        .load(&cfg("future", "future", InstanceMode::PerCall))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("agentd:plugin/tools@0.9.0"), "{err}");
    assert!(
        err.contains("it loads agentd:plugin@0.1.0, agentd:plugin@0.2.0"),
        "{err}"
    );
}

#[tokio::test]
async fn per_call_instances_keep_no_state() {
    let host = host();
    let faulty = load(&host, "faulty", "faulty", InstanceMode::PerCall).await;
    for _ in 0..3 {
        assert_eq!(count(&faulty, "calls", "s").await, 1);
    }
    assert_eq!(faulty.instance_stats().live, 0);
}

#[tokio::test]
async fn per_session_instances_are_reused_within_a_session_only() {
    let host = host();
    let mode = InstanceMode::Reused {
        max: 8,
        recycle_after: 1000,
        recycle_memory: 24 << 20,
        per_session: true,
    };
    let faulty = load(&host, "faulty", "faulty", mode).await;
    assert_eq!(count(&faulty, "calls", "a").await, 1);
    assert_eq!(count(&faulty, "calls", "a").await, 2);
    // Session b never sees a's instance (or its count).
    assert_eq!(count(&faulty, "calls", "b").await, 1);
    assert_eq!(count(&faulty, "calls", "a").await, 3);
    assert_eq!(count(&faulty, "calls", "b").await, 2);
    let stats = faulty.instance_stats();
    assert_eq!((stats.live, stats.idle), (2, 2));
    // A 0.1 component is reused the same way.
    let legacy = load(&host, "legacy", "legacy", mode).await;
    assert_eq!(count(&legacy, "count", "a").await, 1);
    assert_eq!(count(&legacy, "count", "a").await, 2);
}

#[tokio::test]
async fn a_pool_recycles_after_m_calls_and_on_a_trap() {
    let host = host();
    let faulty = load(&host, "faulty", "faulty", pool(2, 3)).await;
    let seen: Vec<u32> = {
        let mut v = Vec::new();
        for _ in 0..7 {
            v.push(count(&faulty, "calls", "a").await);
        }
        v
    };
    assert_eq!(seen, [1, 2, 3, 1, 2, 3, 1], "recycled after 3 calls");
    // A trap throws the instance away: the next call starts afresh.
    assert_eq!(count(&faulty, "calls", "t").await, 1);
    assert_eq!(count(&faulty, "calls", "t").await, 2);
    let err = faulty
        .call_tool("panic", r#"{"message":"boom"}"#, &in_session("t"))
        .await
        .unwrap_err();
    assert!(err.is_sandbox_stop(), "{err}");
    assert_eq!(count(&faulty, "calls", "t").await, 1);
}

#[tokio::test]
async fn a_pool_recycles_an_instance_past_its_memory_threshold() {
    let host = host();
    let faulty = load(&host, "faulty", "faulty", pool(2, 1000)).await;
    assert_eq!(count(&faulty, "calls", "m").await, 1);
    // 26 MiB kept is past the 24 MiB threshold (the cap is 32 MiB).
    let kept = faulty
        .call_tool("keep", r#"{"mib":26}"#, &in_session("m"))
        .await
        .unwrap();
    assert_eq!(kept, "26");
    assert_eq!(count(&faulty, "calls", "m").await, 1, "recycled: memory");
}

#[tokio::test]
async fn a_full_pool_evicts_another_sessions_idle_instance_never_shares_it() {
    let host = host();
    let faulty = load(&host, "faulty", "faulty", pool(1, 1000)).await;
    assert_eq!(count(&faulty, "calls", "a").await, 1);
    assert_eq!(count(&faulty, "calls", "a").await, 2);
    // b cannot have a's instance: a's idle one is thrown away for a new one.
    assert_eq!(count(&faulty, "calls", "b").await, 1);
    assert_eq!(count(&faulty, "calls", "b").await, 2);
    assert_eq!(count(&faulty, "calls", "a").await, 1);
    assert_eq!(faulty.instance_stats().live, 1);
}

#[tokio::test]
async fn instance_modes_are_read_from_agents_toml() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agents.toml");
    let text = format!(
        r#"
[plugins.a]
path = "{f}"
instance = "per-session"
[plugins.b]
path = "{f}"
instance = {{ pool = 4, recycle_after = 50, recycle_memory = "8MiB" }}
[plugins.c]
path = "{f}"
[plugins.d]
path = "{f}"
instance = "per-sesion"
"#,
        f = fixture("faulty").display()
    );
    let err = agentd::config::Config::parse(&path, &text)
        .unwrap_err()
        .to_string();
    assert!(err.contains("instance `per-sesion`"), "{err}");
    assert!(err.contains("did you mean `per-session`?"), "{err}");
    assert!(
        err.contains("agents.toml:12:12:"),
        "the error has its line: {err}"
    );
    let text = text.replace("\"per-sesion\"", "\"per-call\"");
    let config = agentd::config::Config::parse(&path, &text).unwrap_or_else(|e| panic!("{e}"));
    let mode = |n: &str| config.plugins[n].instance;
    assert!(matches!(
        mode("a"),
        InstanceMode::Reused {
            per_session: true,
            ..
        }
    ));
    assert_eq!(
        mode("b"),
        InstanceMode::Reused {
            max: 4,
            recycle_after: 50,
            recycle_memory: 8 << 20,
            per_session: false
        }
    );
    assert_eq!(mode("c"), InstanceMode::PerCall);
    assert_eq!(mode("d"), InstanceMode::PerCall);
}

fn agentd(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_agentd"))
        .args(args)
        .output()
        .expect("run agentd");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn plugin_inspect_shows_contract_tools_schemas_guardrails_and_imports() {
    let calc = common::plugin("calc");
    let (ok, out, err) = agentd(&["plugin", "inspect", calc.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("contract: agentd:plugin@0.2.0"), "{out}");
    assert!(out.contains("    add: "), "{out}");
    assert!(out.contains(r#""required":["a","b"]"#), "{out}");
    assert!(out.contains("guardrails: 0"), "{out}");
    assert!(out.contains("grants it can use: environment\n"), "{out}");

    let fetch = common::plugin("http-fetch");
    let (ok, out, err) = agentd(&["plugin", "inspect", "--json", fetch.to_str().unwrap()]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["contract"], "0.2.0");
    let http = v["imports"]["http"].as_array().expect("http imports");
    assert!(
        http.iter().any(|i| i
            .as_str()
            .unwrap()
            .starts_with("wasi:http/outgoing-handler")),
        "{http:?}"
    );
    assert!(v["tools"][0]["parameters"]["properties"].is_object(), "{v}");

    let legacy = fixture("legacy");
    let (ok, out, _) = agentd(&["plugin", "inspect", legacy.to_str().unwrap()]);
    assert!(ok);
    assert!(out.contains("contract: agentd:plugin@0.1.0"), "{out}");
    assert!(out.contains("    gate: "), "{out}");
    let (ok, out, _) = agentd(&["plugin", "inspect", fixture("faulty").to_str().unwrap()]);
    assert!(ok);
    assert!(
        out.contains("grants it can use: filesystem, sockets, environment"),
        "{out}"
    );

    let (ok, _, err) = agentd(&["plugin", "inspect", "/nonexistent/x.wasm"]);
    assert!(!ok);
    assert!(err.contains("cannot read /nonexistent/x.wasm"), "{err}");
}

/// `agentd plugin new` + `agentd plugin build` for Rust: the project's own
/// native test passes, and the component it builds is one agentd loads and
/// calls. (Cargo's output goes to a target folder kept between test runs.)
#[tokio::test]
async fn plugin_new_then_build_for_rust_yields_a_component_agentd_loads() {
    let work = tempfile::tempdir().unwrap();
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-new-target");
    let run = |args: &[&str], cwd: &std::path::Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_agentd"))
            .args(args)
            .current_dir(cwd)
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .expect("run agentd");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = run(&["plugin", "new", "greeter"], work.path());
    assert!(ok, "{err}");
    assert!(out.contains("agentd plugin build"), "{out}");
    let project = work.path().join("greeter");
    // The same name twice is refused, naming the folder.
    let (ok, _, err) = run(&["plugin", "new", "greeter"], work.path());
    assert!(!ok && err.contains("already exists"), "{err}");

    let test = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["test", "--quiet"])
        .current_dir(&project)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cargo test");
    assert!(
        test.status.success(),
        "the new project's native test: {}",
        String::from_utf8_lossy(&test.stderr)
    );

    let (ok, out, err) = run(&["plugin", "build"], &project);
    assert!(ok, "{err}");
    let wasm = project.join("greeter.wasm");
    assert_eq!(out.trim(), "./greeter.wasm");
    assert!(wasm.is_file());
    // A project named by a relative path builds too (the toolchains run
    // inside it: the path must not be taken twice).
    let (ok, out, err) = run(&["plugin", "build", "greeter"], work.path());
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "greeter/greeter.wasm");
    assert!(wasm.is_file());

    let host = host();
    let cfg = PluginConfig {
        name: "greeter".into(),
        path: wasm,
        sandbox: Sandbox::default(),
        instance: InstanceMode::PerCall,
        at: None,
    };
    let plugin = host.load(&cfg).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plugin.contract, Contract::V0_2);
    let out = plugin
        .call_tool("greet", r#"{"name":"Ada"}"#, &in_session("s"))
        .await
        .unwrap();
    assert_eq!(out, "Hello, Ada!");

    // Not a project: the message says what is missing.
    let (ok, _, err) = run(&["plugin", "build"], work.path());
    assert!(!ok);
    assert!(err.contains("agentd-plugin.toml"), "{err}");
}

/// The Python and JavaScript examples (built by `cargo xtask plugins` with
/// componentize-py and jco) serve a tool and a guardrail, and a guardrail
/// error (contract 0.2) trips.
#[tokio::test]
async fn python_and_js_plugins_serve_a_tool_and_a_guardrail() {
    let host = host();
    for name in ["text-py", "text-js"] {
        let cfg = PluginConfig {
            name: name.into(),
            path: common::plugin(name),
            sandbox: Sandbox::default(),
            instance: InstanceMode::PerCall,
            at: None,
        };
        let plugin = host
            .load(&cfg)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(plugin.contract, Contract::V0_2, "{name}");
        let info = in_session("s");
        let out = plugin
            .call_tool("word_count", r#"{"text":"one two  three"}"#, &info)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(out, "3", "{name}");
        let check = async |text: &str| {
            plugin
                .check_guardrail(
                    "no_shouting",
                    &GuardrailSubject::OutputText(text.into()),
                    &info,
                )
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        let v = check("PLEASE STOP SHOUTING").await;
        assert!(v.tripwire, "{name}");
        assert_eq!(
            v.reason.as_deref(),
            Some("shouting: most letters are capitals"),
            "{name}"
        );
        assert!(!check("a calm sentence").await.tripwire, "{name}");
        let v = check(&"a".repeat(100_001)).await;
        assert!(v.tripwire, "{name}: an error trips");
        assert!(
            v.reason
                .as_deref()
                .unwrap_or("")
                .starts_with("the guardrail failed: text of 100001 characters"),
            "{name}: {v:?}"
        );
    }
}

/// Peak resident memory of a process, from /proc (kB → bytes).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kb << 10
}

/// A copy of `wasm` with a custom section holding a fresh nonce: a component
/// that behaves the same but that no cache has seen.
fn unseen_copy(wasm: &std::path::Path, to: &std::path::Path) {
    let mut bytes = std::fs::read(wasm).unwrap();
    let nonce: [u8; 8] = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        .to_le_bytes()[..8]
        .try_into()
        .unwrap();
    // Custom section: id 0, size 10, name "x" (length 1), 8 bytes of payload.
    bytes.extend_from_slice(&[0, 10, 1, b'x']);
    bytes.extend_from_slice(&nonce);
    common::replace_file(to, &bytes);
}

/// A reload that adds a 12 MB JS component: the daemon compiles it in a
/// child process (its own peak memory stays far below Cranelift's), shows
/// `compiling (N s)` in `agentctl plugins` meanwhile, keeps serving, and
/// then serves the new plugin from the cache the child wrote.
#[tokio::test]
async fn big_components_compile_in_a_child_process_with_progress() {
    let calc = common::plugin("calc");
    let body = format!(
        "[plugins.calc]\npath = \"{}\"\n\n[agents.a]\ntools = [\"calc.*\"]\n",
        calc.display()
    );
    let d = common::TestDaemon::start(&body).await;
    let copy = d.dir.path().join("textjs.wasm");
    unseen_copy(&common::plugin("text-js"), &copy);
    d.rewrite_config(&format!(
        "{body}\n[plugins.textjs]\npath = \"{}\"\n",
        copy.display()
    ));
    let mut saw_progress = false;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    loop {
        let (ok, out, err) = d.agentctl(&["plugins"]);
        assert!(ok, "{err}");
        if out.contains("textjs: compiling (") {
            saw_progress = true;
            // The serving version is untouched meanwhile.
            assert!(out.contains("calc ("), "{out}");
        }
        if out.contains("textjs (") && out.contains("tools [word_count]") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never loaded:\n{out}\n{}",
            d.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        saw_progress,
        "`agentctl plugins` never showed the compilation"
    );
    let log = d.log();
    assert!(!log.contains("compiling in the daemon"), "{log}");
    let peak = peak_rss(d.pid());
    assert!(
        peak < 200 << 20,
        "the daemon's peak RSS is {} MiB: Cranelift ran in it",
        peak >> 20
    );
}

/// `agentd check` lists every problem at once, each with file:line:col, and
/// names the closest known name for a misspelt plugin, agent or model.
#[test]
fn check_reports_every_problem_with_the_closest_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agents.toml");
    std::fs::write(
        &path,
        format!(
            r#"[models.fast]
provider = "sim"

[plugins.calc]
path = "{calc}"

[agents.billing]
model = "fsat"
handoffs = ["suport"]

[agents.support]
tools = ["clac.add"]
"#,
            calc = common::plugin("calc").display()
        ),
    )
    .unwrap();
    let (ok, _, err) = agentd(&["check", path.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("agents.toml:8:9: no model named `fsat` under [models]; did you mean `fast`?"),
        "{err}"
    );
    assert!(
        err.contains(
            "agents.toml:9:13: handoff to unknown agent `suport`; did you mean `support`?"
        ),
        "{err}"
    );
}

/// The `pii` example, loaded by agentd: a Luhn-valid card number trips, a
/// look-alike does not, and the reason never repeats the data.
#[tokio::test]
async fn the_pii_plugin_trips_on_personal_data_in_agentd() {
    let host = host();
    let cfg = PluginConfig {
        name: "pii".into(),
        path: common::plugin("pii"),
        sandbox: Sandbox::default(),
        instance: InstanceMode::PerCall,
        at: None,
    };
    let plugin = host.load(&cfg).await.unwrap_or_else(|e| panic!("{e}"));
    let info = in_session("s");
    let check = async |name: &str, text: &str| {
        plugin
            .check_guardrail(name, &GuardrailSubject::OutputText(text.into()), &info)
            .await
            .unwrap()
    };
    let v = check("card_numbers", "my card is 4111 1111 1111 1111").await;
    assert!(v.tripwire);
    assert_eq!(v.reason.as_deref(), Some("contains a card number"));
    assert!(
        !check("card_numbers", "order 4111 1111 1111 1112")
            .await
            .tripwire
    );
    let v = check("pii", "reach me at ada@example.org").await;
    assert_eq!(v.reason.as_deref(), Some("contains an email address"));
}
