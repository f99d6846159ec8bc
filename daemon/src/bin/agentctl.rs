//! `agentctl`: the operator's client for a running agentd.
//!
//! It finds the daemon from `--socket`, else `AGENTD_SOCKET`, else the same
//! default path agentd uses. It speaks only through the `agentd-api` crate
//! (typed requests, replies and events), so it links none of the daemon's
//! engine. `--json` prints the API's JSON as the daemon wrote it, for scripts.

use std::path::PathBuf;
use std::process::ExitCode;

use agentd_api::client::{Client, ClientError, default_socket_path};
use agentd_api::events::{SessionEvent, StreamItem};
use agentd_api::query::{AuditQuery, EventsQuery};
use agentd_api::requests::{
    CallTool, Decision, Explain, Forget, Remember, SendMessage, SetAgent, StartSession,
};
use agentd_api::responses::{PluginSummary, ReloadReport};
use agentd_api::routes::RouteId;
use agentd_api::{AuditCall, format_time_ms};
use clap::{CommandFactory, Parser, Subcommand};

#[path = "../gen_docs.rs"]
mod gen_docs;
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
    /// Stop gracefully, as SIGTERM does: no new sessions or calls, live calls
    /// finish (up to `[daemon] drain_timeout`), then agentd exits
    Drain,
    /// Print the Prometheus metrics (`GET /metrics`)
    Metrics,
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
    /// Print a session's conversation history (from the journal once the
    /// daemon no longer holds the session, e.g. after a restart)
    History { session: String },
    /// Run tools directly, without a model
    #[command(subcommand)]
    Tool(ToolCmd),
    /// Tool calls from the journal, newest first: decision, approvals, outcome
    Audit {
        /// Only this session's calls
        #[arg(long)]
        session: Option<String>,
        /// Only calls of tools this pattern matches (`pay.*`, `*.read`)
        #[arg(long)]
        tool: Option<String>,
        /// Only calls since TIME: RFC 3339 (`2026-12-01T09:00:00Z`), ms since
        /// the epoch, or an age (`90s`, `15m`, `2h`, `7d`)
        #[arg(long)]
        since: Option<String>,
        /// At most this many calls
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Approve a tool call waiting for approval
    Approve {
        call_id: String,
        #[command(flatten)]
        how: DecideArgs,
    },
    /// Reject a tool call waiting for approval
    Reject {
        call_id: String,
        #[command(flatten)]
        how: DecideArgs,
    },
    /// List the calls waiting for approval, daemon-wide; or manage remembered answers
    Approvals {
        #[command(subcommand)]
        command: Option<ApprovalsCmd>,
    },
    /// Inspect approval policies
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Phone and browser calls: list, hang up, transfer, or ring an agent offline
    #[command(subcommand)]
    Call(CallCmd),
}

#[derive(Subcommand)]
enum CallCmd {
    /// List calls: channel, caller, callee, agent, session and how each ended
    List,
    /// Make the offline model ring this daemon's [sip] webhook, then play a
    /// caller whose words arrive as input transcripts (no phone, network or key)
    Simulate {
        /// The number called (matched against [sip] routes)
        #[arg(long)]
        to: String,
        /// The caller's number
        #[arg(long)]
        from: Option<String>,
        /// What the caller says, in order (repeatable); `dtmf 12#` presses keys
        #[arg(long)]
        say: Vec<String>,
    },
    /// Hang a call up
    Hangup { call_id: String },
    /// Transfer a call to a target in [sip] transfer_targets (`tel:+1…`, `sip:…`)
    Transfer { call_id: String, target: String },
}

