//! The control API over the real socket of the real daemon, through the
//! typed client of the `agentd-api` crate: everything the daemon writes
//! (replies, events of a real session, journal rows) reads back as the API's
//! types; routing answers 405 and 404 as HTTP does; query strings are
//! percent-decoded, checked, and the audit limit is clamped.

mod common;

use std::time::Duration;

use agentd_api::client::Method;
use agentd_api::{
    AuditCall, AuditQuery, CallTool, ClientError, Decision, EventsQuery, SendMessage, SessionEvent,
    SetAgent, StartSession, StreamItem, ToolOutcome,
};
use common::{TestDaemon, plugin};
use serde_json::{Value, json};
use tokio::sync::mpsc;

fn config() -> String {
    format!(
        r#"
[plugins.calc]
path = "{calc}"

[agents.concierge]
instructions = "You are a concierge."
tools = ["calc.*"]
handoffs = ["billing"]

[agents.concierge.approval]
rules = [{{ tool = "calc.multiply", action = "ask" }}]

[agents.billing]
instructions = "You handle billing."
tools = [{{ use = "calc.add", as = "add" }}]
"#,
        calc = plugin("calc").display(),
    )
}

/// Typed events of `session` as they come, from the start, until it closes.
fn follow(d: &TestDaemon, session: &str) -> mpsc::UnboundedReceiver<StreamItem> {
    let (tx, rx) = mpsc::unbounded_channel();
    let client = d.client();
    let session = session.to_string();
    tokio::spawn(async move {
        let from_start = EventsQuery {
            since: 0,
            follow: true,
        };
        let r = client
            .events(&session, &from_start, |item| tx.send(item).is_ok())
            .await;
        if let Err(e) = r {
            // Surfaces as the channel closing before what the test waits for.
            eprintln!("typed event stream failed: {e}");
        }
    });
    rx
}

/// The first event satisfying `pred`; panics after 30 s or when the stream ends.
async fn until(
    rx: &mut mpsc::UnboundedReceiver<StreamItem>,
    what: &str,
    pred: impl Fn(&SessionEvent) -> bool,
) -> SessionEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(StreamItem::Event(env))) if pred(&env.event) => return env.event,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the typed event stream ended before {what}"),
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

