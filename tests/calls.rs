//! Phone and browser calls end to end, through the real binaries: agentd's
//! TCP listener, its webhook and signalling routes, the offline model playing
//! the provider's call routes and sidebands, `agentctl call`.

mod common;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine as _;
use common::{TestDaemon, plugin, wait_until};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET_ENV: &str = "AGENTD_TEST_WEBHOOK_SECRET";
const OPS: &str = "ops-token-0123456789abcdef";
const WALL: &str = "wall-token-0123456789abcdef";

fn secret() -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(b"test-webhook-key-0123456789")
    )
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A reply: status, headers (lower-case names), body.
struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request over a fresh TCP connection.
async fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    // A server that refuses a body by its declared size answers before reading it.
    let _ = s.write_all(body).await;
    let mut out = Vec::new();
    let mut buf = [0u8; 16 << 10];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

/// `http` with `token` as the bearer token.
async fn with_token(addr: &str, method: &str, path: &str, token: &str, body: &[u8]) -> Reply {
    http(
        addr,
        method,
        path,
        &[("authorization", &format!("Bearer {token}"))],
        body,
    )
    .await
}

fn token_file(dir: &Path, name: &str, secret: &str, mode: u32) -> String {
    let p = dir.join(format!("{name}.token"));
    std::fs::write(&p, format!("{secret}\n")).expect("write token");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    p.display().to_string()
}

struct Setup {
    d: TestDaemon,
    addr: String,
    _tokens: tempfile::TempDir,
}

/// A daemon with the TCP listener, two tokens, calc, and [sip] with `sip_extra`.
async fn daemon(agents: &str, sip_extra: &str, env: &[(&str, &str)]) -> Setup {
    let tokens = tempfile::tempdir().expect("tempdir");
    let ops = token_file(tokens.path(), "ops", OPS, 0o600);
    let wall = token_file(tokens.path(), "wall", WALL, 0o640);
    let port = free_port();
    let body = format!(
        r#"[daemon.http]
listen = "127.0.0.1:{port}"
tokens = [{{ name = "ops", file = "{ops}", role = "operator" }}, {{ name = "wall", file = "{wall}", role = "viewer" }}]
allow_origins = ["https://app.example"]

[plugins.calc]
path = "{calc}"

{agents}

[sip]
webhook_secret_env = "{SECRET_ENV}"
{sip_extra}
"#,
        calc = plugin("calc").display()
    );
    let secret = secret();
    let mut all_env: Vec<(&str, &str)> = vec![(SECRET_ENV, secret.as_str())];
    all_env.extend_from_slice(env);
    let d = TestDaemon::start_full("", &body, &all_env).await;
    Setup {
        d,
        addr: format!("127.0.0.1:{port}"),
        _tokens: tokens,
    }
}

const AGENTS: &str = r#"
[agents.concierge]
instructions = "You answer the phone."
tools = ["calc.*", { use = "call.transfer", approval = true }, "call.hangup"]

[agents.vip]
instructions = "The VIP line."
turn_detection = { type = "server_vad", threshold = 0.4, prefix_padding_ms = 200, silence_duration_ms = 300, create_response = true }
"#;

const ROUTES: &str = r#"routes = [{ to = "+18005550100", agent = "concierge" }, { from = "+1555*", agent = "vip" }]
transfer_targets = ["tel:+1800*"]"#;

/// Ask the daemon's offline model for a call; `deliver` rings the webhook.
async fn simulate(d: &TestDaemon, to: &str, from: &str, say: &[&str], deliver: bool) -> Value {
    d.client()
        .post::<Value>(
            "/v1/calls/simulate",
            &json!({"to": to, "from": from, "say": say, "deliver": deliver}),
        )
        .await
        .expect("simulate")
}

