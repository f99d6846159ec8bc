//! Hot reload end to end: the real agentd, its file watcher, SIGHUP and
//! `agentctl reload`, with plugin files and agents.toml replaced under it the
//! way editors and `cargo xtask plugins` do (write, then rename).

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Events, TestDaemon, fixture, plugin, replace_file, wait_until};
use serde_json::Value;
use sha2::Digest;

fn sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// `bytes` (a component) with a custom section appended: same behaviour,
/// different content hash — a "new build" of the same plugin.
fn rebuilt(bytes: &[u8], build: u8) -> Vec<u8> {
    let name = b"agentd-test-build";
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.push(build);
    let mut out = bytes.to_vec();
    out.push(0); // custom section id
    out.push(section.len() as u8); // fits one LEB128 byte
    out.extend_from_slice(&section);
    out
}

async fn plugins(d: &TestDaemon) -> Vec<Value> {
    d.client().get("/v1/plugins").await.unwrap()
}

async fn plugin_row(d: &TestDaemon, name: &str) -> Option<Value> {
    plugins(d).await.into_iter().find(|p| p["name"] == name)
}

fn tool_names(row: &Value) -> Vec<String> {
    row["tools"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .filter_map(|t| t["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Call `tool` through the model and return its tool_end event, once both
/// responses (the function call, then the reply to its output) have ended,
/// so the next call never meets a response still streaming.
async fn call(d: &TestDaemon, s: &str, ev: &mut Events, tool: &str, args: &str) -> Value {
    d.send(s, &format!("call {tool} {args}")).await;
    finish_call(ev, tool).await
}

async fn finish_call(ev: &mut Events, tool: &str) -> Value {
    let ended = |ev: &Events| ev.seen.iter().filter(|e| e["type"] == "agent_end").count();
    let before = ended(ev);
    let end = ev.until_type("tool_end", &[("tool", tool)]).await;
    while ended(ev) < before + 2 {
        ev.until_type("agent_end", &[]).await;
    }
    end
}

fn is_session_update(ev: &Value, pred: impl Fn(&Value) -> bool) -> bool {
    ev["type"] == "raw_model_event"
        && ev["data"]["type"] == "session.updated"
        && pred(&ev["data"]["session"])
}

fn offers(session: &Value, function: &str) -> bool {
    session["tools"]
        .as_array()
        .is_some_and(|ts| ts.iter().any(|t| t["name"] == function))
}

#[tokio::test]
async fn reloads_changed_plugin() {
    let pdir = tempfile::tempdir().unwrap();
    let p = pdir.path().join("p.wasm");
    std::fs::copy(plugin("calc"), &p).unwrap();
    let d = TestDaemon::start_with(
        &format!("plugin_dir = \"{}\"", pdir.path().display()),
        "[agents.a]\ninstructions = \"test\"\ntools = [\"p.*\"]\n",
    )
    .await;
    let s = d.start_session("a").await;
    let mut ev = d.watch(&s);
    let end = call(&d, &s, &mut ev, "p.add", r#"{"a":1,"b":2}"#).await;
    assert_eq!(end["output"], "3");

    // A new build replaces the file: loaded, and the live session is told.
    let v2 = read(&fixture("faulty"));
    replace_file(&p, &v2);
    wait_until("p is the new version", || async {
        plugin_row(&d, "p")
            .await
            .is_some_and(|r| r["hash"] == sha256(&v2))
    })
    .await;
    let row = plugin_row(&d, "p").await.unwrap();
    assert!(tool_names(&row).contains(&"echo".to_string()), "{row}");
    assert_eq!(row["error"], Value::Null);
    ev.until("a session update offering p_echo", |e| {
        is_session_update(e, |s| offers(s, "p_echo") && !offers(s, "p_add"))
    })
    .await;
    let end = call(&d, &s, &mut ev, "p.echo", r#"{"text":"v2"}"#).await;
    assert_eq!(end["output"], "v2");

    // A broken file: the old version keeps serving, the reason is reported.
    replace_file(&p, b"\0asm but not really a component");
    wait_until("the broken file is reported", || async {
        plugin_row(&d, "p")
            .await
            .is_some_and(|r| r["error"].as_str().is_some())
    })
    .await;
    let row = plugin_row(&d, "p").await.unwrap();
    assert_eq!(row["hash"], sha256(&v2), "{row}");
    let error = row["error"].as_str().unwrap();
    assert!(
        error.contains("is not a valid WebAssembly component") && error.contains("keeps serving"),
        "{error}"
    );
    let (ok, out, _) = d.agentctl(&["plugins"]);
    assert!(ok);
    assert!(out.contains("last error: plugin `p`"), "{out}");
    let end = call(&d, &s, &mut ev, "p.echo", r#"{"text":"still v2"}"#).await;
    assert_eq!(end["output"], "still v2");

    // A new file appears: loaded. Removed again: gone.
    let q = pdir.path().join("q.wasm");
    std::fs::copy(plugin("blocklist"), &q).unwrap();
    wait_until("q is loaded", || async {
        plugin_row(&d, "q").await.is_some()
    })
    .await;
    std::fs::remove_file(&q).unwrap();
    wait_until("q is gone", || async {
        plugin_row(&d, "q").await.is_none()
    })
    .await;
    assert!(d.log().contains("reload applied"), "{}", d.log());
}

#[tokio::test]
async fn a_removed_plugin_leaves_the_tool_lists_of_live_sessions() {
    let pdir = tempfile::tempdir().unwrap();
    std::fs::copy(plugin("calc"), pdir.path().join("calc.wasm")).unwrap();
    let extra = pdir.path().join("extra.wasm");
    std::fs::copy(fixture("faulty"), &extra).unwrap();
    let d = TestDaemon::start_with(
        &format!("plugin_dir = \"{}\"", pdir.path().display()),
        "[agents.a]\ninstructions = \"test\"\ntools = [\"calc.*\", \"extra.*\"]\n",
    )
    .await;
    let s = d.start_session("a").await;
    let mut ev = d.watch(&s);
    std::fs::remove_file(&extra).unwrap();
    ev.until("a session update without extra's tools", |e| {
        is_session_update(e, |s| offers(s, "calc_add") && !offers(s, "extra_echo"))
    })
    .await;
    let agents: Vec<Value> = d.client().get("/v1/agents").await.unwrap();
    let tools = agents[0]["tools"].to_string();
    assert!(
        tools.contains("calc.add") && !tools.contains("extra."),
        "{tools}"
    );
}

fn agent_body(instructions: &str) -> String {
    format!(
        "[plugins.calc]\npath = \"{}\"\n\n[agents.a]\ninstructions = \"{instructions}\"\ntools = [\"calc.*\"]\n",
        plugin("calc").display()
    )
}

#[tokio::test]
async fn keeps_old_config_on_error() {
    let d = TestDaemon::start_with("watch = false", &agent_body("first")).await;
    let s = d.start_session("a").await;
    let mut ev = d.watch(&s);

    // A typo: refused with its position, nothing changes.
    let body = format!("{}instructoins = \"typo\"\n", agent_body("second"));
    d.rewrite_config(&body);
    let (ok, _, err) = d.agentctl(&["reload"]);
    assert!(!ok, "an invalid config was accepted");
    let line = d.header_lines() + body.lines().count();
    let at = format!("agents.toml:{line}:1: unknown field `instructoins`");
    assert!(err.contains(&at), "no `{at}` in:\n{err}");
    assert!(err.contains("the running config is unchanged"), "{err}");

    // A reference to a tool that does not exist: also refused with its position.
    d.rewrite_config(&agent_body("second").replace("calc.*", "nope.*"));
    let (ok, _, err) = d.agentctl(&["reload"]);
    assert!(!ok);
    let line = d.header_lines() + 6; // the `tools` line of the body
    assert!(
        err.contains(&format!("agents.toml:{line}:10: no plugin named `nope`")),
        "{err}"
    );
    let status: Value = d.client().get("/v1/status").await.unwrap();
    assert_eq!(status["last_reload"]["outcome"], "rejected");
    // The old agent still serves.
    let end = call(&d, &s, &mut ev, "calc.add", r#"{"a":2,"b":2}"#).await;
    assert_eq!(end["output"], "4");
    assert!(
        !ev.seen
            .iter()
            .any(|e| is_session_update(e, |s| s["instructions"] == "second")),
        "a refused config reached the session"
    );

    // A valid change reaches the live session without reconnecting.
    d.rewrite_config(&agent_body("second"));
    let (ok, out, err) = d.agentctl(&["reload"]);
    assert!(ok, "{err}");
    assert!(out.contains("reload applied"), "{out}");
    assert!(out.contains("agents changed: a"), "{out}");
    ev.until("a session update with the new instructions", |e| {
        is_session_update(e, |s| s["instructions"] == "second")
    })
    .await;
    let end = call(&d, &s, &mut ev, "calc.add", r#"{"a":3,"b":3}"#).await;
    assert_eq!(end["output"], "6");

    // Reloading the same config again changes nothing.
    let (ok, out, _) = d.agentctl(&["reload"]);
    assert!(ok);
    assert!(out.contains("reload unchanged"), "{out}");
}

#[tokio::test]
async fn sighup_reloads_the_config() {
    let d = TestDaemon::start_with("watch = false", &agent_body("first")).await;
    d.rewrite_config(&agent_body("after hup"));
    // SAFETY: kill(2) on our own child's pid with a valid signal number.
    let rc = unsafe { libc::kill(d.pid() as i32, libc::SIGHUP) };
    assert_eq!(rc, 0);
    wait_until("the SIGHUP reload is applied", || async {
        let st: Value = d.client().get("/v1/status").await.unwrap();
        st["last_reload"]["trigger"] == "signal" && st["last_reload"]["outcome"] == "applied"
    })
    .await;
    let st: Value = d.client().get("/v1/status").await.unwrap();
    assert_eq!(
        st["last_reload"]["agents_changed"],
        serde_json::json!(["a"])
    );
}

#[tokio::test]
async fn reload_under_load_fails_no_calls() {
    let pdir = tempfile::tempdir().unwrap();
    let p = pdir.path().join("p.wasm");
    let base = read(&fixture("faulty"));
    std::fs::copy(fixture("faulty"), &p).unwrap();
    let d = TestDaemon::start_with(
        &format!("plugin_dir = \"{}\"", pdir.path().display()),
        "[agents.a]\ninstructions = \"test\"\ntools = [\"p.echo\"]\n",
    )
    .await;
    let s = d.start_session("a").await;
    let mut ev = d.watch(&s);

    // One task calls p.echo back to back while the file is replaced.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let caller = {
        let stop = stop.clone();
        let client = d.client();
        let s = s.clone();
        tokio::spawn(async move {
            let mut results = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let text = format!("call p.echo {{\"text\":\"n{i}\"}}");
                let _: Value = client
                    .post(
                        &format!("/v1/sessions/{s}/messages"),
                        &serde_json::json!({ "text": text }),
                    )
                    .await
                    .unwrap();
                let end = finish_call(&mut ev, "p.echo").await;
                results.push((format!("n{i}"), end));
                i += 1;
            }
            results
        })
    };

    let mut last_good = base.clone();
    for build in 1..=5u8 {
        let bytes = if build == 3 {
            b"garbage: half a build".to_vec()
        } else {
            rebuilt(&base, build)
        };
        replace_file(&p, &bytes);
        if build == 3 {
            wait_until("the broken build is reported", || async {
                plugin_row(&d, "p")
                    .await
                    .is_some_and(|r| r["error"].as_str().is_some())
            })
            .await;
        } else {
            last_good = bytes.clone();
            wait_until("the new build serves", || async {
                plugin_row(&d, "p")
                    .await
                    .is_some_and(|r| r["hash"] == sha256(&bytes))
            })
            .await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let results = caller.await.unwrap();

    assert!(results.len() >= 5, "only {} calls ran", results.len());
    eprintln!("{} calls during 5 replacements", results.len());
    for (want, end) in &results {
        assert_eq!(end["outcome"], "completed", "{end}");
        assert_eq!(end["output"], *want, "{end}");
    }
    let row = plugin_row(&d, "p").await.unwrap();
    assert_eq!(row["hash"], sha256(&last_good), "{row}");
    assert_eq!(row["error"], Value::Null, "{row}");
}

/// A loopback server that answers its first connection with one line, only
/// once `release` is sent: a tool call that connects to it stays in flight
/// for as long as the test wants, whatever the machine's speed.
fn held_server() -> (
    std::net::SocketAddr,
    std::sync::mpsc::Receiver<()>,
    std::sync::mpsc::Sender<()>,
) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (accepted_tx, accepted) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let _ = accepted_tx.send(());
            if release_rx.recv().is_ok() {
                use std::io::Write;
                let _ = conn.write_all(b"released\n");
            }
        }
    });
    (addr, accepted, release)
}

#[tokio::test]
async fn a_call_in_flight_finishes_on_the_old_version() {
    let pdir = tempfile::tempdir().unwrap();
    let p = pdir.path().join("p.wasm");
    let base = read(&fixture("faulty"));
    std::fs::copy(fixture("faulty"), &p).unwrap();
    let (addr, accepted, release) = held_server();
    let d = TestDaemon::start_with(
        "",
        &format!(
            "[plugins.p]\npath = \"{}\"\nsandbox = {{ timeout = \"60s\", allow_hosts = [\"{addr}\"] }}\n\n[agents.a]\ninstructions = \"test\"\ntools = [\"p.connect\"]\n",
            p.display()
        ),
    )
    .await;
    let s = d.start_session("a").await;
    let mut ev = d.watch(&s);
    d.send(&s, &format!(r#"call p.connect {{"addr":"{addr}"}}"#))
        .await;
    ev.until_type("tool_start", &[("tool", "p.connect")]).await;
    // The call is inside the plugin, waiting for the server's line.
    tokio::task::spawn_blocking(move || accepted.recv_timeout(Duration::from_secs(30)))
        .await
        .unwrap()
        .expect("the tool connected to the held server");

    // Swapped while the call runs.
    let v2 = rebuilt(&base, 7);
    replace_file(&p, &v2);
    wait_until("the new build serves", || async {
        plugin_row(&d, "p")
            .await
            .is_some_and(|r| r["hash"] == sha256(&v2))
    })
    .await;
    let status: Value = d.client().get("/v1/status").await.unwrap();
    assert_eq!(
        status["last_reload"]["plugins_changed"],
        serde_json::json!(["p"])
    );
    assert!(
        !ev.seen.iter().any(|e| e["type"] == "tool_end"),
        "the call in flight was ended by the swap"
    );

    // Released only now: it completes on the instance it started on.
    release.send(()).unwrap();
    let end = ev.until_type("tool_end", &[("tool", "p.connect")]).await;
    assert_eq!(end["outcome"], "completed", "{end}");
    assert_eq!(end["output"], "released");
}

#[tokio::test]
async fn a_file_written_in_pieces_is_read_once_complete() {
    let pdir = tempfile::tempdir().unwrap();
    let p = pdir.path().join("p.wasm");
    std::fs::copy(plugin("calc"), &p).unwrap();
    let d = TestDaemon::start_with(
        &format!("plugin_dir = \"{}\"", pdir.path().display()),
        "[agents.a]\ninstructions = \"test\"\ntools = [\"p.*\"]\n",
    )
    .await;
    // Like a linker writing its output in place: three chunks, 50 ms apart.
    let v2 = read(&fixture("faulty"));
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&p).unwrap();
        for chunk in v2.chunks(v2.len() / 3 + 1) {
            f.write_all(chunk).unwrap();
            f.flush().unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    wait_until("the new build serves", || async {
        plugin_row(&d, "p")
            .await
            .is_some_and(|r| r["hash"] == sha256(&v2))
    })
    .await;
    // Debounced: one reload of the whole file, never a load of a partial one.
    assert!(!d.log().contains("plugin not loaded"), "{}", d.log());
    assert_eq!(d.log().matches("reload applied").count(), 1, "{}", d.log());
}

// Derived change detection: each edit below touches one key a live session
// uses and nothing else; `agentctl reload` must report the agent changed and
// the very next message must already be under the new rule.

/// Plugins every case uses, and an agent body around `extra` lines.
fn guarded(daemon_extra: &str, agent_extra: &str) -> String {
    format!(
        "[plugins.blocklist]\npath = \"{}\"\n[plugins.faulty]\npath = \"{}\"\n\n{daemon_extra}\n\n[agents.a]\ninstructions = \"test\"\ntools = [\"faulty.echo\"]\n{agent_extra}\n",
        plugin("blocklist").display(),
        fixture("faulty").display(),
    )
}

/// Rewrite the config and reload it through agentctl: applied, agent `a` changed.
fn reload_changes_agent_a(d: &TestDaemon, body: &str) {
    d.rewrite_config(body);
    let (ok, out, err) = d.agentctl(&["reload"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("reload applied") && out.contains("agents changed: a"),
        "the edit was not seen as a change of agent a:\n{out}"
    );
}

/// Send `text` and wait for the model's echo of it.
async fn echoed(d: &TestDaemon, s: &str, ev: &mut Events, text: &str) {
    d.send(s, text).await;
    let said = format!("You said: {text}");
    ev.until(&said, |e| {
        e["type"] == "history_updated"
            && e["item"]["role"] == "assistant"
            && e["item"]["status"] == "completed"
            && e["item"].to_string().contains(&said)
    })
    .await;
}

/// Input guardrails added by a reload stop the next message of a live session.
async fn input_guardrail_reaches_live_session(before: &str, after: &str) {
    let d = TestDaemon::start_with("watch = false", before).await;
    let s = d.start_session("a").await;
    let mut ev = d.watch(&s);
    echoed(&d, &s, &mut ev, "this is forbidden").await;

    reload_changes_agent_a(&d, after);
    d.send(&s, "this is forbidden again").await;
    let trip = ev
        .until_type("guardrail_tripped", &[("direction", "input")])
        .await;
    assert_eq!(
        trip["guardrails"],
        serde_json::json!(["blocklist.blocklist"])
    );
    // The blocked message never reached the model: the next one is answered, it was not.
    echoed(&d, &s, &mut ev, "hello").await;
    assert!(
        !ev.seen
            .iter()
            .any(|e| e.to_string().contains("You said: this is forbidden again")),
        "the blocked message reached the model"
    );
}

#[tokio::test]
async fn reload_adds_agent_input_guardrails_to_live_sessions() {
    input_guardrail_reaches_live_session(
        &guarded("", ""),
        &guarded("", "input_guardrails = [\"blocklist.blocklist\"]"),
    )
    .await;
}

#[tokio::test]
async fn reload_adds_daemon_wide_input_guardrails_to_live_sessions() {
    input_guardrail_reaches_live_session(
        &guarded("", ""),
        &guarded("[guardrails]\ninput = [\"blocklist.blocklist\"]", ""),
    )
    .await;
}

const SECRET_ARGS: &str = r#"{"text":"my key is sk-abcdefghijklmnopqrstuvwxyz0123"}"#;

#[tokio::test]
async fn reload_adds_tool_guardrails_to_live_sessions() {
    let d = TestDaemon::start_with("watch = false", &guarded("", "")).await;
    let s = d.start_session("a").await;
    let mut ev = d.watch(&s);
    let end = call(&d, &s, &mut ev, "faulty.echo", SECRET_ARGS).await;
    assert_eq!(end["outcome"], "completed", "{end}");

    reload_changes_agent_a(
        &d,
        &guarded("", "tool_guardrails = [\"blocklist.no_secrets\"]"),
    );
    let end = call(&d, &s, &mut ev, "faulty.echo", SECRET_ARGS).await;
    assert_eq!(end["outcome"], "rejected", "{end}");
    let output = end["output"].as_str().unwrap_or_default();
    assert!(
        output.starts_with("Tool call blocked by guardrail blocklist.no_secrets"),
        "{output}"
    );
}

#[tokio::test]
async fn reload_of_before_approval_reaches_live_sessions() {
    let asks = "[agents.a.approval]\ndefault = \"ask\"";
    let with = |before: bool| {
        guarded(
            "",
            &format!(
                "tool_guardrails = [{{ use = \"blocklist.no_secrets\", before_approval = {before} }}]\n{asks}"
            ),
        )
    };
    let d = TestDaemon::start_with("watch = false", &with(false)).await;
    let s = d.start_session("a").await;
    let mut ev = d.watch(&s);
    // Screened only after approval: the person is asked first.
    d.send(&s, &format!("call faulty.echo {SECRET_ARGS}")).await;
    let ask = ev.until_type("tool_approval_required", &[]).await;
    let (ok, _, err) = d.agentctl(&["reject", ask["call_id"].as_str().unwrap()]);
    assert!(ok, "{err}");
    ev.until_type("tool_end", &[("outcome", "rejected")]).await;

    reload_changes_agent_a(&d, &with(true));
    let asked_before = ev.count("tool_approval_required");
    d.send(&s, &format!("call faulty.echo {SECRET_ARGS}")).await;
    ev.until_type("guardrail_tripped", &[("direction", "tool_call")])
        .await;
    let end = ev.until_type("tool_end", &[("outcome", "rejected")]).await;
    assert!(
        end["output"]
            .as_str()
            .is_some_and(|o| o.starts_with("Tool call blocked by guardrail")),
        "{end}"
    );
    let asked_after = ev.count("tool_approval_required");
    assert_eq!(
        asked_before, asked_after,
        "a person was asked before the guardrail ran"
    );
}

#[tokio::test]
async fn reload_of_debounce_text_length_reaches_live_sessions() {
    let with = |n: u32| {
        guarded(
            &format!("[guardrails]\ndebounce_text_length = {n}"),
            "guardrails = [\"blocklist.blocklist\"]",
        )
    };
    let d = TestDaemon::start_with("watch = false", &with(100_000)).await;
    let s = d.start_session("a").await;
    let mut ev = d.watch(&s);
    // The reply is far shorter than the debounce: no output check ever runs.
    echoed(&d, &s, &mut ev, "forbidden").await;
    assert!(
        !ev.seen.iter().any(|e| e["type"] == "guardrail_tripped"),
        "an output guardrail ran before its debounce"
    );

    reload_changes_agent_a(&d, &with(5));
    d.send(&s, "forbidden").await;
    let trip = ev
        .until_type("guardrail_tripped", &[("direction", "output")])
        .await;
    assert_eq!(
        trip["guardrails"],
        serde_json::json!(["blocklist.blocklist"])
    );
}

#[tokio::test]
async fn a_config_that_only_moved_lines_is_unchanged() {
    let body = guarded("", "input_guardrails = [\"blocklist.blocklist\"]");
    let d = TestDaemon::start_with("watch = false", &body).await;
    d.rewrite_config(&format!("# a comment that moves every line\n\n{body}"));
    let (ok, out, err) = d.agentctl(&["reload"]);
    assert!(ok, "{err}");
    assert!(out.contains("reload unchanged"), "{out}");
}

#[tokio::test]
async fn a_sim_model_added_by_reload_serves_new_sessions() {
    // Nothing runs the offline model at start: the only model is remote (and
    // never dialled here).
    let remote = "[models.default]\nprovider = \"openai\"\nurl = \"ws://127.0.0.1:9/v1/realtime\"\napi_key_env = \"AGENTD_UNSET_KEY\"\n\n[agents.a]\ninstructions = \"remote\"\n";
    let d = TestDaemon::start_with("watch = false", remote).await;
    d.rewrite_config(&format!(
        "{remote}\n[models.local]\nprovider = \"sim\"\n\n[agents.b]\nmodel = \"local\"\ninstructions = \"local\"\n"
    ));
    let (ok, out, err) = d.agentctl(&["reload"]);
    assert!(ok, "{err}");
    assert!(out.contains("models added: local"), "{out}");
    let s = d.start_session("b").await;
    let mut ev = d.watch(&s);
    echoed(&d, &s, &mut ev, "hello from a model added by reload").await;
}
