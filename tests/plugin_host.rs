//! The plugin host against real components: the example plugins and the
//! `faulty` fixture, whose tools trap, spin, hog memory, overflow the stack,
//! flood output and reach for files they were not granted.

mod common;

use std::time::{Duration, Instant};

use agentd::config::{PluginConfig, Sandbox};
use agentd::plugin::{CallError, CallInfo, GuardrailSubject, Origin, Plugin, PluginHost};
use common::{fixture, plugin};

async fn load(host: &PluginHost, name: &str, path: std::path::PathBuf, sandbox: Sandbox) -> Plugin {
    let cfg = PluginConfig {
        name: name.into(),
        path,
        sandbox,
        at: None,
    };
    host.load(&cfg).await.unwrap_or_else(|e| panic!("{e}"))
}

fn faulty_sandbox() -> Sandbox {
    Sandbox {
        memory: 16 << 20,
        timeout: Duration::from_millis(200),
        max_output: 64 << 10,
    }
}

fn info() -> CallInfo {
    CallInfo {
        session_id: "test".into(),
        agent: "tester".into(),
        call_id: "call_1".into(),
    }
}

#[tokio::test]
async fn describes_tools_with_schemas_derived_from_types() {
    let host = PluginHost::new().unwrap();
    let calc = load(&host, "calc", plugin("calc"), Sandbox::default()).await;
    let names: Vec<&str> = calc.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["add", "multiply", "divide"]);
    let add = &calc.tools[0];
    assert_eq!(add.description, "Add two numbers.");
    assert_eq!(add.parameters["type"], "object");
    assert_eq!(add.parameters["properties"]["a"]["type"], "number");
    assert_eq!(add.parameters["required"], serde_json::json!(["a", "b"]));
    assert_eq!(
        calc.call_tool("add", r#"{"a":2,"b":3}"#, &info()).await,
        Ok("5".into())
    );
}