/// The sim's record of a call.
async fn sim_call(sim: &str, call_id: &str) -> Value {
    let hostport = sim.trim_start_matches("http://").trim_end_matches("/v1");
    let r = http(
        hostport,
        "GET",
        &format!("/v1/sim/calls/{call_id}"),
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn sign(id: &str, ts: u64, body: &str, secret: &str) -> String {
    let key = agentd::calls::signature::secret_key(secret).expect("key");
    agentd::calls::signature::sign(&key, id, ts, body.as_bytes())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn deliver(addr: &str, id: &str, ts: u64, sig: &str, body: &str) -> Reply {
    http(
        addr,
        "POST",
        "/webhooks/openai",
        &[
            ("content-type", "application/json"),
            ("webhook-id", id),
            ("webhook-timestamp", &ts.to_string()),
            ("webhook-signature", sig),
        ],
        body.as_bytes(),
    )
    .await
}

/// A `calls` row: call id, channel, caller, callee, outcome, ended.
type CallRow = (String, String, Option<String>, Option<String>, String, bool);

fn journal_calls(d: &TestDaemon) -> Vec<CallRow> {
    let c = rusqlite::Connection::open_with_flags(
        d.dir.path().join("state").join("journal.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("journal");
    let mut st = c
        .prepare("SELECT call_id, channel, caller, callee, outcome, ended_ms IS NOT NULL FROM calls ORDER BY call_id")
        .expect("query");
    st.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        ))
    })
    .expect("rows")
    .collect::<Result<_, _>>()
    .expect("rows")
}

#[tokio::test]
async fn a_signed_webhook_leads_to_one_accept_one_sideband_and_a_tool_served_in_wasm() {
    let s = daemon(AGENTS, ROUTES, &[]).await;
    let (ok, out, err) = s.d.agentctl(&[
        "--json",
        "call",
        "simulate",
        "--to",
        "+18005550100",
        "--from",
        "+14155550000",
        "--say",
        r#"call calc.add {"a":2,"b":3}"#,
        "--say",
        "dtmf 4#",
    ]);
    assert!(ok, "{out}\n{err}\n{}", s.d.log());
    let v: Value = serde_json::from_str(&out).expect("json");
    let call_id = v["call_id"].as_str().expect("call id").to_string();
    assert_eq!(v["webhook_status"], 200, "{v}");
    let session = v["call"]["session"]
        .as_str()
        .expect("a session attached")
        .to_string();
    let mut ev = s.d.watch(&session);
    let end = ev.seen_or_until("tool_end", &[("tool", "calc.add")]).await;
    assert_eq!(
        (end["outcome"].as_str(), end["output"].as_str()),
        (Some("completed"), Some("5"))
    );
    ev.seen_or_until("dtmf", &[("digit", "4")]).await;
    ev.seen_or_until("dtmf", &[("digit", "#")]).await;
    // The caller's words arrived as an input transcript.
    ev.seen_or_until("history_updated", &[]).await;

    let sim = v["sim"].as_str().expect("sim base");
    let rec = sim_call(sim, &call_id).await;
    assert_eq!(rec["accepts"].as_array().map(Vec::len), Some(1), "{rec}");
    let accept = &rec["accepts"][0];
    assert_eq!(accept["type"], "realtime");
    assert_eq!(accept["model"], "agentd-sim");
    assert_eq!(accept["instructions"], "You answer the phone.");
    let tools: Vec<&str> = accept["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        tools.contains(&"calc_add") && tools.contains(&"call_transfer"),
        "{tools:?}"
    );
    assert_eq!(rec["sidebands"], 1, "{rec}");

    let st: Value =
        s.d.client()
            .get(&format!("/v1/sessions/{session}"))
            .await
            .expect("status");
    assert_eq!(st["call"]["channel"], "sip");
    assert_eq!(st["call"]["caller"], "+14155550000");
    assert_eq!(st["call"]["callee"], "+18005550100");
    assert_eq!(st["call"]["call_id"], call_id.as_str());
    // Audio of a call travels on its media path, not through agentd.
    let refused =
        s.d.client()
            .post::<Value>(
                &format!("/v1/sessions/{session}/audio"),
                &json!({"audio": "AAAA"}),
            )
            .await;
    assert!(refused.is_err(), "{refused:?}");
    let rows = journal_calls(&s.d);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (
            rows[0].1.as_str(),
            rows[0].2.as_deref(),
            rows[0].3.as_deref(),
            rows[0].4.as_str()
        ),
        (
            "sip",
            Some("+14155550000"),
            Some("+18005550100"),
            "accepted"
        )
    );
    let (ok, list, _) = s.d.agentctl(&["call", "list"]);
    assert!(
        ok && list.contains(&call_id) && list.contains("accepted"),
        "{list}"
    );
}

