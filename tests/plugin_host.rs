//! The plugin host against real components: the example plugins and the
//! `faulty` fixture, whose tools trap, spin, hog memory, overflow the stack,
//! flood output and reach for files they were not granted; the instance
//! slots and the queue in front of them; the compiled-component cache's
//! ownership checks.

mod common;

use std::time::{Duration, Instant};

use agentd::config::{DirGrant, HostPort, PluginConfig, Sandbox};
use agentd::plugin::{
    CallError, CallInfo, GuardrailSubject, HostOptions, Origin, Plugin, PluginHost, QueueStatus,
};
use common::{fixture, plugin, wait_until};

async fn load(host: &PluginHost, name: &str, path: std::path::PathBuf, sandbox: Sandbox) -> Plugin {
    let cfg = PluginConfig {
        name: name.into(),
        path,
        sandbox,
        instance: Default::default(),
        at: None,
    };
    host.load(&cfg).await.unwrap_or_else(|e| panic!("{e}"))
}

/// A host sharing the test run's compiled-component cache, so each test does
/// not compile the fixtures again.
fn host() -> PluginHost {
    PluginHost::with_cache(common::shared_cache_dir()).unwrap()
}

fn faulty_sandbox() -> Sandbox {
    Sandbox {
        memory: 16 << 20,
        timeout: Duration::from_millis(200),
        max_output: 64 << 10,
        ..Sandbox::default()
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
    let host = host();
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
    let host = host();
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
    let host = host();
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
    let host = host();
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
    let host = host();
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
    let host = host();
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"definitely not wasm").unwrap();
    let cfg = PluginConfig {
        name: "garbage".into(),
        path: garbage.clone(),
        sandbox: Sandbox::default(),
        instance: Default::default(),
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
        instance: Default::default(),
        at: None,
    };
    let err = host.load(&cfg).await.unwrap_err().to_string();
    assert!(
        err.contains("exports neither `agentd:plugin/tools` nor `agentd:plugin/guardrails` (this agentd loads agentd:plugin@0.1.0, agentd:plugin@0.2.0)"),
        "{err}"
    );

    let cfg = PluginConfig {
        name: "missing".into(),
        path: dir.path().join("missing.wasm"),
        sandbox: Sandbox::default(),
        instance: Default::default(),
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

/// Log lines written while `f` runs on this thread (the test runtime is single-threaded).
async fn capture_logs<T>(f: impl Future<Output = T>) -> (T, String) {
    use std::sync::{Arc, Mutex};
    #[derive(Clone)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf(Arc::new(Mutex::new(Vec::new())));
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let out = f.await;
    drop(guard);
    let text = String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned();
    (out, text)
}

fn with(f: impl FnOnce(&mut Sandbox)) -> Sandbox {
    let mut s = faulty_sandbox();
    f(&mut s);
    s
}

#[tokio::test]
async fn only_granted_dirs_and_env_are_visible() {
    let host = host();
    let dir = tempfile::tempdir().unwrap();
    let (data, out) = (dir.path().join("data"), dir.path().join("out"));
    std::fs::create_dir(&data).unwrap();
    std::fs::create_dir(&out).unwrap();
    std::fs::write(data.join("hello.txt"), "hi there").unwrap();
    let sandbox = with(|s| {
        s.dirs = vec![
            DirGrant {
                host: data.clone(),
                guest: "/data".into(),
                read_only: true,
            },
            DirGrant {
                host: out.clone(),
                guest: "/out".into(),
                read_only: false,
            },
        ];
        s.env = vec![("GREETING".into(), "hello".into())];
    });
    let p = load(&host, "faulty", fixture("faulty"), sandbox).await;
    let call = |tool: &'static str, args: serde_json::Value| {
        let p = &p;
        async move { p.call_tool(tool, &args.to_string(), &info()).await }
    };
    use serde_json::json;

    assert_eq!(
        call("read_file", json!({"path": "/data/hello.txt"})).await,
        Ok("hi there".into())
    );
    match call("write_file", json!({"path": "/data/new.txt", "text": "x"})).await {
        Err(CallError::Failed(m)) => assert!(m.starts_with("cannot write /data/new.txt"), "{m}"),
        other => panic!("a read-only grant must refuse writes, got {other:?}"),
    }
    assert!(!data.join("new.txt").exists());
    assert_eq!(
        call(
            "write_file",
            json!({"path": "/out/new.txt", "text": "from wasm"})
        )
        .await,
        Ok("written".into())
    );
    assert_eq!(
        std::fs::read_to_string(out.join("new.txt")).unwrap(),
        "from wasm"
    );
    for escape in [
        "/etc/passwd",
        "/data/../../../../etc/passwd",
        "/out/../data/hello.txt",
    ] {
        assert!(
            matches!(
                call("read_file", json!({"path": escape})).await,
                Err(CallError::Failed(_))
            ),
            "{escape} must be invisible"
        );
    }
    assert_eq!(
        call("getenv", json!({"name": "GREETING"})).await,
        Ok("hello".into())
    );
    assert_eq!(call("env_names", json!({})).await, Ok("GREETING".into()));

    // No grants: no variables at all, not even the daemon's own.
    let bare = load(&host, "faulty", fixture("faulty"), faulty_sandbox()).await;
    assert_eq!(
        bare.call_tool("env_names", "{}", &info()).await,
        Ok("".into())
    );
    assert_eq!(
        bare.call_tool("getenv", r#"{"name":"PATH"}"#, &info())
            .await,
        Ok("(unset)".into())
    );
}

async fn connect(p: &Plugin, addr: std::net::SocketAddr) -> Result<String, CallError> {
    let args = serde_json::json!({ "addr": addr.to_string() }).to_string();
    p.call_tool("connect", &args, &info()).await
}

/// A loopback server that greets each connection with `greeting`.
fn greeter(greeting: &'static str) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            use std::io::Write;
            let _ = conn.write_all(format!("{greeting}\n").as_bytes());
        }
    });
    addr
}

