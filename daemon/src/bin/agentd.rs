//! `agentd`: the daemon. `agentd [--config FILE] [--socket PATH]` runs it in
//! the foreground; `agentd check [FILE]` validates a config (plugins
//! included) and exits; `agentd sim --listen ADDR` runs the offline model
//! alone; `agentd plugin inspect|new|build` are the plugin author's tools.
//! SIGHUP reloads; SIGTERM drains (see `agentd::drain`) and a second SIGTERM
//! stops at once.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use agentd::catalog::Catalog;
use agentd::config::Config;
use agentd::control::server;
use agentd::plugin::{HostError, HostOptions, PluginHost};
use agentd::reload::Trigger;
use agentd::supervisor::Supervisor;
use clap::{CommandFactory, Parser, Subcommand};

#[path = "../gen_docs.rs"]
mod gen_docs;

/// Exit code for a bad config (sysexits EX_CONFIG), as systemd and scripts expect.
const EX_CONFIG: u8 = 78;

#[derive(Parser)]
#[command(
    name = "agentd",
    version,
    about = "Hosts realtime AI agents with sandboxed WebAssembly tools"
)]
struct Args {
    /// Config file [default: ./agents.toml, else /etc/agentd/agents.toml]
    #[arg(long, short, env = "AGENTD_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Control socket to listen on, instead of `[daemon] socket` (ignored
    /// when systemd passes the socket: `agentd.socket`)
    #[arg(long, env = "AGENTD_SOCKET", global = true)]
    socket: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Validate a config file and the plugins it names, then exit (like `nginx -t`)
    Check {
        /// The file to check [default: as for --config]
        file: Option<PathBuf>,
    },
    /// Run only the offline model (the `sim` provider's Realtime server) on
    /// ADDR, until SIGTERM or SIGINT: a local Realtime endpoint for tests and
    /// benchmarks, out of the daemon's process
    Sim {
        /// Address to listen on, e.g. 127.0.0.1:8900 (port 0 picks a free one)
        #[arg(long, value_name = "ADDR")]
        listen: std::net::SocketAddr,
    },
    /// Write, build and inspect plugins
    #[command(subcommand)]
    Plugin(PluginCmd),
}

/// `agentd compile …`: compile a component into the cache. The daemon runs
/// this as a child process, so Cranelift's memory is never the daemon's.
/// Like `gen-docs`, the word is looked at before [`Args`] are parsed: it is
/// the daemon's, not the operator's, and shows in no man page or completion.
#[derive(Parser)]
#[command(name = "agentd compile")]
struct CompileArgs {
    #[arg(long)]
    cache_dir: PathBuf,
    #[arg(long)]
    instance_slots: u32,
    /// The SHA-256 the daemon read; a file that changed since is refused
    #[arg(long)]
    hash: String,
    file: PathBuf,
}

/// When the arguments are `compile …`: the compile child's exit code.
fn compile_child() -> Option<ExitCode> {
    let mut args = std::env::args_os().skip(1).peekable();
    if args.peek().is_none_or(|a| a != "compile") {
        return None;
    }
    let c = CompileArgs::parse_from(args);
    agentd::logs::init(agentd::config::LogFormat::Text, "warn");
    Some(
        match agentd::plugin::compile::compile_into_cache(
            c.cache_dir,
            c.instance_slots,
            &c.file,
            &c.hash,
        ) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("agentd compile: {e}");
                ExitCode::FAILURE
            }
        },
    )
}

#[derive(Subcommand)]
enum PluginCmd {
    /// Show a component's contract version, tools (with their JSON Schemas),
    /// guardrails and what it imports (the grants it would need)
    Inspect {
        /// The component (.wasm)
        file: PathBuf,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Write a ready-to-build plugin project in ./NAME with one example tool
    /// (or guardrail) and a test that runs natively
    New {
        /// The plugin's name (also the folder and the component's file name)
        name: String,
        /// The plugin's language
        #[arg(long, value_enum, default_value = "rust")]
        lang: agentd::authoring::Lang,
        /// An example guardrail instead of an example tool
        #[arg(long)]
        guardrail: bool,
    },
    /// Build the plugin project in DIR to DIR/NAME.wasm, installing the
    /// target or toolchain it needs first
    Build {
        /// The project folder [default: .]
        dir: Option<PathBuf>,
    },
}

fn default_config() -> PathBuf {
    let local = Path::new("agents.toml");
    if local.exists() {
        local.to_path_buf()
    } else {
        PathBuf::from("/etc/agentd/agents.toml")
    }
}

/// Read and validate the config file; errors are printed, one per line.
fn load_config(path: &Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(EX_CONFIG)
    })
}