#[tokio::test]
async fn the_typed_client_reads_everything_the_daemon_writes() {
    let d = TestDaemon::start(&config()).await;
    let c = d.client();

    let status = c.status().await.unwrap();
    assert!(status.agents.iter().any(|a| a.name == "concierge"));
    let calc = status.plugins.iter().find(|p| p.name == "calc").unwrap();
    assert_eq!(calc.short_hash().map(str::len), Some(12));
    assert_eq!(c.plugins().await.unwrap(), status.plugins);
    assert_eq!(c.agents().await.unwrap(), status.agents);

    let started = c
        .start_session(&StartSession {
            agent: Some("concierge".into()),
            settings: Default::default(),
        })
        .await
        .unwrap();
    assert_eq!(started.agent, "concierge");
    let s = started.id;
    let mut rx = follow(&d, &s);

    c.send_message(
        &s,
        &SendMessage::text(r#"call calc.multiply {"a":4,"b":5}"#),
    )
    .await
    .unwrap();
    let SessionEvent::ToolApprovalRequired { call_id, .. } = until(&mut rx, "an approval", |e| {
        matches!(e, SessionEvent::ToolApprovalRequired { .. })
    })
    .await
    else {
        unreachable!()
    };
    let st = c.session(&s).await.unwrap();
    assert_eq!(st.pending_approvals[0].call_id, call_id);
    assert_eq!(st.pending_approvals[0].tool, "calc.multiply");
    let rows = c.sessions().await.unwrap();
    let row = rows.iter().find(|r| r.id == s).unwrap();
    assert_eq!(
        row.status.as_ref().map(|st| st.agent.as_str()),
        Some("concierge")
    );

    let decided = c
        .decide(
            &call_id,
            &Decision {
                approve: true,
                always: false,
                remember: None,
                reason: Some("checked by hand".into()),
                session: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (decided.session.as_str(), decided.approved),
        (s.as_str(), true)
    );
    let end = until(&mut rx, "the tool's end", |e| {
        matches!(e, SessionEvent::ToolEnd { .. })
    })
    .await;
    let SessionEvent::ToolEnd {
        output, outcome, ..
    } = end
    else {
        unreachable!()
    };
    assert_eq!((output.as_str(), outcome), ("20", ToolOutcome::Completed));
    until(&mut rx, "the answer's end", |e| {
        matches!(e, SessionEvent::AgentEnd { .. })
    })
    .await;

    // The journal's rows, typed.
    let audit = c
        .audit(&AuditQuery {
            session: Some(s.clone()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(audit[0].call_id, call_id);
    assert_eq!(audit[0].decision, "ask (policy rule 1)");
    assert!(audit[0].approvals[0].approved);
    assert_eq!(
        audit[0].approvals[0].reason.as_deref(),
        Some("checked by hand")
    );
    assert!(audit[0].approvals[0].latency_ms.is_some());
    assert_eq!(audit[0].plugin_hash.as_ref().map(String::len), Some(64));
    assert_eq!(audit[0].outcome.as_deref(), Some("completed"));

    // The whole log so far — audio, raw model events, history items — reads
    // back as typed lines, one per sequence number.
    let mut all = Vec::new();
    c.events(&s, &EventsQuery::default(), |item| {
        all.push(item);
        true
    })
    .await
    .unwrap();
    let seqs: Vec<u64> = all
        .iter()
        .map(|i| match i {
            StreamItem::Event(env) => env.seq,
            StreamItem::Lost(l) => panic!("nothing is lost this early: {l:?}"),
        })
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    for kind in ["raw_model_event", "audio", "history_added", "tool_end"] {
        assert!(all.iter().any(|i| i.kind() == kind), "no {kind} line");
    }
    assert!(!c.history(&s).await.unwrap().is_empty());

    let tool = c
        .call_tool(
            "calc.add",
            &CallTool {
                arguments: json!({"a": 1, "b": 2}),
            },
        )
        .await
        .unwrap();
    assert!(tool.ok);
    assert_eq!(tool.output, "3");
    c.interrupt(&s).await.unwrap();
    let set = c
        .set_agent(
            &s,
            &SetAgent {
                agent: "billing".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(set.agent, "billing");
    assert_eq!(c.reload().await.unwrap().outcome, "unchanged");

    assert!(c.close_session(&s).await.unwrap().closed);
    until(&mut rx, "session_closed", |e| {
        matches!(e, SessionEvent::SessionClosed { .. })
    })
    .await;
    // The stream ends after the last event.
    let drained = tokio::time::timeout(Duration::from_secs(30), async {
        while rx.recv().await.is_some() {}
    })
    .await;
    assert!(
        drained.is_ok(),
        "the stream did not end after session_closed"
    );
}

/// One raw HTTP/1.1 exchange on the socket, to see status line and headers.
async fn raw_request(d: &TestDaemon, method: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::UnixStream::connect(&d.socket).await.unwrap();
    let req = format!("{method} {path} HTTP/1.1\r\nhost: agentd\r\nconnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

fn api_error(r: Result<Value, ClientError>) -> (u16, String, String) {
    match r {
        Err(ClientError::Api {
            status,
            code,
            message,
        }) => (status, code, message),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn routing_and_queries_answer_as_http_does() {
    let d = TestDaemon::start(&config()).await;
    let c = d.client();

    // A known path with the wrong method: 405, with the methods it takes.
    let reply = raw_request(&d, "PUT", "/v1/sessions").await;
    let head = reply.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 405"), "{reply}");
    assert!(head.contains("\r\nallow: get, post\r\n"), "{reply}");
    assert!(reply.contains(r#""code":"method_not_allowed""#), "{reply}");
    let (status, code, message) =
        api_error(c.call(Method::DELETE, "/v1/status", None::<&()>).await);
    assert_eq!((status, code.as_str()), (405, "method_not_allowed"));
    assert!(
        message.contains("/v1/status does not take DELETE"),
        "{message}"
    );
    // An unknown path: 404.
    let (status, code, _) = api_error(c.get("/v1/nothing").await);
    assert_eq!((status, code.as_str()), (404, "not_found"));

    // A journaled call to look up.
    let s = d.start_session("concierge").await;
    let mut rx = follow(&d, &s);
    c.send_message(&s, &SendMessage::text(r#"call calc.add {"a":2,"b":3}"#))
        .await
        .unwrap();
    until(&mut rx, "the tool's end", |e| {
        matches!(e, SessionEvent::ToolEnd { .. })
    })
    .await;

    // `session=` is percent-decoded: every byte of the id escaped finds it.
    let escaped: String = s.bytes().map(|b| format!("%{b:02X}")).collect();
    let rows: Vec<AuditCall> = c
        .get(&format!("/v1/audit?session={escaped}"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].session, s);
    // A huge limit is clamped, not an error.
    let rows: Vec<AuditCall> = c
        .get(&format!(
            "/v1/audit?session={s}&limit=100000000000000000000000000"
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);

    // Bad queries are 400s naming the problem.
    let cases = [
        (
            "/v1/audit?limit=ten".to_string(),
            "limit=`ten` is not a number",
        ),
        (
            format!("/v1/audit?sesion={s}"),
            "unknown query parameter `sesion`; expected session, tool, since or limit",
        ),
        (
            format!("/v1/sessions/{s}/events?follow=yes"),
            "follow=`yes` is not 1 or 0",
        ),
        (
            format!("/v1/sessions/{s}/events?since=1&since=2"),
            "query parameter `since` is given more than once",
        ),
    ];
    for (path, want) in cases {
        let (status, code, message) = api_error(c.get(&path).await);
        assert_eq!((status, code.as_str()), (400, "bad_request"), "{path}");
        assert!(message.contains(want), "{path}: {message}");
    }
}
