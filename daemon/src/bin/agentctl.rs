//! `agentctl`: the operator's client for a running agentd.
//!
//! It finds the daemon from `--socket`, else `AGENTD_SOCKET`, else the same
//! default path agentd uses. `--json` prints the API's JSON as is, for scripts.

use std::path::PathBuf;
use std::process::ExitCode;

use agentd::control::api;
use agentd::control::client::{Client, ClientError};
use clap::{Parser, Subcommand};
use hyper::Method;
use serde_json::Value;

#[derive(Parser)]
#[command(name = "agentctl", version, about = "Control a running agentd")]
struct Args {
    /// Control socket of the daemon
    #[arg(long, env = "AGENTD_SOCKET", global = true)]
    socket: Option<PathBuf>,
    /// Print JSON instead of text
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Show the daemon, its agents and its plugins
    Status,
    /// List plugins: path, hash, loaded since, exports, last error
    Plugins,
    /// Re-read agents.toml and the plugins now (like SIGHUP); prints what changed
    Reload,
    /// List agents with their tools
    Agents,
    /// List sessions
    Sessions,
    /// Start, show or close a session
    #[command(subcommand)]
    Session(SessionCmd),
    /// Send a user text message to a session
    Send { session: String, text: String },
    /// Interrupt the model's current response
    Interrupt { session: String },
    /// Print a session's events
    Events {
        session: String,
        /// Keep printing new events until the session ends
        #[arg(long, short)]
        follow: bool,
        /// Start at this sequence number
        #[arg(long, default_value_t = 0)]
        since: u64,
        /// Include raw model events and audio chunks in text output
        #[arg(long)]
        raw: bool,
    },
    /// Watch a session live and talk to it: lines typed are sent as user messages;
    /// `/approve CALL_ID`, `/reject CALL_ID` (add `always`), `/interrupt`, `/quit`
    Attach {
        session: String,
        /// Include raw model events and audio chunks
        #[arg(long)]
        raw: bool,
    },
    /// Print a session's conversation history
    History { session: String },
    /// Run tools directly, without a model
    #[command(subcommand)]
    Tool(ToolCmd),
    /// Tool calls from the journal, newest first: decision, approvals, outcome
    Audit {
        /// Only this session's calls
        #[arg(long)]
        session: Option<String>,
        /// At most this many calls
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Approve a tool call waiting for approval
    Approve {
        call_id: String,
        /// Also approve later calls of the same tool in this session
        #[arg(long)]
        always: bool,
        /// The session holding the call (found automatically when omitted)
        #[arg(long)]
        session: Option<String>,
    },
    /// Reject a tool call waiting for approval
    Reject {
        call_id: String,
        /// Also reject later calls of the same tool in this session
        #[arg(long)]
        always: bool,
        /// The session holding the call (found automatically when omitted)
        #[arg(long)]
        session: Option<String>,
    },
}

#[derive(Subcommand)]
enum ToolCmd {
    /// Call `plugin.tool` with JSON arguments in its sandbox and print the output
    Call {
        /// `plugin.tool`, as in agents.toml
        tool: String,
        /// The arguments as JSON
        #[arg(default_value = "{}")]
        arguments: String,
    },
}

#[derive(Subcommand)]
enum SessionCmd {
    /// Start a session and print its id
    Start {
        /// Agent to start with [default: the config's default agent]
        agent: Option<String>,
    },
    /// Show one session
    Show { session: String },
    /// Close a session
    Close { session: String },
    /// Switch a live session to another agent
    Agent { session: String, agent: String },
}

fn print_json(v: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

/// One event as a line of text.
fn event_line(ev: &Value) -> String {
    let s = |k: &str| ev.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let seq = ev.get("seq").and_then(Value::as_u64).unwrap_or(0);
    let kind = s("type");
    let detail = match kind.as_str() {
        "agent_start" | "agent_end" => s("agent"),
        "handoff" => format!("{} -> {}", s("from"), s("to")),
        "tool_start" | "tool_approval_required" => {
            format!(
                "{} call_id={} args={}",
                s("tool"),
                s("call_id"),
                short(&s("arguments"), 200)
            )
        }
        "tool_end" => format!(
            "{} call_id={} {} output={}",
            s("tool"),
            s("call_id"),
            s("outcome"),
            short(&s("output"), 200)
        ),
        "audio" => {
            let bytes = s("audio").len() / 4 * 3;
            format!("item={} {bytes} bytes", s("item_id"))
        }
        "audio_end" | "audio_interrupted" => format!("item={}", s("item_id")),
        "transcript_delta" => format!("item={} {:?}", s("item_id"), s("delta")),
        "history_added" | "history_updated" => {
            let item = ev.get("item").cloned().unwrap_or_default();
            format!(
                "{} {} (history: {})",
                item.get("type").and_then(Value::as_str).unwrap_or(""),
                item.get("id").and_then(Value::as_str).unwrap_or(""),
                ev.get("history_len").and_then(Value::as_u64).unwrap_or(0)
            )
        }
        "guardrail_tripped" => format!(
            "{} {} text={:?}",
            s("direction"),
            ev.get("guardrails")
                .map(Value::to_string)
                .unwrap_or_default(),
            short(&s("message"), 120)
        ),
        "error" => format!("{} {}", s("code"), s("message")),
        "raw_model_event" => ev
            .pointer("/data/type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        "session_closed" => s("reason"),
        "events_lost" => format!(
            "events {}..{} are no longer kept",
            ev.get("first").and_then(Value::as_u64).unwrap_or(0),
            ev.get("last").and_then(Value::as_u64).unwrap_or(0)
        ),
        "connection_status" => {
            let mut d = s("status");
            if let Some(n) = ev.get("attempt").and_then(Value::as_u64) {
                d.push_str(&format!(" attempt={n}"));
            }
            if let Some(r) = ev.get("reason").and_then(Value::as_str) {
                d.push_str(&format!(" ({r})"));
            }
            d
        }
        _ => String::new(),
    };
    format!("#{seq:<5} {kind:<24} {detail}")
}

async fn run(args: Args) -> Result<(), ClientError> {
    let socket = args
        .socket
        .unwrap_or_else(agentd::config::default_socket_path);
    let c = Client::new(&socket);
    let json = args.json;
    match args.command {
        Cmd::Status => {
            let st: api::Status = c.get("/v1/status").await?;
            if json {
                print_json(&st);
                return Ok(());
            }
            println!("agentd {} (pid {})", st.version, st.pid);
            println!("config:   {}", st.config);
            println!("socket:   {}", st.socket);
            println!("sessions: {} live", st.sessions);
            println!("agents:");
            for a in &st.agents {
                let tools: Vec<String> = a.tools.iter().map(|t| t.tool.clone()).collect();
                println!(
                    "  {} (model {}): tools [{}]",
                    a.name,
                    a.model,
                    tools.join(", ")
                );
                if !a.handoffs.is_empty() {
                    println!("    handoffs: {}", a.handoffs.join(", "));
                }
                if !a.guardrails.is_empty() {
                    println!("    guardrails: {}", a.guardrails.join(", "));
                }
            }
            println!("plugins:");
            print_plugins(&st.plugins);
        }
        Cmd::Plugins => {
            let ps: Vec<api::PluginSummary> = c.get("/v1/plugins").await?;
            if json {
                print_json(&ps);
            } else {
                print_plugins(&ps);
            }
        }
        Cmd::Reload => {
            let r: api::ReloadReport = c.post("/v1/reload", &serde_json::json!({})).await?;
            if json {
                print_json(&r);
            } else {
                print_reload(&r);
            }
        }
        Cmd::Agents => {
            let agents: Vec<api::AgentSummary> = c.get("/v1/agents").await?;
            if json {
                print_json(&agents);
            } else {
                for a in agents {
                    println!("{} (model {})", a.name, a.model);
                    for t in a.tools {
                        println!("  {} -> {}", t.function, t.tool);
                    }
                }
            }
        }
        Cmd::Sessions => {
            let sessions: Vec<api::SessionSummary> = c.get("/v1/sessions").await?;
            if json {
                print_json(&sessions);
            } else {
                for s in sessions {
                    let agent = s.status.as_ref().map_or("-", |st| st.agent.as_str());
                    let pending = s
                        .status
                        .as_ref()
                        .map_or(0, |st| st.pending_approvals.len());
                    let state = if s.closed { "closed" } else { "live" };
                    println!(
                        "{}  {state:<6} agent={agent} pending_approvals={pending}",
                        s.id
                    );
                }
            }
        }
        Cmd::Session(SessionCmd::Start { agent }) => {
            let started: api::SessionStarted = c
                .post(
                    "/v1/sessions",
                    &api::StartSession {
                        agent,
                        settings: Default::default(),
                    },
                )
                .await?;
            if json {
                print_json(&started);
            } else {
                println!("{}", started.id);
            }
        }
        Cmd::Session(SessionCmd::Show { session }) => {
            let st: Value = c.get(&format!("/v1/sessions/{session}")).await?;
            print_json(&st);
        }
        Cmd::Session(SessionCmd::Close { session }) => {
            let _: Value = c
                .call(
                    Method::DELETE,
                    &format!("/v1/sessions/{session}"),
                    None::<&()>,
                )
                .await?;
            if !json {
                println!("closed {session}");
            }
        }
        Cmd::Session(SessionCmd::Agent { session, agent }) => {
            let _: Value = c
                .post(
                    &format!("/v1/sessions/{session}/agent"),
                    &api::SetAgent {
                        agent: agent.clone(),
                    },
                )
                .await?;
            if !json {
                println!("{session} now runs agent {agent}");
            }
        }
        Cmd::Send { session, text } => {
            let _: Value = c
                .post(
                    &format!("/v1/sessions/{session}/messages"),
                    &api::SendMessage {
                        text: Some(text),
                        content: None,
                    },
                )
                .await?;
        }
        Cmd::Interrupt { session } => {
            let _: Value = c
                .post(
                    &format!("/v1/sessions/{session}/interrupt"),
                    &serde_json::json!({}),
                )
                .await?;
        }
        Cmd::Events {
            session,
            follow,
            since,
            raw,
        } => {
            let path = format!(
                "/v1/sessions/{session}/events?since={since}{}",
                if follow { "&follow=1" } else { "" }
            );
            c.stream(&path, |ev: Value| {
                if json {
                    println!("{ev}");
                } else {
                    let kind = ev.get("type").and_then(Value::as_str).unwrap_or("");
                    if raw || !matches!(kind, "raw_model_event" | "audio") {
                        println!("{}", event_line(&ev));
                    }
                }
                true
            })
            .await?;
        }
        Cmd::Tool(ToolCmd::Call { tool, arguments }) => {
            let arguments: Value = serde_json::from_str(&arguments)
                .map_err(|e| ClientError::Decode(format!("arguments are not JSON: {e}")))?;
            let r: api::ToolCallResult = c
                .post(
                    &format!("/v1/tools/{tool}/call"),
                    &api::CallTool { arguments },
                )
                .await?;
            if json {
                print_json(&r);
            } else if r.ok {
                println!("{}", r.output);
            } else {
                return Err(ClientError::Tool(r.output));
            }
        }
        Cmd::Audit { session, limit } => {
            let mut path = format!("/v1/audit?limit={limit}");
            if let Some(s) = &session {
                path.push_str(&format!("&session={s}"));
            }
            let calls: Vec<Value> = c.get(&path).await?;
            if json {
                print_json(&calls);
            } else {
                for call in calls {
                    let s = |k: &str| {
                        call.get(k)
                            .and_then(Value::as_str)
                            .unwrap_or("-")
                            .to_string()
                    };
                    let approvals: Vec<String> = call
                        .get("approvals")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|a| {
                            let verb = if a["approved"] == true {
                                "approved"
                            } else {
                                "rejected"
                            };
                            let always = if a["always"] == true { " always" } else { "" };
                            format!("{verb}{always} by {}", a["reason"].as_str().unwrap_or("?"))
                        })
                        .collect();
                    println!(
                        "{} {} {} decision={} {} outcome={} output={}",
                        s("session"),
                        s("call_id"),
                        s("tool"),
                        s("decision"),
                        approvals.join(", "),
                        s("outcome"),
                        short(&s("output"), 80)
                    );
                }
            }
        }
        Cmd::Attach { session, raw } => attach(&c, &session, raw).await?,
        Cmd::History { session } => {
            let h: Value = c.get(&format!("/v1/sessions/{session}/history")).await?;
            print_json(&h);
        }
        Cmd::Approve {
            call_id,
            always,
            session,
        } => decide(&c, json, call_id, true, always, session).await?,
        Cmd::Reject {
            call_id,
            always,
            session,
        } => decide(&c, json, call_id, false, always, session).await?,
    }
    Ok(())
}

async fn decide(
    c: &Client,
    json: bool,
    call_id: String,
    approve: bool,
    always: bool,
    session: Option<String>,
) -> Result<(), ClientError> {
    let d: api::Decided = c
        .post(
            &format!("/v1/approvals/{call_id}"),
            &api::Decision {
                approve,
                always,
                session,
            },
        )
        .await?;
    if json {
        print_json(&d);
    } else {
        let verb = if d.approved { "approved" } else { "rejected" };
        println!("{verb} {} in session {}", d.call_id, d.session);
    }
    Ok(())
}

/// Follow a session's events while reading commands from stdin.
async fn attach(c: &Client, session: &str, raw: bool) -> Result<(), ClientError> {
    use tokio::io::AsyncBufReadExt;
    let mut watcher = {
        let c = c.clone();
        let path = format!("/v1/sessions/{session}/events?since=0&follow=1");
        tokio::spawn(async move {
            c.stream(&path, |ev: Value| {
                let kind = ev.get("type").and_then(Value::as_str).unwrap_or("");
                if raw || !matches!(kind, "raw_model_event" | "audio") {
                    println!("{}", event_line(&ev));
                }
                true
            })
            .await
        })
    };
    eprintln!("attached to {session}: type a message, or /approve, /reject, /interrupt, /quit");
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        let line = tokio::select! {
            line = lines.next_line() => line,
            ended = &mut watcher => {
                eprintln!("the session's event stream ended");
                return ended.unwrap_or_else(|e| Err(ClientError::Http(e.to_string())));
            }
        };
        let Ok(Some(line)) = line else {
            break; // end of input
        };
        let line = line.trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        let result = match words.as_slice() {
            [] => Ok(()),
            ["/quit"] => break,
            ["/interrupt"] => c
                .post::<Value>(
                    &format!("/v1/sessions/{session}/interrupt"),
                    &serde_json::json!({}),
                )
                .await
                .map(drop),
            [cmd @ ("/approve" | "/reject"), call_id, rest @ ..] => {
                let always = rest == ["always"];
                decide(
                    c,
                    false,
                    call_id.to_string(),
                    *cmd == "/approve",
                    always,
                    Some(session.to_string()),
                )
                .await
            }
            [cmd, ..] if cmd.starts_with('/') => {
                eprintln!(
                    "unknown command {cmd}: use /approve CALL_ID [always], /reject CALL_ID [always], /interrupt, /quit"
                );
                Ok(())
            }
            _ => c
                .post::<Value>(
                    &format!("/v1/sessions/{session}/messages"),
                    &api::SendMessage {
                        text: Some(line.to_string()),
                        content: None,
                    },
                )
                .await
                .map(drop),
        };
        if let Err(e) = result {
            eprintln!("agentctl: {e}");
        }
    }
    watcher.abort();
    Ok(())
}

fn print_plugins(ps: &[api::PluginSummary]) {
    for p in ps {
        let Some(hash) = &p.hash else {
            println!(
                "  {} ({}) FAILED: {}",
                p.name,
                p.path,
                p.error.as_deref().unwrap_or("?")
            );
            continue;
        };
        let tools: Vec<&str> = p.tools.iter().map(|t| t.name.as_str()).collect();
        let since = p
            .loaded_ms
            .map(|ms| format!(", since {}", agentd_api::format_time_ms(ms)))
            .unwrap_or_default();
        println!(
            "  {} ({}, hash {}{since}): tools [{}] guardrails [{}]",
            p.name,
            p.path,
            agentd::catalog::short_hash(hash),
            tools.join(", "),
            p.guardrails.join(", ")
        );
        if let Some(e) = &p.error {
            println!("    last error: {e}");
        }
    }
}

fn print_reload(r: &api::ReloadReport) {
    println!("reload {}", r.outcome);
    let lists = [
        ("agents added", &r.agents_added),
        ("agents changed", &r.agents_changed),
        ("agents removed", &r.agents_removed),
        ("plugins added", &r.plugins_added),
        ("plugins changed", &r.plugins_changed),
        ("plugins removed", &r.plugins_removed),
    ];
    for (what, names) in lists {
        if !names.is_empty() {
            println!("  {what}: {}", names.join(", "));
        }
    }
    for e in &r.plugins_failed {
        println!("  plugin error: {e}");
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("agentctl: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agentctl: {e}");
            ExitCode::FAILURE
        }
    }
}
