//! Table tests of the conversation: each row feeds a sequence of inputs
//! (server events, session commands, the link going down and up) and checks
//! the effects, one table per rule. Sequences are written inline or taken
//! from recorded captures of a real exchange (`tests-data/realtime/captures`,
//! copied from the reference client's protocol captures).

use serde_json::{Value, json};

use super::*;
use crate::realtime::protocol::parse_server_event;

const TOOL_CALLS: &str =
    include_str!("../../../tests-data/realtime/captures/tool_calls.server_sample.jsonl");
const GUARDRAIL: &str =
    include_str!("../../../tests-data/realtime/captures/guardrail.server_sample.jsonl");
const HANDOFF: &str =
    include_str!("../../../tests-data/realtime/captures/handoff.server_sample.jsonl");

/// The server events of a capture, in order. The captures keep the first 200
/// and the last 20 events (the `_note` line between them is left out) and
/// elide long strings as `<48 chars>...<elided N chars>`; an elided string
/// is restored to N characters of base64, so audio byte counts are those of
/// the real exchange.
fn capture(text: &str) -> Vec<Value> {
    fn restore(v: &mut Value) {
        match v {
            Value::String(s) => {
                if let Some(n) = s
                    .split_once("...<elided ")
                    .and_then(|(_, rest)| rest.strip_suffix(" chars>"))
                    .and_then(|n| n.parse::<usize>().ok())
                {
                    *s = "A".repeat(n);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(restore),
            Value::Object(m) => m.values_mut().for_each(restore),
            _ => {}
        }
    }
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("capture line is JSON"))
        .filter(|v| v.get("_note").is_none())
        .map(|mut v| {
            restore(&mut v);
            v
        })
        .collect();
    assert!(events.len() > 20, "capture too short: {}", events.len());
    events
}

/// The first `n` events of a capture (of its first 200, which are contiguous).
fn head(text: &str, n: usize) -> Vec<In> {
    capture(text).into_iter().take(n).map(In::Server).collect()
}

/// One input of a sequence.
enum In {
    Server(Value),
    Cmd(ModelCommand),
    Down,
    Up,
}

fn srv(v: Value) -> In {
    In::Server(v)
}

fn text(t: &str) -> In {
    In::Cmd(ModelCommand::UserText(t.into()))
}

fn tool_output(call_id: &str, start_response: bool) -> In {
    In::Cmd(ModelCommand::ToolOutput {
        call_id: call_id.into(),
        output: "5".into(),
        start_response,
    })
}

fn interrupt(force_cancel: bool) -> In {
    In::Cmd(ModelCommand::Interrupt { force_cancel })
}

fn played(item_id: &str, ms: u64) -> In {
    In::Cmd(ModelCommand::Playback {
        item_id: item_id.into(),
        played_ms: ms,
    })
}

fn created(resp: &str) -> In {
    srv(
        json!({"type": "response.created", "response": {"id": resp, "status": "in_progress", "output": []}}),
    )
}

fn done(resp: &str) -> In {
    srv(
        json!({"type": "response.done", "response": {"id": resp, "status": "completed", "output": []}}),
    )
}

/// 4,800 bytes of PCM16: 100 ms at 24 kHz.
fn audio(resp: &str, item: &str) -> In {
    srv(
        json!({"type": "response.output_audio.delta", "response_id": resp, "item_id": item, "output_index": 0, "content_index": 0, "delta": "AAAA".repeat(1600)}),
    )
}

fn audio_done(resp: &str, item: &str) -> In {
    srv(
        json!({"type": "response.output_audio.done", "response_id": resp, "item_id": item, "output_index": 0, "content_index": 0}),
    )
}

fn transcript(resp: &str, item: &str) -> In {
    srv(
        json!({"type": "response.output_audio_transcript.delta", "response_id": resp, "item_id": item, "output_index": 0, "content_index": 0, "delta": "words"}),
    )
}

fn call_item(call_id: &str, status: &str) -> Value {
    json!({"id": format!("fc_{call_id}"), "type": "function_call", "status": status, "name": "add", "call_id": call_id, "arguments": "{}"})
}

fn args_done(resp: &str, call_id: &str) -> In {
    srv(
        json!({"type": "response.function_call_arguments.done", "response_id": resp, "item_id": format!("fc_{call_id}"), "output_index": 0, "call_id": call_id, "name": "add", "arguments": "{}"}),
    )
}

fn item_done(resp: &str, item: Value) -> In {
    srv(
        json!({"type": "response.output_item.done", "response_id": resp, "output_index": 0, "item": item}),
    )
}

/// The server confirms agentd's user message as `id`.
fn user_confirmed(id: &str) -> In {
    srv(
        json!({"type": "conversation.item.done", "previous_item_id": null, "item": {"id": id, "type": "message", "role": "user", "status": "completed", "content": [{"type": "input_text", "text": "hi"}]}}),
    )
}

fn speech_started() -> In {
    srv(
        json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": 900, "item_id": "u_next"}),
    )
}

fn error_for(event_id: &str) -> In {
    srv(
        json!({"type": "error", "error": {"type": "invalid_request_error", "code": "conversation_already_has_active_response", "message": "no", "event_id": event_id}}),
    )
}

/// A short, stable description of an effect (raw model events left out).
fn describe(effect: &Effect) -> Option<String> {
    Some(match effect {
        Effect::Send(ev) => match ev {
            ClientEvent::SessionUpdate { session, .. } if session.tracing.is_some() => {
                "send session.update(tracing)".into()
            }
            ClientEvent::SessionUpdate { session, .. } => format!(
                "send session.update({})",
                session.instructions.as_deref().unwrap_or("")
            ),
            ClientEvent::ConversationItemCreate {
                item,
                previous_item_id,
                ..
            } => {
                let what = match item {
                    Item::Message(m) => {
                        let part = match m.content.first() {
                            Some(ContentPart::InputText { text: Some(t) })
                            | Some(ContentPart::OutputText { text: Some(t) }) => t.clone(),
                            Some(other) => format!("{other:?}"),
                            None => String::new(),
                        };
                        format!("{} {part}", format!("{:?}", m.role).to_lowercase())
                    }
                    Item::FunctionCall(f) => format!("call {}", f.call_id),
                    Item::FunctionCallOutput(o) => format!("output {}", o.call_id),
                };
                match previous_item_id {
                    Some(p) => format!("send create {what} after {p}"),
                    None => format!("send create {what}"),
                }
            }
            ClientEvent::ConversationItemTruncate {
                item_id,
                audio_end_ms,
                ..
            } => format!("send truncate {item_id} at {audio_end_ms}"),
            ClientEvent::ResponseCancel { response_id, .. } => {
                format!("send cancel {}", response_id.as_deref().unwrap_or("?"))
            }
            ClientEvent::ResponseCreate { .. } => "send response.create".into(),
            ClientEvent::ConversationItemRetrieve { item_id, .. } => {
                format!("send retrieve {item_id}")
            }
            other => format!("send {}", other.kind()),
        },
        Effect::Emit(ev) => match ev {
            ModelEvent::Raw(_) => return None,
            ModelEvent::FunctionCall { call_id, .. } => format!("call {call_id}"),
            ModelEvent::Audio { item_id, .. } => format!("audio {item_id}"),
            ModelEvent::AudioDone { item_id, .. } => format!("audio_done {item_id}"),
            ModelEvent::AudioInterrupted { item_id, .. } => format!("interrupted {item_id}"),
            ModelEvent::AudioDropped { item_id, bytes, .. } => {
                format!("dropped {item_id} {bytes}")
            }
            ModelEvent::TranscriptDelta { item_id, .. } => format!("transcript {item_id}"),
            ModelEvent::TurnStarted { response_id } => format!("turn {response_id}"),
            ModelEvent::TurnEnded {
                response_id,
                status,
                ..
            } => format!(
                "turn_end {response_id} {}",
                status.as_deref().unwrap_or("?")
            ),
            ModelEvent::Error { code, .. } => {
                format!("error {}", code.as_deref().unwrap_or("?"))
            }
            ModelEvent::ItemUpdated { item, .. } => {
                format!("item {}", item.id().unwrap_or("?"))
            }
            other => format!("{other:?}"),
        },
    })
}

/// A connected conversation whose opening `session.update` was taken.
fn connected(tracing: Option<Value>) -> Conversation {
    let settings = SessionConfig {
        kind: "realtime".into(),
        model: Some("gpt-realtime".into()),
        instructions: Some("Be brief.".into()),
        ..SessionConfig::default()
    };
    let mut c = Conversation::new(settings, tracing);
    c.on_connected();
    let opening: Vec<_> = std::iter::from_fn(|| c.poll_effect())
        .filter_map(|e| describe(&e))
        .collect();
    assert_eq!(opening, ["send session.update(Be brief.)"]);
    c
}

/// Feed `inputs` to `c`; every effect, in order.
fn feed(c: &mut Conversation, inputs: Vec<In>) -> Vec<Effect> {
    let mut out = Vec::new();
    for input in inputs {
        match input {
            In::Server(v) => {
                let (raw, ev) = parse_server_event(&v.to_string());
                c.on_server_event(raw, ev);
            }
            In::Cmd(cmd) => c.on_command(cmd),
            In::Down => c.on_disconnected(),
            In::Up => c.on_connected(),
        }
        out.extend(std::iter::from_fn(|| c.poll_effect()));
    }
    out
}

/// Feed `inputs` to a fresh connected conversation; the described effects.
fn run(inputs: Vec<In>) -> Vec<String> {
    let mut c = connected(Some(json!("auto")));
    feed(&mut c, inputs).iter().filter_map(describe).collect()
}

/// Only the effects that start with one of `prefixes`.
fn only(effects: Vec<String>, prefixes: &[&str]) -> Vec<String> {
    effects
        .into_iter()
        .filter(|e| prefixes.iter().any(|p| e.starts_with(p)))
        .collect()
}

/// A table row: its name, the inputs, which effects to keep (by prefix), and
/// the effects wanted.
type Row<'a> = (&'a str, Vec<In>, &'a [&'a str], Vec<&'a str>);