#[tokio::test]
async fn network_is_denied_unless_the_destination_is_allowed() {
    let host = host();
    let allowed = greeter("hello from allowed");
    let other = greeter("hello from other");

    let bare = load(&host, "faulty", fixture("faulty"), faulty_sandbox()).await;
    match connect(&bare, allowed).await {
        Err(CallError::Failed(m)) => {
            assert!(
                m.starts_with(&format!("cannot connect to {allowed}")),
                "{m}"
            )
        }
        other => panic!("a plugin with no network grant connected: {other:?}"),
    }

    let granted = with(|s| s.allow_hosts = vec![HostPort::parse(&allowed.to_string()).unwrap()]);
    let p = load(&host, "faulty", fixture("faulty"), granted).await;
    assert_eq!(connect(&p, allowed).await, Ok("hello from allowed".into()));
    let (denied, log) = capture_logs(connect(&p, other)).await;
    match denied {
        Err(CallError::Failed(m)) => {
            assert!(m.starts_with(&format!("cannot connect to {other}")), "{m}")
        }
        other => panic!("a destination outside allow_hosts was reached: {other:?}"),
    }
    match connect(&bare, other).await {
        Err(CallError::Failed(m)) => assert!(m.contains("ermission denied"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(log.contains("network access denied"), "{log}");
    assert!(log.contains("plugin=faulty"), "{log}");

    // A name in allow_hosts is resolved by the host and compared by address.
    let by_name = with(|s| {
        s.allow_hosts = vec![HostPort::parse(&format!("localhost:{}", allowed.port())).unwrap()]
    });
    let p = load(&host, "faulty", fixture("faulty"), by_name).await;
    assert_eq!(connect(&p, allowed).await, Ok("hello from allowed".into()));
    assert!(connect(&p, other).await.is_err());
}

#[tokio::test]
async fn a_stdout_flood_is_rate_limited_and_tagged_in_the_log() {
    let host = host();
    let sandbox = with(|s| s.timeout = Duration::from_secs(30));
    // The limiter's windows start when the plugin is loaded; on a busy
    // machine the call may span more than one, each with its own budget.
    let started = Instant::now();
    let p = load(&host, "faulty", fixture("faulty"), sandbox).await;
    let (out, log) = capture_logs(p.call_tool("shout", r#"{"lines":20000}"#, &info())).await;
    let windows = started.elapsed().as_secs() as usize + 1;
    assert_eq!(out, Ok("done".into()));
    let logged = log.lines().filter(|l| l.contains(" shout ")).count();
    let budget = agentd::plugin::sandbox::OUTPUT_LINES_PER_WINDOW as usize * windows;
    assert!(
        (1..=budget).contains(&logged),
        "{logged} stdout lines reached the log in {windows} windows"
    );
    let first = log.lines().find(|l| l.contains("shout 0")).unwrap();
    assert!(first.contains("plugin=faulty"), "{first}");
    assert!(first.contains("call_id=call_1"), "{first}");
    assert!(first.contains("stream=\"stdout\""), "{first}");
    assert!(log.contains("lines dropped"), "{log}");

    // Printing forever is stopped by the deadline like any other spin.
    let p = load(&host, "faulty", fixture("faulty"), faulty_sandbox()).await;
    let (out, log) = capture_logs(p.call_tool("shout", r#"{"lines":0}"#, &info())).await;
    assert_eq!(out, Err(CallError::Timeout(Duration::from_millis(200))));
    let stopped = log
        .lines()
        .find(|l| l.contains("tool call stopped by the sandbox"))
        .unwrap_or_else(|| panic!("no log line for the stopped call:\n{log}"));
    for field in ["plugin=faulty", "tool=\"shout\"", "call_id=call_1"] {
        assert!(stopped.contains(field), "{field} missing: {stopped}");
    }
    assert_eq!(
        p.call_tool("echo", r#"{"text":"after"}"#, &info()).await,
        Ok("after".into())
    );
}

#[tokio::test]
async fn a_100_mib_output_and_a_1_gib_allocation_are_refused() {
    let host = host();
    let roomy = with(|s| {
        s.memory = 512 << 20;
        s.max_output = 1 << 20;
        s.timeout = Duration::from_secs(30);
    });
    let p = load(&host, "faulty", fixture("faulty"), roomy).await;
    assert_eq!(
        p.call_tool("big", r#"{"kib":102400}"#, &info()).await,
        Err(CallError::OutputTooLarge {
            size: 100 << 20,
            limit: 1 << 20
        })
    );
    let p = load(&host, "faulty", fixture("faulty"), Sandbox::default()).await;
    assert_eq!(
        p.call_tool("hog", r#"{"mib":1024}"#, &info()).await,
        Err(CallError::MemoryLimit(64 << 20))
    );
    assert_eq!(
        p.call_tool("echo", r#"{"text":"fine"}"#, &info()).await,
        Ok("fine".into())
    );
}

/// A loopback HTTP/1.1 server answering every request with `body`.
fn http_server(body: &'static str) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            use std::io::{BufRead, BufReader, Write};
            let mut reader = BufReader::new(conn);
            // Read the request head, then answer and close.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let mut conn = reader.into_inner();
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

async fn get(p: &Plugin, addr: std::net::SocketAddr) -> Result<String, CallError> {
    let args = serde_json::json!({ "url": format!("http://{addr}/path?q=1") }).to_string();
    p.call_tool("get", &args, &info()).await
}

#[tokio::test]
async fn http_fetch_reaches_only_allowed_hosts() {
    let host = host();
    let allowed = http_server("hello over wasi:http");
    let other = http_server("must not be reached");
    let granted = with(|s| s.allow_hosts = vec![HostPort::parse(&allowed.to_string()).unwrap()]);
    let p = load(&host, "http-fetch", plugin("http-fetch"), granted).await;
    assert_eq!(
        get(&p, allowed).await,
        Ok("200 hello over wasi:http".into())
    );
    let (denied, log) = capture_logs(get(&p, other)).await;
    match denied {
        Err(CallError::Failed(m)) => assert!(
            m.starts_with(&format!(
                "GET http://{other}/path?q=1 failed: ErrorCode::HttpRequestDenied"
            )),
            "{m}"
        ),
        other => panic!("a host outside allow_hosts was reached: {other:?}"),
    }
    assert!(log.contains("HTTP request denied"), "{log}");

    // No grant: no HTTP at all.
    let bare = load(&host, "http-fetch", plugin("http-fetch"), faulty_sandbox()).await;
    assert!(
        matches!(get(&bare, allowed).await, Err(CallError::Failed(m)) if m.contains("HttpRequestDenied"))
    );
}

#[tokio::test]
async fn an_unchanged_file_is_reused_and_a_new_sandbox_applies_without_recompiling() {
    let host = host();
    let cfg = |sandbox| PluginConfig {
        name: "faulty".into(),
        path: fixture("faulty"),
        sandbox,
        instance: Default::default(),
        at: None,
    };
    let first = std::sync::Arc::new(host.load(&cfg(faulty_sandbox())).await.unwrap());
    let same = host
        .load_reusing(&cfg(faulty_sandbox()), Some(&first))
        .await
        .unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&first, &same),
        "an unchanged plugin was rebuilt"
    );

    let granted = with(|s| s.env = vec![("MODE".into(), "new".into())]);
    let regranted = host
        .load_reusing(&cfg(granted.clone()), Some(&first))
        .await
        .unwrap();
    assert_eq!(regranted.origin, Origin::Reused);
    assert_eq!(regranted.hash, first.hash);
    assert_eq!(regranted.sandbox, granted);
    assert_eq!(
        regranted
            .call_tool("getenv", r#"{"name":"MODE"}"#, &info())
            .await,
        Ok("new".into())
    );
    // The old version keeps its own grants.
    assert_eq!(
        first
            .call_tool("getenv", r#"{"name":"MODE"}"#, &info())
            .await,
        Ok("(unset)".into())
    );
}

/// A loopback server that greets each connection with `hello`, but only once
/// it is opened; it counts the connections waiting for their greeting.
struct Gate {
    addr: std::net::SocketAddr,
    state: std::sync::Arc<(std::sync::Mutex<GateState>, std::sync::Condvar)>,
}

#[derive(Default)]
struct GateState {
    open: bool,
    accepted: usize,
    pending: usize,
    max_pending: usize,
}

impl Gate {
    fn start() -> Gate {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = std::sync::Arc::new((
            std::sync::Mutex::new(GateState::default()),
            std::sync::Condvar::new(),
        ));
        let shared = state.clone();
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let (lock, cond) = &*shared;
                    let mut s = lock.lock().unwrap();
                    s.accepted += 1;
                    s.pending += 1;
                    s.max_pending = s.max_pending.max(s.pending);
                    cond.notify_all();
                    while !s.open {
                        s = cond.wait(s).unwrap();
                    }
                    // No longer counted before the answer goes out, so a call
                    // is never counted after it could have finished.
                    s.pending -= 1;
                    drop(s);
                    use std::io::Write;
                    let _ = conn.write_all(b"hello\n");
                });
            }
        });
        Gate { addr, state }
    }

    fn with<T>(&self, f: impl FnOnce(&mut GateState) -> T) -> T {
        f(&mut self.state.0.lock().unwrap())
    }

    fn open(&self) {
        self.with(|s| s.open = true);
        self.state.1.notify_all();
    }
}

/// A host with `instance_slots` slots and room for `tool_queue` waiting calls.
fn small_host(instance_slots: u32, tool_queue: usize) -> PluginHost {
    PluginHost::with_options(HostOptions {
        cache_dir: Some(common::shared_cache_dir()),
        tool_queue,
        instance_slots,
        compiler: None,
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The faulty plugin, allowed to reach `gate`, with time to wait for it.
async fn gated(host: &PluginHost, gate: &Gate) -> std::sync::Arc<Plugin> {
    let sandbox = with(|s| {
        s.allow_hosts = vec![HostPort::parse(&gate.addr.to_string()).unwrap()];
        s.timeout = Duration::from_secs(300);
    });
    std::sync::Arc::new(load(host, "faulty", fixture("faulty"), sandbox).await)
}

fn spawn_connect(
    p: &std::sync::Arc<Plugin>,
    addr: std::net::SocketAddr,
) -> tokio::task::JoinHandle<Result<String, CallError>> {
    let p = p.clone();
    tokio::spawn(async move { connect(&p, addr).await })
}

#[tokio::test]
async fn calls_beyond_the_instance_slots_wait_for_one_and_all_complete() {
    // A pool of two instances: without the queue the third call would fail
    // to instantiate.
    let host = small_host(2, 16);
    let gate = Gate::start();
    let p = gated(&host, &gate).await;
    let calls: Vec<_> = (0..6).map(|_| spawn_connect(&p, gate.addr)).collect();
    wait_until(
        "two calls reach the server and four wait for a slot",
        || std::future::ready(gate.with(|s| s.pending) == 2 && host.queue_status().waiting == 4),
    )
    .await;
    assert_eq!(
        host.queue_status(),
        QueueStatus {
            slots: 2,
            running: 2,
            waiting: 4,
            limit: 16
        }
    );
    gate.open();
    for call in calls {
        assert_eq!(call.await.unwrap(), Ok("hello".into()));
    }
    assert_eq!(gate.with(|s| s.accepted), 6);
    assert_eq!(
        gate.with(|s| s.max_pending),
        2,
        "more calls ran at once than there are slots"
    );
    assert_eq!(host.queue_status().running, 0);
    assert_eq!(host.queue_status().waiting, 0);
}

#[tokio::test]
async fn a_call_beyond_the_queue_bound_fails_at_once_naming_the_limit() {
    let host = small_host(1, 1);
    let gate = Gate::start();
    let p = gated(&host, &gate).await;
    let running = spawn_connect(&p, gate.addr);
    wait_until("the first call holds the slot", || {
        std::future::ready(gate.with(|s| s.pending) == 1)
    })
    .await;
    let waiting = spawn_connect(&p, gate.addr);
    wait_until("the second call waits", || {
        std::future::ready(host.queue_status().waiting == 1)
    })
    .await;

    let refused = connect(&p, gate.addr).await;
    assert_eq!(refused, Err(CallError::QueueFull { limit: 1 }));
    let msg = refused.unwrap_err().to_string();
    assert!(msg.contains("`[daemon] tool_queue` = 1"), "{msg}");
    // Guardrails queue for the same slots.
    let text = GuardrailSubject::OutputText("hi".into());
    assert_eq!(
        p.check_guardrail("crash", &text, &info()).await,
        Err(CallError::QueueFull { limit: 1 })
    );

    gate.open();
    assert_eq!(running.await.unwrap(), Ok("hello".into()));
    assert_eq!(waiting.await.unwrap(), Ok("hello".into()));
    assert_eq!(gate.with(|s| s.accepted), 2);
}

#[tokio::test]
async fn the_slot_is_given_back_on_every_way_a_call_ends() {
    // One slot and no queue: a slot not given back makes the next call fail
    // at once with QueueFull.
    let host = small_host(1, 0);
    let gate = Gate::start();
    let p = gated(&host, &gate).await;
    let who = info();
    let echo = || p.call_tool("echo", r#"{"text":"next"}"#, &who);

    assert!(matches!(
        p.call_tool("panic", r#"{"message":"boom"}"#, &info()).await,
        Err(CallError::Trap(_))
    ));
    assert_eq!(echo().await, Ok("next".into()));

    let short = load(&host, "faulty", fixture("faulty"), faulty_sandbox()).await;
    assert_eq!(
        short.call_tool("spin", "{}", &info()).await,
        Err(CallError::Timeout(Duration::from_millis(200)))
    );
    assert_eq!(echo().await, Ok("next".into()));
    assert_eq!(
        short.call_tool("hog", r#"{"mib":64}"#, &info()).await,
        Err(CallError::MemoryLimit(16 << 20))
    );
    assert_eq!(echo().await, Ok("next".into()));

    // A caller that stops waiting mid-call.
    let abandoned = spawn_connect(&p, gate.addr);
    wait_until("the call holds the slot in the guest", || {
        std::future::ready(gate.with(|s| s.pending) == 1)
    })
    .await;
    assert_eq!(host.queue_status().running, 1);
    abandoned.abort();
    assert!(abandoned.await.unwrap_err().is_cancelled());
    assert_eq!(host.queue_status().running, 0);
    assert_eq!(echo().await, Ok("next".into()));
    gate.open();
}

/// Tests that need another user's files can only run as root; say so where
/// it shows even when the test passes (the decision itself is unit-tested in
/// `plugin::cache::trust`).
fn root_only(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: needs root to chown");
    false
}

const NOBODY: u32 = 65534;

fn chmod(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test]
async fn an_unsafe_cache_folder_stops_the_host_from_starting() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    std::fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o777);
    let Err(err) = PluginHost::with_cache(dir.clone()) else {
        panic!("a world-writable cache folder was accepted");
    };
    let msg = err.to_string();
    assert!(msg.contains(&dir.display().to_string()), "{msg}");
    assert!(msg.contains("mode 0777"), "{msg}");
    assert!(
        msg.contains(&format!("`chmod 700 {}`", dir.display())),
        "{msg}"
    );

    if root_only("an_unsafe_cache_folder_stops_the_host_from_starting (owner part)") {
        chmod(&dir, 0o700);
        std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).unwrap();
        let Err(err) = PluginHost::with_cache(dir.clone()) else {
            panic!("a cache folder of another user was accepted");
        };
        let msg = err.to_string();
        assert!(msg.contains(&format!("owned by uid {NOBODY}")), "{msg}");
        assert!(
            msg.contains(&format!("`chown 0 {}`", dir.display())),
            "{msg}"
        );
    }
}

#[tokio::test]
async fn a_cached_artifact_others_could_write_is_recompiled_not_loaded() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    // Seeded from the shared cache: one compilation fewer.
    let shared = host();
    let calc = load(&shared, "calc", plugin("calc"), Sandbox::default()).await;
    let seed = shared.cache().unwrap().path_for(&calc.hash);
    std::fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o700);
    let artifact = dir.join(seed.file_name().unwrap());
    std::fs::copy(&seed, &artifact).unwrap();
    chmod(&artifact, 0o600);
    drop((calc, shared));
    let first = PluginHost::with_cache(dir.clone()).unwrap();
    let calc = load(&first, "calc", plugin("calc"), Sandbox::default()).await;
    assert_eq!(calc.origin, Origin::Cached);
    drop((calc, first));

    // Replaced by rename, never rewritten in place (see the test above).
    let unsafe_copy = tmp.path().join("copy");
    std::fs::copy(&artifact, &unsafe_copy).unwrap();
    chmod(&unsafe_copy, 0o666);
    std::fs::rename(&unsafe_copy, &artifact).unwrap();
    let host = PluginHost::with_cache(dir.clone()).unwrap();
    let calc = load(&host, "calc", plugin("calc"), Sandbox::default()).await;
    assert_eq!(
        calc.origin,
        Origin::Compiled,
        "a group/world-writable artifact was loaded"
    );
    assert_eq!(std::fs::metadata(&artifact).unwrap().mode() & 0o777, 0o600);
    drop((calc, host));

    if root_only("a_cached_artifact_others_could_write_is_recompiled_not_loaded (owner part)") {
        std::fs::copy(&artifact, &unsafe_copy).unwrap();
        chmod(&unsafe_copy, 0o600);
        std::os::unix::fs::chown(&unsafe_copy, Some(NOBODY), Some(NOBODY)).unwrap();
        std::fs::rename(&unsafe_copy, &artifact).unwrap();
        let host = PluginHost::with_cache(dir.clone()).unwrap();
        let calc = load(&host, "calc", plugin("calc"), Sandbox::default()).await;
        assert_eq!(
            calc.origin,
            Origin::Compiled,
            "another user's artifact was loaded"
        );
        assert_eq!(std::fs::metadata(&artifact).unwrap().uid(), 0);
        drop((calc, host));
    }

    // The artifact written in its place is agentd's own and is used again.
    let host = PluginHost::with_cache(dir).unwrap();
    let calc = load(&host, "calc", plugin("calc"), Sandbox::default()).await;
    assert_eq!(calc.origin, Origin::Cached);
    assert_eq!(
        calc.call_tool("add", r#"{"a":2,"b":2}"#, &info()).await,
        Ok("4".into())
    );
}

#[tokio::test]
async fn pruning_the_cache_keeps_what_is_loaded_and_drops_old_unused_artifacts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    // Seeded from the shared cache, so nothing is compiled.
    let shared = host();
    let host = PluginHost::with_cache(dir.clone()).unwrap();
    let seed = load(&shared, "calc", plugin("calc"), Sandbox::default()).await;
    let artifact = host.cache().unwrap().path_for(&seed.hash);
    std::fs::copy(shared.cache().unwrap().path_for(&seed.hash), &artifact).unwrap();
    chmod(&artifact, 0o600);
    drop((seed, shared));
    let calc = load(&host, "calc", plugin("calc"), Sandbox::default()).await;
    assert_eq!(calc.origin, Origin::Cached);

    // An artifact of a plugin no longer loaded, last used 60 days ago.
    let stale = host.cache().unwrap().path_for(&"ab".repeat(32));
    std::fs::write(&stale, b"old code").unwrap();
    let long_ago = std::time::SystemTime::now() - Duration::from_secs(60 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    // Both look equally old; only the one in use stays.
    std::fs::File::options()
        .write(true)
        .open(&artifact)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();

    let in_use = std::collections::HashSet::from([calc.hash.clone()]);
    let report = host.prune_cache(in_use).await.unwrap();
    let stale_name = stale.file_name().unwrap().to_str().unwrap().to_string();
    assert_eq!(report.removed, [stale_name]);
    assert!(!stale.exists());
    assert!(artifact.is_file());
    assert_eq!(
        calc.call_tool("add", r#"{"a":1,"b":2}"#, &info()).await,
        Ok("3".into())
    );
}