#[derive(clap::Args)]
struct DecideArgs {
    /// Also give this answer to later calls of the same tool in this session
    #[arg(long)]
    always: bool,
    /// With --always: `agent` keeps the answer for the agent, in every session
    /// and across restarts, until forgotten or its approval policy changes
    #[arg(long, value_enum, requires = "always")]
    remember: Option<RememberArg>,
    /// Why, in your words; journaled with the decision
    #[arg(long)]
    reason: Option<String>,
    /// The session holding the call (found automatically when omitted)
    #[arg(long)]
    session: Option<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RememberArg {
    Session,
    Agent,
}

#[derive(Subcommand)]
enum ApprovalsCmd {
    /// List the answers remembered per agent
    Remembered,
    /// Drop the answers remembered for an agent (all its tools, or one)
    Forget {
        agent: String,
        /// Only this tool's (`plugin.tool`)
        #[arg(long)]
        tool: Option<String>,
    },
}

#[derive(Subcommand)]
enum PolicyCmd {
    /// Say what would happen to a call, and which rule decides, without running it
    Explain {
        agent: String,
        /// `plugin.tool` (or the name the model sees)
        tool: String,
        /// The arguments as JSON
        #[arg(default_value = "{}")]
        arguments: String,
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

/// `v` as pretty JSON on stdout.
fn print_json(v: &impl serde::Serialize) -> Result<(), ClientError> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| ClientError::Decode(format!("cannot print the reply as JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// One stream line as JSON on stdout, as the daemon wrote it.
fn print_json_line(item: &StreamItem) {
    match serde_json::to_string(item) {
        Ok(line) => println!("{line}"),
        Err(e) => eprintln!("agentctl: cannot print a {} line as JSON: {e}", item.kind()),
    }
}

fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

/// Whether text output shows `item`: raw model events and audio chunks only with `--raw`.
fn shown(item: &StreamItem, raw: bool) -> bool {
    raw || !matches!(item.kind(), "raw_model_event" | "audio")
}

/// One stream line as a line of text.
fn event_line(item: &StreamItem) -> String {
    let (seq, detail) = match item {
        StreamItem::Event(env) => (env.seq, event_detail(&env.event)),
        StreamItem::Lost(lost) => (
            0,
            format!("events {}..{} are no longer kept", lost.first, lost.last),
        ),
    };
    let kind = item.kind();
    format!("#{seq:<5} {kind:<24} {detail}")
}

async fn call_command(c: &Client, cmd: CallCmd, json: bool) -> Result<(), ClientError> {
    let show = |v: &Value| {
        let f = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
        format!(
            "{}  {:<6} from={} to={} agent={} session={} {}",
            f("call_id"),
            f("channel"),
            f("caller"),
            f("callee"),
            f("agent"),
            f("session"),
            f("outcome")
        )
    };
    let v: Value = match cmd {
        CallCmd::List => {
            let calls: Vec<Value> = c.get(&RouteId::ListCalls.path(&[])).await?;
            if json {
                return print_json(&calls);
            }
            for call in &calls {
                println!("{}", show(call));
            }
            return Ok(());
        }
        CallCmd::Simulate { to, from, say } => {
            let v: Value = c
                .post(
                    &RouteId::SimulateCall.path(&[]),
                    &agentd_api::requests::Simulate {
                        to: to.clone(),
                        from,
                        say,
                        deliver: true,
                    },
                )
                .await?;
            if json {
                return print_json(&v);
            }
            println!(
                "rang {to}: call {} (webhook answered {})",
                v["call_id"].as_str().unwrap_or("?"),
                v["webhook_status"]
            );
            match v.get("call") {
                Some(call) => println!("{}", show(call)),
                None => println!("no session attached yet: see `agentctl call list`"),
            }
            return Ok(());
        }
        CallCmd::Hangup { call_id } => {
            c.post(&RouteId::HangUp.path(&[&call_id]), &serde_json::json!({}))
                .await?
        }
        CallCmd::Transfer { call_id, target } => {
            c.post(
                &RouteId::Transfer.path(&[&call_id]),
                &agentd_api::requests::Transfer { target_uri: target },
            )
            .await?
        }
    };
    if json {
        return print_json(&v);
    }
    println!("{}", show(&v));
    Ok(())
}

fn event_detail(ev: &SessionEvent) -> String {
    match ev {
        SessionEvent::Dtmf { digit, .. } => digit.clone(),
        SessionEvent::AgentStart { agent } | SessionEvent::AgentEnd { agent } => agent.clone(),
        SessionEvent::Handoff { from, to } => format!("{from} -> {to}"),
        SessionEvent::ToolStart {
            tool,
            call_id,
            arguments,
            ..
        }
        | SessionEvent::ToolApprovalRequired {
            tool,
            call_id,
            arguments,
            ..
        } => format!("{tool} call_id={call_id} args={}", short(arguments, 200)),
        SessionEvent::ToolEnd {
            tool,
            call_id,
            output,
            outcome,
            ..
        } => format!(
            "{tool} call_id={call_id} {} output={}",
            outcome.as_str(),
            short(output, 200)
        ),
        SessionEvent::Audio { item_id, audio, .. } => {
            let bytes = audio.len() / 4 * 3;
            format!("item={item_id} {bytes} bytes")
        }
        SessionEvent::AudioEnd { item_id, .. } | SessionEvent::AudioInterrupted { item_id, .. } => {
            format!("item={item_id}")
        }
        SessionEvent::TranscriptDelta { item_id, delta, .. } => {
            format!("item={item_id} {delta:?}")
        }
        SessionEvent::HistoryAdded { item, history_len }
        | SessionEvent::HistoryUpdated { item, history_len } => {
            let field = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or("");
            format!("{} {} (history: {history_len})", field("type"), field("id"))
        }
        SessionEvent::GuardrailTripped {
            direction,
            guardrails,
            message,
        } => format!(
            "{} {} text={:?}",
            direction.as_str(),
            Value::from(guardrails.clone()),
            short(message, 120)
        ),
        SessionEvent::Error { code, message } => {
            format!("{} {message}", code.as_deref().unwrap_or(""))
        }
        SessionEvent::RawModelEvent { data } => data
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        SessionEvent::SessionClosed { reason } => reason.clone(),
        SessionEvent::ConnectionStatus {
            status,
            attempt,
            reason,
        } => {
            let mut d = status.clone();
            if let Some(n) = attempt {
                d.push_str(&format!(" attempt={n}"));
            }
            if let Some(r) = reason {
                d.push_str(&format!(" ({r})"));
            }
            d
        }
        SessionEvent::HistoryDeleted { .. } | SessionEvent::InputAudioTimeoutTriggered => {
            String::new()
        }
    }
}

/// One journal row as a line of text.
fn audit_line(call: &AuditCall) -> String {
    let approvals: Vec<String> = call
        .approvals
        .iter()
        .map(|a| {
            let verb = if a.approved { "approved" } else { "rejected" };
            let always = if a.always { " always" } else { "" };
            let reason = a
                .reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            let latency = a
                .latency_ms
                .map(|l| format!(" after {l}ms"))
                .unwrap_or_default();
            format!("{verb}{always} by {}{reason}{latency}", a.decided_by)
        })
        .collect();
    format!(
        "{} {} {} decision={} {} outcome={} output={}",
        call.session,
        call.call_id,
        call.tool,
        call.decision,
        approvals.join(", "),
        call.outcome.as_deref().unwrap_or("-"),
        short(call.output.as_deref().unwrap_or("-"), 80)
    )
}

async fn run(args: Args) -> Result<(), ClientError> {
    let socket = args.socket.unwrap_or_else(default_socket_path);
    let c = Client::new(&socket);
    let json = args.json;
    match args.command {
        Cmd::Status => {
            let st = c.status().await?;
            if json {
                return print_json(&st);
            }
            println!("agentd {} (pid {})", st.version, st.pid);
            println!("config:   {}", st.config);
            println!("socket:   {}", st.socket);
            println!(
                "sessions: {} live{}",
                st.sessions,
                if st.draining { " (draining)" } else { "" }
            );
            println!("agents:");
            for a in &st.agents {
                let tools: Vec<&str> = a.tools.iter().map(|t| t.tool.as_str()).collect();
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
            let ps = c.plugins().await?;
            if json {
                return print_json(&ps);
            }
            print_plugins(&ps);
        }
        Cmd::Reload => {
            let r = c.reload().await?;
            if json {
                return print_json(&r);
            }
            print_reload(&r);
        }
        Cmd::Drain => {
            let d = c.drain().await?;
            if json {
                return print_json(&d);
            }
            println!(
                "draining: {} live session{}; agentd stops once they end (at most {} s)",
                d.sessions,
                if d.sessions == 1 { "" } else { "s" },
                d.timeout_s
            );
        }
        Cmd::Metrics => print!("{}", c.metrics().await?),
        Cmd::Agents => {
            let agents = c.agents().await?;
            if json {
                return print_json(&agents);
            }
            for a in agents {
                println!("{} (model {})", a.name, a.model);
                for t in a.tools {
                    println!("  {} -> {}", t.function, t.tool);
                }
            }
        }
        Cmd::Sessions => {
            let sessions = c.sessions().await?;
            if json {
                return print_json(&sessions);
            }
            for s in sessions {
                let agent = s.status.as_ref().map_or("-", |st| st.agent.as_str());
                let pending = s.status.as_ref().map_or(0, |st| st.pending_approvals.len());
                let state = if s.closed { "closed" } else { "live" };
                println!(
                    "{}  {state:<6} agent={agent} pending_approvals={pending}",
                    s.id
                );
            }
        }
        Cmd::Session(SessionCmd::Start { agent }) => {
            let started = c
                .start_session(&StartSession {
                    agent,
                    settings: Default::default(),
                })
                .await?;
            if json {
                return print_json(&started);
            }
            println!("{}", started.id);
        }
        Cmd::Session(SessionCmd::Show { session }) => {
            print_json(&c.session(&session).await?)?;
        }
        Cmd::Session(SessionCmd::Close { session }) => {
            c.close_session(&session).await?;
            if !json {
                println!("closed {session}");
            }
        }
        Cmd::Session(SessionCmd::Agent { session, agent }) => {
            c.set_agent(
                &session,
                &SetAgent {
                    agent: agent.clone(),
                },
            )
            .await?;
            if !json {
                println!("{session} now runs agent {agent}");
            }
        }
        Cmd::Send { session, text } => {
            c.send_message(&session, &SendMessage::text(text)).await?;
        }
        Cmd::Interrupt { session } => {
            c.interrupt(&session).await?;
        }
        Cmd::Events {
            session,
            follow,
            since,
            raw,
        } => {
            c.events(&session, &EventsQuery { since, follow }, |item| {
                if json {
                    print_json_line(&item);
                } else if shown(&item, raw) {
                    println!("{}", event_line(&item));
                }
                true
            })
            .await?;
        }
        Cmd::Tool(ToolCmd::Call { tool, arguments }) => {
            let arguments: Value = serde_json::from_str(&arguments)
                .map_err(|e| ClientError::Decode(format!("arguments are not JSON: {e}")))?;
            let r = c.call_tool(&tool, &CallTool { arguments }).await?;
            if json {
                return print_json(&r);
            }
            if !r.ok {
                return Err(ClientError::Tool(r.output));
            }
            println!("{}", r.output);
        }
        Cmd::Audit {
            session,
            tool,
            since,
            limit,
        } => {
            let since = match since {
                Some(t) => Some(parse_since(&t, now_ms()).map_err(ClientError::Decode)?),
                None => None,
            };
            let query = AuditQuery {
                session,
                tool,
                since,
                limit: Some(limit),
            };
            let calls = c.audit(&query).await?;
            if json {
                return print_json(&calls);
            }
            for call in &calls {
                println!("{}", audit_line(call));
            }
        }
        Cmd::Attach { session, raw } => attach(&c, &session, raw).await?,
        Cmd::History { session } => match c.history(&session).await {
            Ok(items) => print_json(&items)?,
            // Ended, or not held by the daemon any more (a restart): the
            // journal has the conversation's final form.
            Err(ClientError::Api { status, code, .. })
                if status == 404 || code == "session_ended" =>
            {
                let s = c.journal_session(&session).await?;
                let items: Vec<Value> = s
                    .items
                    .iter()
                    .map(|i| serde_json::from_str(&i.content).unwrap_or(Value::Null))
                    .collect();
                print_json(&items)?;
            }
            Err(e) => return Err(e),
        },
        Cmd::Approve { call_id, how } => decide(&c, json, call_id, true, how).await?,
        Cmd::Reject { call_id, how } => decide(&c, json, call_id, false, how).await?,
        Cmd::Approvals { command: None } => {
            let pending = c.approvals().await?;
            if json {
                return print_json(&pending);
            }
            let now = now_ms();
            for p in &pending {
                println!("{}", pending_line(p, now));
            }
        }
        Cmd::Approvals {
            command: Some(ApprovalsCmd::Remembered),
        } => {
            let answers = c.remembered().await?;
            if json {
                return print_json(&answers);
            }
            for a in &answers {
                println!(
                    "{} {} {} by {} at {}{}",
                    a.agent,
                    a.tool,
                    if a.approve { "approve" } else { "reject" },
                    a.decided_by,
                    format_time_ms(a.time_ms),
                    if a.current {
                        ""
                    } else {
                        " (stale: the agent's policy changed)"
                    }
                );
            }
        }
        Cmd::Approvals {
            command: Some(ApprovalsCmd::Forget { agent, tool }),
        } => {
            let f = c.forget(&Forget { agent, tool }).await?;
            if json {
                return print_json(&f);
            }
            println!(
                "forgot {} remembered answers of agent {}",
                f.forgotten, f.agent
            );
        }
        Cmd::Call(cmd) => return call_command(&c, cmd, json).await,
        Cmd::Policy(PolicyCmd::Explain {
            agent,
            tool,
            arguments,
        }) => {
            let arguments: Value = serde_json::from_str(&arguments)
                .map_err(|e| ClientError::Decode(format!("arguments are not JSON: {e}")))?;
            let e = c
                .explain(&Explain {
                    agent,
                    tool,
                    arguments,
                })
                .await?;
            if json {
                return print_json(&e);
            }
            println!("{} {}:", e.agent, e.tool);
            for line in &e.lines {
                println!("  {line}");
            }
        }
    }
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `--since`: RFC 3339 UTC (`2026-12-01T09:00:00Z`), ms since the epoch, or
/// an age before `now` (`90s`, `15m`, `2h`, `7d`).
fn parse_since(text: &str, now: u64) -> Result<u64, String> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse()
            .map_err(|_| format!("--since `{text}` is too large"));
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if !num.is_empty() && matches!(unit, "s" | "m" | "h" | "d") {
        let n: u64 = num
            .parse()
            .map_err(|_| format!("--since `{text}` is too large"))?;
        let secs = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            _ => 86_400,
        };
        return Ok(now.saturating_sub(n.saturating_mul(secs).saturating_mul(1000)));
    }
    parse_rfc3339(t).ok_or_else(|| {
        format!("--since `{text}` is not a time: use 2026-12-01T09:00:00Z, ms since the epoch, or an age like 15m, 2h, 7d")
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` (or `+00:00`) as ms since the epoch.
fn parse_rfc3339(t: &str) -> Option<u64> {
    let t = t.strip_suffix('Z').or_else(|| t.strip_suffix("+00:00"))?;
    let (date, time) = t.split_once(['T', ' '])?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    if d.next().is_some() || !(1..=12).contains(&mo) || !(1..=31).contains(&da) {
        return None;
    }
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut h = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (h.next()??, h.next()??, h.next()??);
    if h.next().is_some() || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let ms: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<3}")[..3].parse().ok()?
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let total = ((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000) + ms;
    u64::try_from(total).ok()
}

/// One pending call as a line of text.
fn pending_line(p: &agentd_api::PendingApproval, now: u64) -> String {
    let waited = now.saturating_sub(p.since_ms) / 1000;
    format!(
        "{} {} {} {} args={} waiting {waited}s (since {})",
        p.call_id,
        p.session.as_deref().unwrap_or("-"),
        p.agent,
        p.tool,
        short(&p.arguments, 120),
        format_time_ms(p.since_ms)
    )
}

async fn decide(
    c: &Client,
    json: bool,
    call_id: String,
    approve: bool,
    how: DecideArgs,
) -> Result<(), ClientError> {
    let d = c
        .decide(
            &call_id,
            &Decision {
                approve,
                always: how.always,
                remember: how.remember.map(|r| match r {
                    RememberArg::Session => Remember::Session,
                    RememberArg::Agent => Remember::Agent,
                }),
                reason: how.reason,
                session: how.session,
            },
        )
        .await?;
    if json {
        return print_json(&d);
    }
    let verb = if d.approved { "approved" } else { "rejected" };
    println!("{verb} {} in session {}", d.call_id, d.session);
    Ok(())
}

/// Follow a session's events while reading commands from stdin.
async fn attach(c: &Client, session: &str, raw: bool) -> Result<(), ClientError> {
    use tokio::io::AsyncBufReadExt;
    let mut watcher = {
        let c = c.clone();
        let session = session.to_string();
        tokio::spawn(async move {
            let from_start = EventsQuery {
                since: 0,
                follow: true,
            };
            c.events(&session, &from_start, |item| {
                if shown(&item, raw) {
                    println!("{}", event_line(&item));
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
            ["/interrupt"] => c.interrupt(session).await.map(drop),
            [cmd @ ("/approve" | "/reject"), call_id, rest @ ..] => {
                let always = rest == ["always"];
                let how = DecideArgs {
                    always,
                    remember: None,
                    reason: None,
                    session: Some(session.to_string()),
                };
                decide(c, false, call_id.to_string(), *cmd == "/approve", how).await
            }
            [cmd, ..] if cmd.starts_with('/') => {
                eprintln!(
                    "unknown command {cmd}: use /approve CALL_ID [always], /reject CALL_ID [always], /interrupt, /quit"
                );
                Ok(())
            }
            _ => c
                .send_message(session, &SendMessage::text(line))
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

fn print_plugins(ps: &[PluginSummary]) {
    for p in ps {
        let compiling = p.compiling_line();
        if p.hash.is_none()
            && let Some(line) = &compiling
        {
            println!("  {}: {line}", p.name);
            continue;
        }
        let Some(hash) = p.short_hash() else {
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
            .map(|ms| format!(", since {}", format_time_ms(ms)))
            .unwrap_or_default();
        println!(
            "  {} ({}, hash {hash}{since}): tools [{}] guardrails [{}]",
            p.name,
            p.path,
            tools.join(", "),
            p.guardrails.join(", ")
        );
        if let Some(e) = &p.error {
            println!("    last error: {e}");
        }
        if let Some(line) = compiling {
            println!("    new version {line}");
        }
    }
}

fn print_reload(r: &ReloadReport) {
    println!("reload {}", r.outcome);
    let lists = [
        ("agents added", &r.agents_added),
        ("agents changed", &r.agents_changed),
        ("agents removed", &r.agents_removed),
        ("plugins added", &r.plugins_added),
        ("plugins changed", &r.plugins_changed),
        ("plugins removed", &r.plugins_removed),
        ("models added", &r.models_added),
        ("models changed", &r.models_changed),
        ("models removed", &r.models_removed),
    ];
    for (what, names) in lists {
        if !names.is_empty() {
            println!("  {what}: {}", names.join(", "));
        }
    }
    if r.settings_changed {
        println!("  settings changed (they apply to what starts from now on)");
    }
    for e in &r.plugins_failed {
        println!("  plugin error: {e}");
    }
}

fn main() -> ExitCode {
    if let Some(code) = gen_docs::from_args(Args::command()) {
        return code;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Stream lines as the daemon writes them, and the text `agentctl
    /// events` has always printed for them.
    #[test]
    fn events_print_as_they_always_have() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"seq":1,"session":"s","time_ms":0,"type":"agent_start","agent":"concierge"}"#,
                "#1     agent_start              concierge",
            ),
            (
                r#"{"seq":2,"session":"s","time_ms":0,"type":"handoff","from":"a","to":"b"}"#,
                "#2     handoff                  a -> b",
            ),
            (
                r#"{"seq":3,"session":"s","time_ms":0,"type":"tool_approval_required","agent":"a","tool":"calc.multiply","call_id":"c1","arguments":"{\"a\":4}"}"#,
                r#"#3     tool_approval_required   calc.multiply call_id=c1 args={"a":4}"#,
            ),
            (
                r#"{"seq":4,"session":"s","time_ms":0,"type":"tool_end","agent":"a","tool":"calc.add","call_id":"c1","arguments":"{}","output":"5","outcome":"completed"}"#,
                "#4     tool_end                 calc.add call_id=c1 completed output=5",
            ),
            (
                r#"{"seq":5,"session":"s","time_ms":0,"type":"audio","item_id":"i","content_index":0,"response_id":"r","audio":"AAAAAAAA"}"#,
                "#5     audio                    item=i 6 bytes",
            ),
            (
                r#"{"seq":6,"session":"s","time_ms":0,"type":"audio_interrupted","item_id":"i","content_index":0}"#,
                "#6     audio_interrupted        item=i",
            ),
            (
                r#"{"seq":7,"session":"s","time_ms":0,"type":"transcript_delta","item_id":"i","response_id":"r","delta":"The \"x\""}"#,
                r#"#7     transcript_delta         item=i "The \"x\"""#,
            ),
            (
                r#"{"seq":8,"session":"s","time_ms":0,"type":"history_added","item":{"id":"u1","type":"message"},"history_len":1}"#,
                "#8     history_added            message u1 (history: 1)",
            ),
            (
                r#"{"seq":9,"session":"s","time_ms":0,"type":"history_deleted","item_id":"u1","history_len":0}"#,
                "#9     history_deleted          ",
            ),
            (
                r#"{"seq":10,"session":"s","time_ms":0,"type":"guardrail_tripped","direction":"tool_call","guardrails":["b.x","b.y"],"message":"rm"}"#,
                r#"#10    guardrail_tripped        tool_call ["b.x","b.y"] text="rm""#,
            ),
            (
                r#"{"seq":11,"session":"s","time_ms":0,"type":"error","code":"unknown_tool","message":"no tool"}"#,
                "#11    error                    unknown_tool no tool",
            ),
            (
                r#"{"seq":12,"session":"s","time_ms":0,"type":"error","message":"no code"}"#,
                "#12    error                     no code",
            ),
            (
                r#"{"seq":13,"session":"s","time_ms":0,"type":"raw_model_event","data":{"type":"response.done"}}"#,
                "#13    raw_model_event          response.done",
            ),
            (
                r#"{"seq":14,"session":"s","time_ms":0,"type":"connection_status","status":"reconnecting","attempt":2,"reason":"gone"}"#,
                "#14    connection_status        reconnecting attempt=2 (gone)",
            ),
            (
                r#"{"seq":15,"session":"s","time_ms":0,"type":"input_audio_timeout_triggered"}"#,
                "#15    input_audio_timeout_triggered ",
            ),
            (
                r#"{"seq":16,"session":"s","time_ms":0,"type":"session_closed","reason":"closed"}"#,
                "#16    session_closed           closed",
            ),
            (
                r#"{"type":"events_lost","session":"s","first":17,"last":40}"#,
                "#0     events_lost              events 17..40 are no longer kept",
            ),
        ];
        for (line, want) in cases {
            let item: StreamItem = serde_json::from_str(line).unwrap();
            assert_eq!(event_line(&item), *want, "{line}");
        }
    }

    #[test]
    fn raw_events_and_audio_are_shown_only_with_raw() {
        let audio: StreamItem = serde_json::from_str(
            r#"{"seq":1,"session":"s","time_ms":0,"type":"audio","item_id":"i","content_index":0,"response_id":"r","audio":""}"#,
        )
        .unwrap();
        let end: StreamItem = serde_json::from_str(
            r#"{"seq":2,"session":"s","time_ms":0,"type":"agent_end","agent":"a"}"#,
        )
        .unwrap();
        assert!(!shown(&audio, false));
        assert!(shown(&audio, true));
        assert!(shown(&end, false));
    }

    #[test]
    fn audit_rows_print_with_who_why_and_how_long() {
        let calls: Vec<AuditCall> = serde_json::from_str(
            r#"[{"session":"s1","call_id":"c1","agent":"a","tool":"calc.multiply","arguments":"{}","decision":"ask (policy rule 1)","decided_ms":1,"approvals":[{"approved":true,"always":true,"decided_by":"uid:1000 (alice)","reason":"known vendor","latency_ms":1500,"time_ms":2}],"outcome":"completed","output":"20","ended_ms":3},{"session":"s1","call_id":"c2","agent":"a","tool":"calc.add","arguments":"{}","decision":"allow (policy)","decided_ms":1,"approvals":[],"outcome":null,"output":null,"ended_ms":null}]"#,
        )
        .unwrap();
        assert_eq!(
            audit_line(&calls[0]),
            "s1 c1 calc.multiply decision=ask (policy rule 1) approved always by uid:1000 (alice) (known vendor) after 1500ms outcome=completed output=20"
        );
        assert_eq!(
            audit_line(&calls[1]),
            "s1 c2 calc.add decision=allow (policy)  outcome=- output=-"
        );
    }

    #[test]
    fn since_takes_rfc3339_epoch_ms_and_ages() {
        let now = 1_764_072_000_000;
        assert_eq!(
            parse_since("2025-11-25T12:00:00Z", now),
            Ok(1_764_072_000_000)
        );
        assert_eq!(
            parse_since("2025-11-25T12:00:00.250Z", now),
            Ok(1_764_072_000_250)
        );
        assert_eq!(parse_since("1970-01-01T00:00:00+00:00", now), Ok(0));
        assert_eq!(parse_since("1764072000000", now), Ok(now));
        assert_eq!(parse_since("15m", now), Ok(now - 15 * 60_000));
        assert_eq!(parse_since("2d", now), Ok(now - 2 * 86_400_000));
        let e = parse_since("yesterday", now).unwrap_err();
        assert!(e.contains("is not a time"), "{e}");
        assert!(parse_since("2025-13-01T00:00:00Z", now).is_err());
    }
}