#[tokio::test]
async fn a_trapping_tool_is_a_tool_error_and_the_plugin_keeps_serving() {
    let host = PluginHost::new().unwrap();
    let p = load(&host, "faulty", fixture("faulty"), faulty_sandbox()).await;
    match p.call_tool("panic", r#"{"message":"boom"}"#, &info()).await {
        Err(CallError::Trap(msg)) => assert!(msg.contains("unreachable"), "{msg}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    // A fresh instance per call: the trap poisoned nothing.
    assert_eq!(
        p.call_tool("echo", r#"{"text":"hi"}"#, &info()).await,
        Ok("hi".into())
    );
}

#[tokio::test]
async fn each_kind_of_misbehaviour_is_contained_with_its_reason() {
    let host = PluginHost::new().unwrap();
    let p = load(&host, "faulty", fixture("faulty"), faulty_sandbox()).await;

    let started = Instant::now();
    assert_eq!(
        p.call_tool("spin", "{}", &info()).await,
        Err(CallError::Timeout(Duration::from_millis(200)))
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the deadline did not stop the guest"
    );

    assert_eq!(
        p.call_tool("hog", r#"{"mib":64}"#, &info()).await,
        Err(CallError::MemoryLimit(16 << 20))
    );
    match p.call_tool("deep", r#"{"n":1}"#, &info()).await {
        Err(CallError::Trap(msg)) => assert!(msg.contains("stack"), "{msg}"),
        other => panic!("expected a stack overflow trap, got {other:?}"),
    }
    assert_eq!(
        p.call_tool("big", r#"{"kib":128}"#, &info()).await,
        Err(CallError::OutputTooLarge {
            size: 128 << 10,
            limit: 64 << 10
        })
    );
    match p
        .call_tool("read_file", r#"{"path":"/etc/passwd"}"#, &info())
        .await
    {
        Err(CallError::Failed(msg)) => assert!(msg.starts_with("cannot read /etc/passwd"), "{msg}"),
        other => panic!("a plugin with no grants must not read host files, got {other:?}"),
    }
    assert!(matches!(
        p.call_tool("echo", r#"{"text": 5}"#, &info()).await,
        Err(CallError::InvalidArguments(_))
    ));
    assert_eq!(
        p.call_tool("echo", r#"{"text":"still here"}"#, &info())
            .await,
        Ok("still here".into())
    );
}

#[tokio::test]
async fn other_calls_are_served_while_a_guest_spins() {
    let host = PluginHost::new().unwrap();
    let p = std::sync::Arc::new(load(&host, "faulty", fixture("faulty"), faulty_sandbox()).await);
    let spinning = {
        let p = p.clone();
        tokio::spawn(async move { p.call_tool("spin", "{}", &info()).await })
    };
    for i in 0..20 {
        let text = format!("call {i}");
        let out = p
            .call_tool(
                "echo",
                &serde_json::json!({ "text": text }).to_string(),
                &info(),
            )
            .await;
        assert_eq!(out, Ok(text));
    }
    assert!(matches!(
        spinning.await.unwrap(),
        Err(CallError::Timeout(_))
    ));
}

#[tokio::test]
async fn guardrails_judge_text_and_tool_calls() {
    let host = PluginHost::new().unwrap();
    let b = load(&host, "blocklist", plugin("blocklist"), Sandbox::default()).await;
    let names: Vec<&str> = b.guardrails.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["blocklist", "no_secrets"]);
    let check = |text: &str| GuardrailSubject::OutputText(text.into());
    let v = b
        .check_guardrail("blocklist", &check("This is Forbidden."), &info())
        .await
        .unwrap();
    assert!(v.tripwire);
    assert!(v.reason.unwrap().contains("forbidden"));
    let v = b
        .check_guardrail("blocklist", &check("all fine"), &info())
        .await
        .unwrap();
    assert!(!v.tripwire);
    let call = GuardrailSubject::ToolCall {
        tool: "http.post".into(),
        arguments: r#"{"token":"sk-abcdefghijklmnopqrstuvwxyz123456"}"#.into(),
    };
    assert!(
        b.check_guardrail("no_secrets", &call, &info())
            .await
            .unwrap()
            .tripwire
    );
}

#[tokio::test]
async fn garbage_and_wrong_worlds_are_refused_with_the_reason() {
    let host = PluginHost::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"definitely not wasm").unwrap();
    let cfg = PluginConfig {
        name: "garbage".into(),
        path: garbage.clone(),
        sandbox: Sandbox::default(),
        at: None,
    };
    let err = host.load(&cfg).await.unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "plugin `garbage`: {} is not a valid WebAssembly component",
            garbage.display()
        )),
        "{err}"
    );

    // A valid component that exports nothing agentd knows.
    let empty = dir.path().join("empty.wasm");
    std::fs::write(&empty, [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]).unwrap();
    let cfg = PluginConfig {
        name: "empty".into(),
        path: empty,
        sandbox: Sandbox::default(),
        at: None,
    };
    let err = host.load(&cfg).await.unwrap_err().to_string();
    assert!(
        err.contains("exports neither `agentd:plugin/tools@0.1.0`"),
        "{err}"
    );

    let cfg = PluginConfig {
        name: "missing".into(),
        path: dir.path().join("missing.wasm"),
        sandbox: Sandbox::default(),
        at: None,
    };
    let err = host.load(&cfg).await.unwrap_err().to_string();
    assert!(err.contains("cannot read"), "{err}");
}

#[tokio::test]
async fn compiled_components_are_cached_on_disk_and_reused_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = dir.path().join("cache");

    let first = PluginHost::with_cache(cache_dir.clone()).unwrap();
    let calc = load(&first, "calc", plugin("calc"), Sandbox::default()).await;
    assert_eq!(calc.origin, Origin::Compiled);
    assert_eq!(calc.hash.len(), 64, "a SHA-256 hex digest");
    let artifact = first.cache().unwrap().path_for(&calc.hash);
    assert!(artifact.is_file(), "{} was not written", artifact.display());
    let name = artifact.file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        name.starts_with(&calc.hash) && name.ends_with(".cwasm"),
        "{name}"
    );
    drop(calc);
    drop(first);

    // A new engine (a restart) finds it and skips compilation.
    let second = PluginHost::with_cache(cache_dir.clone()).unwrap();
    let calc = load(&second, "calc", plugin("calc"), Sandbox::default()).await;
    assert_eq!(calc.origin, Origin::Cached);
    assert_eq!(
        calc.call_tool("add", r#"{"a":2,"b":3}"#, &info()).await,
        Ok("5".into())
    );

    // A damaged artifact is thrown away and the component compiled again.
    // (Replaced by rename, never rewritten in place: a live mapping of a file
    // truncated under it is a SIGBUS, which is why the cache only renames.)
    drop(calc);
    drop(second);
    let damaged = dir.path().join("damaged");
    std::fs::write(&damaged, b"not a compiled component").unwrap();
    std::fs::rename(&damaged, &artifact).unwrap();
    let third = PluginHost::with_cache(cache_dir).unwrap();
    let calc = load(&third, "calc", plugin("calc"), Sandbox::default()).await;
    assert_eq!(calc.origin, Origin::Compiled);
    assert_eq!(
        calc.call_tool("add", r#"{"a":1,"b":1}"#, &info()).await,
        Ok("2".into())
    );
    assert!(std::fs::read(&artifact).unwrap().len() > 1000);
}