/// Load the plugins and resolve the agents; errors are printed, one per line.
async fn build_catalog(config: Config, host: &PluginHost) -> Result<Catalog, ExitCode> {
    Catalog::build(config, host).await.map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(EX_CONFIG)
    })
}

async fn run(config_path: PathBuf, socket_arg: Option<PathBuf>) -> ExitCode {
    let config = match load_config(&config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    agentd::logs::init(agentd::logs::choose(config.daemon.log_format), "info");
    config.log_warnings();
    // The daemon keeps compiled plugins on disk, so restarts skip compilation.
    let host = match PluginHost::with_options(HostOptions {
        cache_dir: Some(config.daemon.cache_dir.clone()),
        tool_queue: config.daemon.tool_queue,
        // Big components are compiled by a child `agentd compile`.
        compiler: std::env::current_exe().ok(),
        ..HostOptions::default()
    }) {
        Ok(h) => h,
        // An unsafe cache folder is the operator's to fix; restarting won't.
        Err(e @ HostError::CacheDir(_)) => {
            eprintln!("agentd: {e}");
            return ExitCode::from(EX_CONFIG);
        }
        Err(e) => {
            eprintln!("agentd: cannot start the plugin host: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let catalog = match build_catalog(config, &host).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let drain_timeout = catalog.config.daemon.drain_timeout;
    // Socket activation: systemd bound the socket and keeps it; else bind
    // the one named by --socket / $AGENTD_SOCKET, else by the config.
    let activated = match agentd::systemd::listen_fds().as_slice() {
        [] => None,
        [fd, ..] => match server::from_activation(*fd) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("agentd: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let socket: Arc<Path> = match (&activated, socket_arg) {
        (Some((_, Some(path))), _) => Arc::from(path.as_path()),
        (_, Some(arg)) => Arc::from(arg.as_path()),
        _ => Arc::from(catalog.config.daemon.socket.as_path()),
    };
    let journal_path = catalog.config.daemon.state_dir.join("journal.sqlite3");
    let journal = match agentd::store::Journal::open_synced(
        &journal_path,
        catalog.config.daemon.journal_sync,
    ) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("agentd: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Each start is journaled like a reload, with the hash of the config it serves.
    journal.record_later(agentd::store::Record::Reload {
        outcome: "started".into(),
        config_hash: catalog.config.source_hash.clone(),
        detail: config_path.display().to_string(),
    });
    // Events over `[daemon] event_memory` spill here; a previous run's files
    // name sessions that are gone.
    let spill_dir = catalog.config.daemon.state_dir.join("events");
    let spill = match agentd::session::EventHub::clear_spill_dir(&spill_dir) {
        Ok(()) => Some(spill_dir),
        Err(e) => {
            tracing::warn!(dir = %spill_dir.display(), error = %e,
                "cannot prepare the event spill folder; events over event_memory are dropped (subscribers get events_lost)");
            None
        }
    };
    let events = agentd::session::EventHub::new(catalog.config.daemon.event_memory, spill);
    let daemon = match Supervisor::start_with_events(catalog, Arc::new(host), journal, events).await
    {
        Ok(d) => Arc::new(d),
        Err(e) => {
            eprintln!("agentd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let from_systemd = activated.is_some();
    let listener = match activated {
        Some((l, _)) => l,
        None => match server::bind(&socket).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("agentd: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    if let Some((name, gid)) = &daemon.catalog().config.daemon.socket_group
        && let Err(e) = server::share_with_group(&socket, *gid)
    {
        eprintln!("agentd: cannot give the control socket to group `{name}`: {e}");
        return ExitCode::FAILURE;
    }
    // `[daemon.http]`: webhooks, signalling and the control API by token.
    let http = match daemon.catalog().config.daemon.http.clone() {
        Some(config) => match agentd::http::bind(&config).await {
            Ok(l) => {
                tracing::info!(listen = ?l.local_addr(), tls = config.tls.is_some(), tokens = config.tokens.len(), "HTTP listener ready");
                Some(tokio::spawn(agentd::http::serve(
                    l,
                    daemon.clone(),
                    socket.clone(),
                    std::future::pending(),
                )))
            }
            Err(e) => {
                eprintln!("agentd: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let pruning = daemon.spawn_journal_pruning();
    // Hot reload: SIGHUP always; file watching unless `[daemon] watch = false`.
    let hup = tokio::spawn(reload_on_sighup(daemon.clone()));
    let watcher = if daemon.catalog().config.daemon.watch {
        match daemon.spawn_watcher() {
            Ok(task) => Some(task),
            Err(e) => {
                tracing::warn!(error = %e, "hot reload on file changes is off; SIGHUP and `agentctl reload` still work");
                None
            }
        }
    } else {
        None
    };
    let catalog = daemon.catalog();
    tracing::info!(
        socket = %socket.display(),
        socket_activated = from_systemd,
        config = %config_path.display(),
        agents = catalog.agents.len(),
        plugins = catalog.plugins.len(),
        "agentd ready"
    );
    let systemd = agentd::systemd::Notifier::from_env();
    systemd.notify(&format!(
        "READY=1\n{}",
        agentd::supervisor::status_line(&catalog, 0)
    ));
    systemd.spawn_watchdog();
    let status = tokio::spawn(report_status(daemon.clone(), systemd.clone()));
    let mut signals = match StopSignals::install() {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(error = %e, "cannot install the SIGTERM/SIGINT handlers; stop with `agentctl drain` or SIGKILL");
            None
        }
    };
    // The control API keeps serving while the daemon drains: decisions for
    // calls in flight, status (`draining`), metrics.
    let serving = tokio::spawn(server::serve(
        listener,
        socket.clone(),
        daemon.clone(),
        std::future::pending(),
    ));
    let why = tokio::select! {
        signal = next_stop(&mut signals) => signal,
        _ = daemon.stop_requested() => "agentctl drain",
    };
    tracing::info!(by = why, timeout_s = drain_timeout.as_secs(), "draining");
    systemd.notify("STOPPING=1");
    status.abort();
    hup.abort();
    if let Some(w) = watcher {
        w.abort();
    }
    let drained = agentd::drain::drain(&daemon, drain_timeout, &systemd, async {
        next_stop(&mut signals).await;
        tracing::warn!("second stop signal: stopping now");
    })
    .await;
    // The HTTP listener served through the drain too: new calls were
    // refused with `[sip] reject_status`, live ones kept their webhooks.
    serving.abort();
    if let Some(h) = http {
        h.abort();
    }
    pruning.abort();
    // Anything that slipped in between (a session registered mid-drain).
    if tokio::time::timeout(std::time::Duration::from_secs(10), daemon.close_all())
        .await
        .is_err()
    {
        tracing::warn!("sessions did not all close in 10 s; stopping without them");
    }
    // Watchers get their sessions' last events (`session_closed`) before
    // the runtime, and their connections with it, go.
    agentd::control::streaming::wait_for_streams(std::time::Duration::from_secs(2)).await;
    match tokio::time::timeout(std::time::Duration::from_secs(30), daemon.journal().flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "cannot flush the journal"),
        Err(_) => tracing::error!("the journal did not flush in 30 s"),
    }
    // A socket systemd passed stays: systemd owns it, and the next start
    // gets it again.
    if !from_systemd {
        let _ = std::fs::remove_file(&*socket);
    }
    tracing::info!(forced = drained.forced, "stopped");
    ExitCode::SUCCESS
}

/// Keep systemd's `STATUS=` line current (agents, plugins, live sessions).
async fn report_status(daemon: Arc<Supervisor>, systemd: agentd::systemd::Notifier) {
    let mut last = String::new();
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let line =
            agentd::supervisor::status_line(&daemon.catalog(), daemon.counts().await.live_sessions);
        if line != last {
            systemd.notify(&line);
            last = line;
        }
    }
}

/// SIGTERM and SIGINT, installed once so a second one is seen too.
struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> std::io::Result<StopSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }
}

/// The next stop signal's name; never, without handlers.
async fn next_stop(signals: &mut Option<StopSignals>) -> &'static str {
    let Some(s) = signals else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = s.term.recv() => "SIGTERM",
        _ = s.int.recv() => "SIGINT",
    }
}

async fn reload_on_sighup(daemon: Arc<Supervisor>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot install the SIGHUP handler; reload with `agentctl reload`");
            return;
        }
    };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading");
        daemon.request_reload(Trigger::Signal);
    }
}

async fn check(path: PathBuf) -> ExitCode {
    let config = match load_config(&path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // No disk cache: a check validates and writes nothing.
    let host = match PluginHost::new() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("agentd: cannot start the plugin host: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    match build_catalog(config, &host).await {
        Ok(c) => {
            for w in &c.config.warnings {
                eprintln!("warning: {w}");
            }
            for f in &c.failed_plugins {
                eprintln!("warning: {}", f.error);
            }
            println!(
                "{}: ok ({} agents, {} plugins)",
                path.display(),
                c.agents.len(),
                c.plugins.len()
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// `agentd sim --listen ADDR`: the offline model alone. The first line on
/// stdout is the URL it serves, so a script can read the port it got.
async fn sim(listen: std::net::SocketAddr) -> ExitCode {
    let server = match agentd::realtime::sim::SimServer::bind(listen).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("agentd sim: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("ws://{}/v1/realtime", server.local_addr());
    tracing::info!(addr = %server.local_addr(), "offline model listening");
    let mut signals = StopSignals::install().ok();
    let by = next_stop(&mut signals).await;
    tracing::info!(by, "offline model stopping");
    drop(server);
    ExitCode::SUCCESS
}

async fn inspect(file: PathBuf, json: bool) -> ExitCode {
    let host = match PluginHost::new() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("agentd: cannot start the plugin host: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    match host.inspect(&file).await {
        Ok(found) if json => match serde_json::to_string_pretty(&found) {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("agentd: cannot write JSON: {e}");
                ExitCode::FAILURE
            }
        },
        Ok(found) => {
            print!("{}", found.to_text());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn new_plugin(name: String, lang: agentd::authoring::Lang, guardrail: bool) -> ExitCode {
    use agentd::authoring::{World, new};
    let req = new::NewProject {
        name,
        lang,
        world: if guardrail {
            World::Guardrails
        } else {
            World::Tools
        },
        parent: PathBuf::from("."),
    };
    match new::create(&req) {
        Ok(dir) => {
            println!(
                "{}: a {lang:?} plugin; `cd {}` and run `agentd plugin build`",
                dir.display(),
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("agentd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    if let Some(code) = gen_docs::from_args(Args::command()) {
        return code;
    }
    if let Some(code) = compile_child() {
        return code;
    }
    let args = Args::parse();
    // `check` prints its verdict; only problems belong in its log. The
    // daemon's logger is installed once its config names the format.
    if let Some(cmd) = &args.command {
        let level = if matches!(cmd, Cmd::Sim { .. }) {
            "info"
        } else {
            "warn"
        };
        agentd::logs::init(agentd::config::LogFormat::Text, level);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("agentd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match args.command {
        Some(Cmd::Check { file }) => {
            let path = file.or(args.config).unwrap_or_else(default_config);
            runtime.block_on(check(path))
        }
        Some(Cmd::Sim { listen }) => runtime.block_on(sim(listen)),
        Some(Cmd::Plugin(PluginCmd::Inspect { file, json })) => {
            runtime.block_on(inspect(file, json))
        }
        Some(Cmd::Plugin(PluginCmd::New {
            name,
            lang,
            guardrail,
        })) => new_plugin(name, lang, guardrail),
        Some(Cmd::Plugin(PluginCmd::Build { dir })) => {
            match agentd::authoring::build::build(&dir.unwrap_or_else(|| PathBuf::from("."))) {
                Ok(out) => {
                    println!("{}", out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("agentd: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        None => runtime.block_on(run(args.config.unwrap_or_else(default_config), args.socket)),
    };
    // Everything that matters (the journal) was flushed before `run`
    // returned: a blocking task still running must not keep the process up.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    code
}