fn assert_rows(table: Vec<Row<'_>>) {
    for (name, inputs, prefixes, want) in table {
        let got = only(run(inputs), prefixes);
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn gating_never_overlaps_responses_and_collapses_held_requests() {
    let sends: &[&str] = &["send"];
    assert_rows(vec![
        (
            "a message while idle asks for one response",
            vec![text("hi")],
            sends,
            vec!["send create user hi", "send response.create"],
        ),
        (
            "a request during a response is held until it is done",
            vec![
                created("r1"),
                text("hi"),
                transcript("r1", "m1"),
                done("r1"),
            ],
            sends,
            vec!["send create user hi", "send response.create"],
        ),
        (
            "several held requests become one",
            vec![
                created("r1"),
                text("a"),
                tool_output("c1", true),
                In::Cmd(ModelCommand::Raw(Box::new(ClientEvent::ResponseCreate {
                    event_id: None,
                    response: None,
                }))),
                done("r1"),
            ],
            sends,
            vec![
                "send create user a",
                "send create output c1",
                "send response.create",
            ],
        ),
        (
            "a response asked for and not yet created holds the next request",
            vec![text("a"), text("b")],
            sends,
            vec![
                "send create user a",
                "send response.create",
                "send create user b",
            ],
        ),
        (
            "a tool output that does not start a response asks for none",
            vec![created("r1"), tool_output("c1", false), done("r1")],
            sends,
            vec!["send create output c1"],
        ),
    ]);
}

#[test]
fn gating_holds_on_a_recorded_tool_call_sequence() {
    // The reference's tool_calls exchange: each call is answered as soon as
    // it is dispatched, while its response still runs.
    let events = capture(TOOL_CALLS);
    let last_done = events
        .iter()
        .take(200)
        .rposition(|e| e["type"] == "response.done")
        .expect("a response.done");
    let mut c = connected(Some(json!("auto")));
    let mut server_response_active = false;
    let (mut calls, mut outputs, mut creates) = (Vec::new(), 0, 0);
    for ev in events.into_iter().take(last_done + 1) {
        match ev["type"].as_str() {
            Some("response.created") => server_response_active = true,
            Some("response.done") => server_response_active = false,
            _ => {}
        }
        for effect in feed(&mut c, vec![In::Server(ev)]) {
            match effect {
                Effect::Emit(ModelEvent::FunctionCall { call_id, .. }) => {
                    calls.push(call_id.clone());
                    for effect in feed(&mut c, vec![tool_output(&call_id, true)]) {
                        match effect {
                            Effect::Send(ClientEvent::ConversationItemCreate { .. }) => {
                                outputs += 1
                            }
                            Effect::Send(ClientEvent::ResponseCreate { .. }) => {
                                panic!("response.create sent while {call_id}'s response runs")
                            }
                            _ => {}
                        }
                    }
                }
                Effect::Send(ClientEvent::ResponseCreate { .. }) => {
                    assert!(!server_response_active, "response.create during a response");
                    creates += 1;
                }
                _ => {}
            }
        }
    }
    let n = calls.len();
    assert!(n >= 15, "{calls:?}");
    let distinct: HashSet<&String> = calls.iter().collect();
    assert_eq!(distinct.len(), n, "a call dispatched twice: {calls:?}");
    assert_eq!((outputs, creates), (n, n));
}

#[test]
fn an_error_to_our_own_response_create_opens_the_gate() {
    let sends: &[&str] = &["send response.create"];
    assert_rows(vec![
        (
            "refused before response.created: the next request goes out",
            vec![text("a"), error_for("agentd_response_create_1"), text("b")],
            sends,
            vec!["send response.create", "send response.create"],
        ),
        (
            "an error about another event keeps the gate closed",
            vec![text("a"), error_for("evt_7"), text("b")],
            sends,
            vec!["send response.create"],
        ),
        (
            "once the response exists the error does not end it",
            vec![
                text("a"),
                created("r1"),
                error_for("agentd_response_create_1"),
                text("b"),
            ],
            sends,
            vec!["send response.create"],
        ),
    ]);
    // The error still reaches the session.
    assert!(
        run(vec![error_for("agentd_response_create_1")])
            .contains(&"error conversation_already_has_active_response".to_string())
    );
}

#[test]
fn each_call_is_dispatched_once_whichever_done_event_comes_first() {
    let calls: &[&str] = &["call "];
    assert_rows(vec![
        (
            "arguments.done then output_item.done",
            vec![
                created("r1"),
                args_done("r1", "c1"),
                item_done("r1", call_item("c1", "completed")),
            ],
            calls,
            vec!["call c1"],
        ),
        (
            "output_item.done then arguments.done",
            vec![
                created("r1"),
                item_done("r1", call_item("c1", "completed")),
                args_done("r1", "c1"),
            ],
            calls,
            vec!["call c1"],
        ),
        (
            "an item not yet completed is not a call",
            vec![
                created("r1"),
                item_done("r1", call_item("c1", "in_progress")),
            ],
            calls,
            vec![],
        ),
        (
            "arguments.done without a name waits for the item",
            vec![
                created("r1"),
                srv(
                    json!({"type": "response.function_call_arguments.done", "response_id": "r1", "item_id": "fc_c1", "call_id": "c1", "arguments": "{}"}),
                ),
                item_done("r1", call_item("c1", "completed")),
            ],
            calls,
            vec!["call c1"],
        ),
        (
            "a call_id seen again later is not run again",
            vec![
                created("r1"),
                args_done("r1", "c1"),
                done("r1"),
                created("r2"),
                item_done("r2", call_item("c1", "completed")),
                args_done("r2", "c2"),
            ],
            calls,
            vec!["call c1", "call c2"],
        ),
        (
            "the handoff capture: two calls, each announced twice",
            head(HANDOFF, 40),
            calls,
            vec!["call call_h1", "call call_h2"],
        ),
    ]);
}

#[test]
fn an_interrupt_truncates_at_the_reported_position_or_the_audio_delivered() {
    let cuts: &[&str] = &["send truncate", "send cancel", "interrupted"];
    let three = || {
        vec![
            created("r1"),
            audio("r1", "m1"),
            audio("r1", "m1"),
            audio("r1", "m1"),
        ]
    };
    let with = |mut first: Vec<In>, rest: Vec<In>| {
        first.extend(rest);
        first
    };
    // The guardrail capture streams 50 ms chunks; cut after the first 30.
    let guardrail_prefix = {
        let events = capture(GUARDRAIL);
        let at = events
            .iter()
            .enumerate()
            .filter(|(_, e)| e["type"] == "response.output_audio.delta")
            .nth(29)
            .map(|(i, _)| i)
            .expect("30 audio deltas");
        events.into_iter().take(at + 1).map(In::Server).collect()
    };
    assert_rows(vec![
        (
            "no report: what was delivered",
            with(three(), vec![interrupt(true)]),
            cuts,
            vec![
                "interrupted m1",
                "send truncate m1 at 300",
                "send cancel r1",
            ],
        ),
        (
            "a report: where the listener is",
            with(three(), vec![played("m1", 120), interrupt(true)]),
            cuts,
            vec![
                "interrupted m1",
                "send truncate m1 at 120",
                "send cancel r1",
            ],
        ),
        (
            "a report beyond the audio delivered is capped",
            with(three(), vec![played("m1", 5_000), interrupt(true)]),
            cuts,
            vec![
                "interrupted m1",
                "send truncate m1 at 300",
                "send cancel r1",
            ],
        ),
        (
            "a report about another item does not count",
            with(three(), vec![played("m0", 50), interrupt(true)]),
            cuts,
            vec![
                "interrupted m1",
                "send truncate m1 at 300",
                "send cancel r1",
            ],
        ),
        (
            "the server's turn detection: truncate, and the server cancels itself",
            with(three(), vec![speech_started()]),
            cuts,
            vec!["interrupted m1", "send truncate m1 at 300"],
        ),
        (
            "after the response ended, a report says it is still playing",
            with(
                three(),
                vec![
                    audio_done("r1", "m1"),
                    done("r1"),
                    played("m1", 150),
                    speech_started(),
                ],
            ),
            cuts,
            vec!["interrupted m1", "send truncate m1 at 150"],
        ),
        (
            "after the response ended, fully played: nothing to cut",
            with(
                three(),
                vec![done("r1"), played("m1", 300), interrupt(true)],
            ),
            cuts,
            vec![],
        ),
        (
            "after the response ended, no report: nothing is known to be playing",
            with(three(), vec![done("r1"), speech_started()]),
            cuts,
            vec![],
        ),
        (
            "G.711 output is 8 bytes a millisecond",
            with(
                vec![srv(
                    json!({"type": "session.created", "session": {"audio": {"output": {"format": {"type": "audio/pcmu"}}}}}),
                )],
                with(three(), vec![interrupt(false)]),
            ),
            cuts,
            vec!["interrupted m1", "send truncate m1 at 1800"],
        ),
        (
            "the guardrail capture: 30 chunks of 50 ms",
            with(guardrail_prefix, vec![interrupt(true)]),
            cuts,
            vec![
                "interrupted item_g1",
                "send truncate item_g1 at 1500",
                "send cancel resp_g1",
            ],
        ),
    ]);
}

#[test]
fn late_audio_of_an_interrupted_response_is_dropped_whole_and_counted() {
    // The guardrail capture, interrupted after 30 chunks; the server keeps
    // streaming the cancelled response, then ends it and answers anew.
    let events = capture(GUARDRAIL);
    let cut_at = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e["type"] == "response.output_audio.delta")
        .nth(29)
        .map(|(i, _)| i)
        .expect("30 audio deltas");
    let late_chunks = events[cut_at + 1..]
        .iter()
        .filter(|e| e["type"] == "response.output_audio.delta" && e["response_id"] == "resp_g1")
        .count();
    assert!(late_chunks > 10, "{late_chunks}");
    let mut c = connected(Some(json!("auto")));
    let mut inputs: Vec<In> = events
        .iter()
        .take(cut_at + 1)
        .cloned()
        .map(In::Server)
        .collect();
    inputs.push(interrupt(true));
    feed(&mut c, inputs);
    let after: Vec<String> = feed(
        &mut c,
        events[cut_at + 1..]
            .iter()
            .cloned()
            .map(In::Server)
            .collect(),
    )
    .iter()
    .filter_map(describe)
    .collect();

    let of = |prefix: &str| after.iter().filter(|e| e.starts_with(prefix)).count();
    assert_eq!(of("audio item_g1"), 0, "late audio delivered: {after:?}");
    assert_eq!(of("audio_done item_g1"), 0, "{after:?}");
    assert_eq!(of("dropped item_g1 2400"), late_chunks, "{after:?}");
    assert!(of("transcript item_g1") > 0, "the transcript still streams");
    // The next response plays normally, to its end.
    assert_eq!(of("audio item_g2"), 3, "{after:?}");
    assert_eq!(of("audio_done item_g2"), 1, "{after:?}");

    // Inline: an interrupt while nothing of the response was heard yet
    // still mutes what comes.
    assert_rows(vec![(
        "cancelled before its first chunk",
        vec![
            created("r1"),
            interrupt(true),
            audio("r1", "m1"),
            audio_done("r1", "m1"),
            done("r1"),
            created("r2"),
            audio("r2", "m2"),
        ],
        &["audio", "dropped", "send cancel"],
        vec!["send cancel r1", "dropped m1 4800", "audio m2"],
    )]);
}

#[test]
fn a_new_connection_gets_settings_history_outbox_then_the_lost_response() {
    let after_reconnect: &[&str] = &["send", "interrupted", "turn_end"];
    let call_done = |c: &str| item_done("r1", call_item(c, "completed"));
    assert_rows(vec![
        (
            "a response lost mid-stream is asked again",
            vec![
                text("hi"),
                user_confirmed("u1"),
                created("r1"),
                audio("r1", "m1"),
                In::Down,
                In::Up,
            ],
            after_reconnect,
            vec![
                "send create user hi",
                "send response.create",
                "interrupted m1",
                "turn_end r1 incomplete",
                "send session.update(Be brief.)",
                "send create user hi",
                "send response.create",
            ],
        ),
        (
            "a response that called a tool is not asked again: its output asks",
            vec![
                text("add"),
                user_confirmed("u1"),
                created("r1"),
                call_done("c1"),
                In::Down,
                In::Up,
                tool_output("c1", true),
            ],
            after_reconnect,
            vec![
                "send create user add",
                "send response.create",
                "turn_end r1 incomplete",
                "send session.update(Be brief.)",
                "send create user hi",
                "send create call c1 after u1",
                "send create output c1",
                "send response.create",
            ],
        ),
        (
            "a tool output produced while down is sent once after the reconnect",
            vec![
                text("add"),
                user_confirmed("u1"),
                created("r1"),
                call_done("c1"),
                In::Down,
                tool_output("c1", true),
                In::Up,
            ],
            after_reconnect,
            vec![
                "send create user add",
                "send response.create",
                "turn_end r1 incomplete",
                "send session.update(Be brief.)",
                "send create user hi",
                "send create call c1 after u1",
                "send create output c1",
                "send response.create",
            ],
        ),
        (
            "a response asked for and never created is asked again",
            vec![text("hi"), In::Down, In::Up],
            after_reconnect,
            vec![
                "send create user hi",
                "send response.create",
                "send session.update(Be brief.)",
                "send create user hi",
                "send response.create",
            ],
        ),
        (
            "a finished exchange is replayed, audio as its transcript, nothing asked",
            vec![
                text("hi"),
                user_confirmed("u1"),
                created("r1"),
                srv(
                    json!({"type": "conversation.item.done", "previous_item_id": "u1", "item": {"id": "a1", "type": "message", "role": "assistant", "status": "completed", "content": [{"type": "output_audio", "transcript": "hello"}]}}),
                ),
                done("r1"),
                In::Down,
                In::Up,
            ],
            &["send session.update", "send create", "send response.create"],
            vec![
                "send create user hi",
                "send response.create",
                "send session.update(Be brief.)",
                "send create user hi",
                "send create assistant hello after u1",
            ],
        ),
        (
            "a deleted item is not given back",
            vec![
                text("hi"),
                user_confirmed("u1"),
                srv(json!({"type": "conversation.item.deleted", "item_id": "u1"})),
                In::Down,
                In::Up,
            ],
            &["send session.update", "send create"],
            vec!["send create user hi", "send session.update(Be brief.)"],
        ),
        (
            "settings changed while down are the ones sent",
            vec![
                In::Down,
                In::Cmd(ModelCommand::UpdateSession(Box::new(SessionConfig {
                    instructions: Some("Billing.".into()),
                    ..SessionConfig::default()
                }))),
                In::Up,
            ],
            &["send"],
            vec!["send session.update(Billing.)"],
        ),
        (
            "nothing is sent while down; input audio is not kept",
            vec![
                In::Down,
                In::Cmd(ModelCommand::Audio {
                    audio: "AAAA".into(),
                    commit: true,
                }),
                interrupt(true),
                In::Up,
            ],
            &["send"],
            vec!["send session.update(Be brief.)"],
        ),
    ]);
}

#[test]
fn an_unconfirmed_item_is_replayed_on_every_new_connection_until_confirmed() {
    let mut c = connected(None);
    let sent = |effects: Vec<Effect>| -> Vec<String> {
        only(
            effects.iter().filter_map(describe).collect(),
            &["send create"],
        )
    };
    feed(&mut c, vec![In::Down, tool_output("c1", false)]);
    assert_eq!(sent(feed(&mut c, vec![In::Up])), ["send create output c1"]);
    // The second server never confirmed it either: it comes back once more.
    assert_eq!(
        sent(feed(&mut c, vec![In::Down, In::Up])),
        ["send create output c1"]
    );
    // Confirmed now: it is replayed as history, not from the outbox, and only once.
    let confirmed = srv(
        json!({"type": "conversation.item.done", "previous_item_id": null, "item": {"id": "o1", "type": "function_call_output", "call_id": "c1", "output": "5"}}),
    );
    feed(&mut c, vec![confirmed]);
    assert_eq!(
        sent(feed(&mut c, vec![In::Down, In::Up])),
        ["send create output c1"]
    );
}

#[test]
fn session_created_is_answered_with_a_tracing_update_of_its_own() {
    let created_ev =
        || srv(json!({"type": "session.created", "session": {"type": "realtime", "id": "sess_1"}}));
    let updated_ev = || srv(json!({"type": "session.updated", "session": {"type": "realtime"}}));
    for (name, tracing, inputs, want) in [
        (
            "each session.created, once",
            Some(json!("auto")),
            vec![created_ev(), updated_ev(), In::Down, In::Up, created_ev()],
            vec![
                "send session.update(tracing)",
                "send session.update(Be brief.)",
                "send session.update(tracing)",
            ],
        ),
        (
            "tracing off sends nothing",
            None,
            vec![created_ev(), updated_ev()],
            vec![],
        ),
    ] {
        let mut c = connected(tracing);
        let got = only(
            feed(&mut c, inputs).iter().filter_map(describe).collect(),
            &["send session.update"],
        );
        assert_eq!(got, want, "{name}");
    }
    // The tracing update carries the model and nothing of the agent's settings.
    let mut c = connected(Some(json!("auto")));
    let effects = feed(&mut c, vec![created_ev()]);
    let update = effects.iter().find_map(|e| match e {
        Effect::Send(ClientEvent::SessionUpdate { session, .. }) => Some(session.clone()),
        _ => None,
    });
    assert_eq!(
        update,
        Some(SessionConfig {
            kind: "realtime".into(),
            model: Some("gpt-realtime".into()),
            tracing: Some(json!("auto")),
            ..SessionConfig::default()
        })
    );
}

#[test]
fn every_server_event_reaches_the_session_raw_before_anything_derived() {
    let mut c = connected(Some(json!("auto")));
    for ev in capture(HANDOFF) {
        let effects = feed(&mut c, vec![In::Server(ev.clone())]);
        match effects.first() {
            Some(Effect::Emit(ModelEvent::Raw(raw))) => assert_eq!(raw.value(), ev),
            other => panic!("first effect of {} is {other:?}", ev["type"]),
        }
    }
    // A malformed event is surfaced as an error; an unknown one is only raw.
    let got = run(vec![
        srv(json!({"type": "response.done", "response": 7})),
        srv(json!({"type": "output_audio_buffer.started", "response_id": "r"})),
    ]);
    assert_eq!(got, ["error invalid_server_event"]);
}

/// Feed `inputs` to a connected conversation driving a sideband of `media`.
fn run_on(media: Media, inputs: Vec<In>) -> Vec<String> {
    let mut c = connected(None).with_media(media);
    feed(&mut c, inputs).iter().filter_map(describe).collect()
}

#[test]
fn a_sideband_sends_no_audio_and_leaves_barge_in_to_the_provider() {
    let created = || {
        srv(
            json!({"type": "response.created", "response": {"id": "r1", "status": "in_progress", "output": []}}),
        )
    };
    let cuts: &[&str] = &[
        "send truncate",
        "send cancel",
        "send output_audio_buffer.clear",
        "send input_audio",
        "interrupted",
    ];
    let interrupt = || In::Cmd(ModelCommand::Interrupt { force_cancel: true });
    let input = || {
        In::Cmd(ModelCommand::Audio {
            audio: "AAAA".into(),
            commit: true,
        })
    };
    // The control API's sessions: truncate at the audio delivered, cancel.
    assert_eq!(
        only(
            run_on(
                Media::Socket,
                vec![created(), audio("r1", "m1"), interrupt(), input()]
            ),
            cuts
        ),
        [
            "interrupted m1",
            "send truncate m1 at 100",
            "send cancel r1",
            "send input_audio_buffer.append",
            "send input_audio_buffer.commit"
        ]
    );
    // SIP: no truncation by agentd's count, no input audio; a cancel only.
    assert_eq!(
        only(
            run_on(
                Media::Sip,
                vec![
                    created(),
                    audio("r1", "m1"),
                    speech_started(),
                    interrupt(),
                    input()
                ]
            ),
            cuts
        ),
        ["send cancel r1"]
    );
    // WebRTC: the cancel and the server's output buffer cleared.
    assert_eq!(
        only(
            run_on(
                Media::WebRtc,
                vec![created(), audio("r1", "m1"), interrupt()]
            ),
            cuts
        ),
        ["send cancel r1", "send output_audio_buffer.clear"]
    );
    // DTMF digits become events.
    let got = run_on(
        Media::Sip,
        vec![srv(
            json!({"type": "input_audio_buffer.dtmf_event_received", "event": "7", "received_at": 1}),
        )],
    );
    assert!(
        got.iter()
            .any(|e| e.contains("Dtmf") && e.contains("\"7\"")),
        "{got:?}"
    );
}