#[tokio::test]
async fn forged_stale_and_replayed_webhooks_accept_nothing() {
    let s = daemon(AGENTS, ROUTES, &[]).await;
    let v = simulate(&s.d, "+18005550100", "+14155550000", &[], false).await;
    let call_id = v["call_id"].as_str().unwrap().to_string();
    let sim = v["sim"].as_str().unwrap().to_string();
    let w = &v["webhook"];
    let (id, body) = (w["id"].as_str().unwrap(), w["body"].as_str().unwrap());
    let good_ts = w["timestamp"].as_u64().unwrap();
    let good_sig = w["signature"].as_str().unwrap();

    // Forged: signed with another secret.
    let other = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(b"not-the-secret")
    );
    let r = deliver(&s.addr, id, good_ts, &sign(id, good_ts, body, &other), body).await;
    assert_eq!(r.status, 401, "{}", r.body);
    // Tampered: the signature of another body.
    let tampered = body.replace("+18005550100", "+18005550199");
    let r = deliver(&s.addr, id, good_ts, good_sig, &tampered).await;
    assert_eq!(r.status, 401, "{}", r.body);
    // Stale: properly signed, ten minutes old.
    let old = now() - 600;
    let r = deliver(&s.addr, id, old, &sign(id, old, body, &secret()), body).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("stale"), "{}", r.body);
    let log = s.d.log();
    assert!(log.contains("webhook refused"), "{log}");
    assert!(log.contains("no `v1,` signature"), "{log}");
    assert!(!log.contains(&secret()), "the secret was logged");
    assert_eq!(sim_call(&sim, &call_id).await["accepts"], json!([]));

    // The genuine delivery, then its replay.
    let r = deliver(&s.addr, id, good_ts, good_sig, body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    wait_until("the sideband attaches", || async {
        sim_call(&sim, &call_id).await["sidebands"] == 1
    })
    .await;
    let r = deliver(&s.addr, id, good_ts, good_sig, body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["duplicate"], true);
    // The same call under a new webhook id is not answered twice either.
    let ts = now();
    let r = deliver(
        &s.addr,
        "wh_other",
        ts,
        &sign("wh_other", ts, body, &secret()),
        body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let rec = sim_call(&sim, &call_id).await;
    assert_eq!(rec["accepts"].as_array().map(Vec::len), Some(1), "{rec}");
    assert_eq!(rec["sidebands"], 1, "{rec}");
    let sessions: Vec<Value> = s.d.client().get("/v1/sessions").await.unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
}

#[tokio::test]
async fn calls_are_routed_by_number_limited_by_max_calls_and_sip_gets_no_vad_tuning() {
    let s = daemon(
        AGENTS,
        &format!("{ROUTES}\nmax_calls = 2\nreject_status = 486"),
        &[],
    )
    .await;
    let a = simulate(&s.d, "+18005550100", "+14155550000", &[], true).await;
    assert_eq!(a["call"]["agent"], "concierge", "{a}");
    let b = simulate(&s.d, "+19995550000", "+15551234567", &[], true).await;
    assert_eq!(b["call"]["agent"], "vip", "{b}");
    let sim = a["sim"].as_str().unwrap();
    let vip = sim_call(sim, b["call_id"].as_str().unwrap()).await;
    let td = &vip["accepts"][0]["audio"]["input"]["turn_detection"];
    assert_eq!(td["type"], "server_vad", "{td}");
    assert_eq!(td["create_response"], true, "{td}");
    for refused in ["threshold", "prefix_padding_ms", "silence_duration_ms"] {
        assert!(td.get(refused).is_none(), "{refused} sent on SIP: {td}");
    }
    // No route matches.
    let c = simulate(&s.d, "+19995550000", "+16665550000", &[], true).await;
    assert_eq!(c["call"]["outcome"], "rejected 486", "{c}");
    let rec = sim_call(sim, c["call_id"].as_str().unwrap()).await;
    assert_eq!(
        (rec["state"].as_str(), &rec["rejects"][0]["status_code"]),
        (Some("rejected"), &json!(486))
    );
    assert_eq!(rec["accepts"], json!([]));
    // Two calls are live: a third matching call is over max_calls.
    let d3 = simulate(&s.d, "+18005550100", "+14155550001", &[], true).await;
    assert_eq!(d3["call"]["outcome"], "rejected 486", "{d3}");
    assert_eq!(
        sim_call(sim, d3["call_id"].as_str().unwrap()).await["accepts"],
        json!([])
    );
    assert!(s.d.log().contains("max_calls calls are live"));
    // `agentd check` warns about the VAD tuning of an agent routed to SIP.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_agentd"))
        .args(["check"])
        .arg(&s.d.config)
        .env(SECRET_ENV, secret())
        .output()
        .expect("agentd check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("refuses server_vad"), "{text}");
    // Calls count by channel and result on /metrics, which over TCP takes a
    // token like any read (a viewer's will do).
    let none = http(&s.addr, "GET", "/metrics", &[], b"").await;
    assert_eq!(none.status, 401, "{}", none.body);
    let m = with_token(&s.addr, "GET", "/metrics", WALL, b"").await;
    assert_eq!(m.status, 200, "{}", m.body);
    for line in [
        "agentd_calls_total{channel=\"sip\",result=\"accepted\"} 2",
        "agentd_calls_total{channel=\"sip\",result=\"rejected\"} 2",
        "agentd_calls_total{channel=\"webrtc\",result=\"accepted\"} 0",
    ] {
        assert!(
            m.body.lines().any(|l| l == line),
            "no `{line}` in:\n{}",
            m.body
        );
    }
}

#[tokio::test]
async fn metrics_public_lets_a_scraper_read_metrics_and_nothing_else_without_a_token() {
    let port = free_port();
    let d = TestDaemon::start_full(
        "",
        &format!(
            "[daemon.http]\nlisten = \"127.0.0.1:{port}\"\nmetrics_public = true\n\n[agents.a]\ninstructions = \"x\"\n"
        ),
        &[],
    )
    .await;
    let addr = format!("127.0.0.1:{port}");
    let m = http(&addr, "GET", "/metrics", &[], b"").await;
    assert_eq!(m.status, 200, "{}", m.body);
    assert!(m.body.contains("agentd_sessions_live"), "{}", m.body);
    let status = http(&addr, "GET", "/v1/status", &[], b"").await;
    assert_eq!(status.status, 401, "{}", status.body);
    drop(d);
}

#[tokio::test]
async fn a_transfer_waits_for_approval_and_hang_ups_say_who() {
    let s = daemon(AGENTS, ROUTES, &[]).await;
    let v = simulate(
        &s.d,
        "+18005550100",
        "+14155550000",
        &[r#"call call.transfer {"target_uri":"tel:+18005559999"}"#],
        true,
    )
    .await;
    let call_id = v["call_id"].as_str().unwrap().to_string();
    let sim = v["sim"].as_str().unwrap().to_string();
    let session = v["call"]["session"].as_str().unwrap().to_string();
    let mut ev = s.d.watch(&session);
    let asked = ev.approval_asked().await;
    // Nothing was referred before the approval.
    assert_eq!(sim_call(&sim, &call_id).await["refers"], json!([]));
    // A viewer may not decide; an operator may, over TCP.
    let path = format!("/v1/approvals/{asked}");
    let r = http(
        &s.addr,
        "POST",
        &path,
        &[
            ("authorization", &format!("Bearer {WALL}")),
            ("content-type", "application/json"),
        ],
        br#"{"approve":true}"#,
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("viewer"), "{}", r.body);
    let r = http(
        &s.addr,
        "POST",
        &path,
        &[
            ("authorization", &format!("Bearer {OPS}")),
            ("content-type", "application/json"),
        ],
        br#"{"approve":true}"#,
    )
    .await;
    assert!(r.status < 300, "{}", r.body);
    let end = ev
        .seen_or_until("tool_end", &[("tool", "call.transfer")])
        .await;
    assert_eq!(end["outcome"], "completed", "{end}");
    let rec = sim_call(&sim, &call_id).await;
    assert_eq!(rec["refers"], json!(["tel:+18005559999"]), "{rec}");
    wait_until("the call's end is journaled", || async {
        journal_calls(&s.d)
            .iter()
            .any(|r| r.0 == call_id && r.4 == "transferred to tel:+18005559999" && r.5)
    })
    .await;
    // The approval was journaled as the token's.
    let audit: Vec<Value> =
        s.d.client()
            .get(&format!("/v1/audit?session={session}"))
            .await
            .unwrap();
    let text = serde_json::to_string(&audit).unwrap();
    assert!(
        text.contains("token:ops") && text.contains("builtin"),
        "{text}"
    );

    // A target outside transfer_targets is refused; hang-ups record who.
    let v = simulate(&s.d, "+18005550100", "+14155550002", &[], true).await;
    let call_id = v["call_id"].as_str().unwrap().to_string();
    let r = with_token(
        &s.addr,
        "POST",
        &format!("/v1/calls/{call_id}/transfer"),
        OPS,
        br#"{"target_uri":"tel:+19005550000"}"#,
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = with_token(
        &s.addr,
        "POST",
        &format!("/v1/calls/{call_id}/hangup"),
        WALL,
        b"{}",
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = with_token(
        &s.addr,
        "POST",
        &format!("/v1/calls/{call_id}/hangup"),
        OPS,
        b"{}",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["outcome"], "hung up by token:ops");
    let rec = sim_call(&sim, &call_id).await;
    assert_eq!(
        (rec["hangups"].as_u64(), rec["state"].as_str()),
        (Some(1), Some("hung_up"))
    );
    let session = v["call"]["session"].as_str().unwrap().to_string();
    wait_until("the call's session closes", || async {
        let st: Result<Value, _> = s.d.client().get("/v1/sessions").await;
        st.is_ok_and(|l| {
            l.as_array().is_some_and(|a| {
                a.iter()
                    .any(|x| x["id"] == session.as_str() && x["closed"] == true)
            })
        })
    })
    .await;
}

#[tokio::test]
async fn the_agent_hangs_up_with_its_call_tool() {
    let s = daemon(AGENTS, ROUTES, &[]).await;
    let v = simulate(
        &s.d,
        "+18005550100",
        "+14155550000",
        &["call call.hangup {}"],
        true,
    )
    .await;
    let call_id = v["call_id"].as_str().unwrap().to_string();
    let sim = v["sim"].as_str().unwrap().to_string();
    wait_until("the agent hangs up", || async {
        sim_call(&sim, &call_id).await["hangups"] == 1
    })
    .await;
    wait_until("the journal says who", || async {
        journal_calls(&s.d)
            .iter()
            .any(|r| r.0 == call_id && r.4 == "hung up by agent concierge" && r.5)
    })
    .await;
}

#[tokio::test]
async fn webrtc_signalling_relays_sdp_and_attaches_by_the_location_id() {
    let s = daemon(AGENTS, ROUTES, &[]).await;
    let offer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=browser\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";
    // No token and no allowed origin: refused.
    let r = http(
        &s.addr,
        "POST",
        "/v1/calls?agent=concierge",
        &[("content-type", "application/sdp")],
        offer.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = http(
        &s.addr,
        "POST",
        "/v1/calls?agent=concierge",
        &[
            ("content-type", "application/sdp"),
            ("origin", "https://evil.example"),
        ],
        offer.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.body);
    // An allowed origin relays the offer.
    let r = http(
        &s.addr,
        "POST",
        "/v1/calls?agent=concierge",
        &[
            ("content-type", "application/sdp"),
            ("origin", "https://app.example"),
        ],
        offer.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body, agentd::realtime::sim_calls::SDP_ANSWER);
    assert_eq!(
        r.headers
            .get("access-control-allow-origin")
            .map(String::as_str),
        Some("https://app.example")
    );
    let location = r.headers.get("location").expect("location").clone();
    let call_id = location.rsplit('/').next().unwrap().to_string();
    assert!(call_id.starts_with("rtc_"), "{location}");
    let session = r.headers.get("agentd-session").expect("session").clone();
    let st: Value =
        s.d.client()
            .get(&format!("/v1/sessions/{session}"))
            .await
            .unwrap();
    assert_eq!(
        (
            st["call"]["channel"].as_str(),
            st["call"]["call_id"].as_str()
        ),
        (Some("webrtc"), Some(call_id.as_str()))
    );
    // The sim got the agent's settings with the SDP, and one sideband for that id.
    let calls: Vec<Value> = s.d.client().get("/v1/calls").await.unwrap();
    assert_eq!(calls.len(), 1);
    let sim_base = {
        let v = simulate(&s.d, "+18005550100", "+1", &[], false).await;
        v["sim"].as_str().unwrap().to_string()
    };
    let rec = sim_call(&sim_base, &call_id).await;
    assert_eq!(
        (
            rec["session"]["type"].as_str(),
            rec["session"]["instructions"].as_str()
        ),
        (Some("realtime"), Some("You answer the phone."))
    );
    assert_eq!(rec["sidebands"], 1, "{rec}");
    // The session talks to the model like any other: a tool call in wasm.
    let mut ev = s.d.watch(&session);
    s.d.send(&session, r#"call calc.add {"a":1,"b":1}"#).await;
    let end = ev.seen_or_until("tool_end", &[("tool", "calc.add")]).await;
    assert_eq!(end["output"], "2");

    // An ephemeral key for a browser that calls the provider itself…
    let r = with_token(
        &s.addr,
        "POST",
        "/v1/client_secrets?agent=concierge",
        WALL,
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ek = r.json()["value"].as_str().unwrap().to_string();
    assert!(ek.starts_with("ek_"), "{ek}");
    // …whose call an operator attaches to, once.
    let hostport = sim_base
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .to_string();
    let r = http(
        &hostport,
        "POST",
        "/v1/realtime/calls",
        &[
            ("content-type", "application/sdp"),
            ("authorization", &format!("Bearer {ek}")),
        ],
        offer.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let theirs = r.headers["location"]
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    // The same key starts another call; a made-up one starts none.
    let bare = |key: String| {
        let hostport = hostport.clone();
        async move {
            let auth = format!("Bearer {key}");
            http(
                &hostport,
                "POST",
                "/v1/realtime/calls",
                &[
                    ("content-type", "application/sdp"),
                    ("authorization", &auth),
                ],
                offer.as_bytes(),
            )
            .await
        }
    };
    assert_eq!(bare(ek.clone()).await.status, 201);
    assert_eq!(bare("ek_made_up".into()).await.status, 401);
    let attach = format!("/v1/calls/{theirs}/attach?agent=concierge");
    let r = with_token(&s.addr, "POST", &attach, WALL, b"").await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = with_token(&s.addr, "POST", &attach, OPS, b"").await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = with_token(&s.addr, "POST", &attach, OPS, b"").await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(sim_call(&sim_base, &theirs).await["sidebands"], 1);
}

#[tokio::test]
async fn the_control_api_over_tcp_takes_tokens_by_role() {
    let s = daemon(AGENTS, ROUTES, &[]).await;
    let r = http(&s.addr, "GET", "/v1/status", &[], b"").await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(
        r.headers.get("www-authenticate").map(String::as_str),
        Some("Bearer")
    );
    let r = http(
        &s.addr,
        "GET",
        "/v1/status",
        &[("authorization", "Bearer not-a-token")],
        b"",
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = with_token(&s.addr, "GET", "/v1/status", WALL, b"").await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The same routes as the socket: a session started by the operator…
    let start = br#"{"agent":"concierge"}"#;
    let r = with_token(&s.addr, "POST", "/v1/sessions", WALL, start).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = with_token(&s.addr, "POST", "/v1/sessions", OPS, start).await;
    assert!(r.status < 300, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    // …whose events a viewer may read.
    let r = with_token(
        &s.addr,
        "GET",
        &format!("/v1/sessions/{id}/events?since=0"),
        WALL,
        b"",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Size limit.
    let big = vec![b'x'; 2 << 20];
    let r = with_token(&s.addr, "POST", "/v1/sessions", OPS, &big).await;
    assert_eq!(r.status, 413, "{}", r.body);
    // Nothing in the log gives a token away.
    let log = s.d.log();
    assert!(
        !log.contains(OPS) && !log.contains(WALL),
        "a token was logged"
    );
}

#[tokio::test]
async fn a_world_readable_token_file_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let open = token_file(dir.path(), "wall", WALL, 0o644);
    let config = dir.path().join("agents.toml");
    std::fs::write(
        &config,
        format!("[daemon.http]\nlisten = \"127.0.0.1:0\"\ntokens = [{{ name = \"wall\", file = \"{open}\" }}]\n"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_agentd"))
        .arg("check")
        .arg(&config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("agents.toml:3:") && err.contains("readable by every user"),
        "{err}"
    );
}

#[tokio::test]
async fn the_api_key_never_appears_in_a_response_or_a_log() {
    // One daemon's offline model plays the provider for a second daemon,
    // whose model is an `openai` model with a key.
    let provider = daemon(AGENTS, ROUTES, &[]).await;
    let sim = simulate(&provider.d, "+1", "+1", &[], false).await["sim"]
        .as_str()
        .unwrap()
        .to_string();
    let hostport = sim
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .to_string();
    let key = "sk-test-THIS-KEY-MUST-NEVER-LEAK-0123456789";
    let agents = format!(
        r#"[models.remote]
provider = "openai"
url = "ws://{hostport}/v1/realtime?model=gpt-realtime"
api_base = "{sim}"
api_key_env = "AGENTD_TEST_PROVIDER_KEY"

[agents.concierge]
model = "remote"
instructions = "Remote line."
"#
    );
    let s = daemon(
        &agents,
        "model = \"remote\"\nroutes = [{ agent = \"concierge\" }]",
        &[("AGENTD_TEST_PROVIDER_KEY", key)],
    )
    .await;
    let mut replies = Vec::new();
    // A phone call: the provider's webhook for one of its calls, rung at the second daemon.
    let v = simulate(&provider.d, "+18005550100", "+14155550000", &[], false).await;
    let w = &v["webhook"];
    let call_id = v["call_id"].as_str().unwrap().to_string();
    let r = deliver(
        &s.addr,
        w["id"].as_str().unwrap(),
        w["timestamp"].as_u64().unwrap(),
        w["signature"].as_str().unwrap(),
        w["body"].as_str().unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    wait_until("the sideband attaches", || async {
        sim_call(&sim, &call_id).await["sidebands"] == 1
    })
    .await;
    let rec = sim_call(&sim, &call_id).await;
    // The key was sent to the provider, and only there.
    assert_eq!(
        rec["authorization"][0],
        format!("Bearer <{} chars>", key.len()),
        "{rec}"
    );
    replies.push(r.body);
    // A browser call and an ephemeral key.
    let offer = "v=0\r\ns=browser\r\n";
    let r = with_token(&s.addr, "POST", "/v1/calls", OPS, offer.as_bytes()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    replies.push(format!("{:?}{}", r.headers, r.body));
    let r = with_token(&s.addr, "POST", "/v1/client_secrets", OPS, b"").await;
    assert_eq!(r.status, 200, "{}", r.body);
    replies.push(format!("{:?}{}", r.headers, r.body));
    for path in ["/v1/calls", "/v1/status", "/v1/sessions", "/v1/agents"] {
        let r = with_token(&s.addr, "GET", path, OPS, b"").await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        replies.push(r.body);
    }
    // An error from the provider (an unknown call) is reported without the key too.
    let r = with_token(&s.addr, "POST", "/v1/calls/rtc_nope/attach", OPS, b"").await;
    replies.push(r.body);
    for body in &replies {
        assert!(!body.contains(key), "the API key is in a reply: {body}");
    }
    let log = s.d.log();
    assert!(!log.contains(key), "the API key is in the log");
    assert!(
        !provider.d.log().contains(key),
        "the API key is in the provider's log"
    );
}

/// `agentctl` run as user `nobody` (65534) against `socket`.
fn agentctl_as_nobody(socket: &Path, args: &[&str]) -> (bool, String) {
    use std::os::unix::process::CommandExt;
    // The build's own copy may sit where `nobody` cannot reach it (CI keeps
    // the target directory under /root/.cache): run a copy beside the socket,
    // in the folder the test opened up to everyone.
    let dir = socket.parent().expect("the socket is in a folder");
    let bin = dir.join("agentctl-as-nobody");
    if !bin.exists() {
        std::fs::copy(env!("CARGO_BIN_EXE_agentctl"), &bin).expect("copy agentctl");
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755))
            .expect("make the copy executable by everyone");
    }
    let out = std::process::Command::new(&bin)
        .arg("--socket")
        .arg(socket)
        .args(args)
        .uid(65534)
        .gid(65534)
        .output()
        .expect("run agentctl as nobody");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn the_socket_answers_other_users_403_and_lets_socket_group_members_in() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: acting as another user needs root");
        return;
    }
    // Without socket_group: the kernel lets `nobody` connect (the socket is
    // opened up by hand), agentd's own check refuses with a reason.
    let d = TestDaemon::start("[agents.a]\ninstructions = \"x\"\n").await;
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&d.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (ok, out) = agentctl_as_nobody(&d.socket, &["status"]);
    assert!(!ok, "{out}");
    assert!(out.contains("uid 65534 may not use this socket"), "{out}");
    assert!(
        d.log()
            .contains("control connection from another user refused")
    );
    // With socket_group: the socket belongs to the group, and its members get in.
    let d = TestDaemon::start_with(
        "socket_group = \"nogroup\"",
        "[agents.a]\ninstructions = \"x\"\n",
    )
    .await;
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&d.socket).unwrap().gid(), 65534);
    let (ok, out) = agentctl_as_nobody(&d.socket, &["status"]);
    assert!(ok, "{out}\n{}", d.log());
}

#[tokio::test]
async fn the_listener_speaks_tls_and_the_offline_model_rings_it_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let port = free_port();
    let body = format!(
        "[daemon.http]\nlisten = \"127.0.0.1:{port}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n\n[agents.concierge]\ninstructions = \"x\"\n\n[sip]\nwebhook_secret_env = \"{SECRET_ENV}\"\nroutes = [{{ agent = \"concierge\" }}]\n",
        cert_path.display(),
        key_path.display()
    );
    let secret = secret();
    let d = TestDaemon::start_full("", &body, &[(SECRET_ENV, secret.as_str())]).await;
    // Plain HTTP gets no answer from a TLS listener.
    let r = http(&format!("127.0.0.1:{port}"), "GET", "/v1/status", &[], b"").await;
    assert_eq!(r.status, 0, "{}", r.body);
    let v = simulate(&d, "+18005550100", "+14155550000", &["hello"], true).await;
    assert_eq!(v["webhook_status"], 200, "{v}\n{}", d.log());
    assert_eq!(
        v["webhook"]["url"],
        format!("https://127.0.0.1:{port}/webhooks/openai")
    );
    assert_eq!(v["call"]["agent"], "concierge", "{v}");
}
