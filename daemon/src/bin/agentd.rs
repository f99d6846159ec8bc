//! `agentd`: the daemon. `agentd [--config FILE]` runs it in the foreground;
//! `agentd check [FILE]` validates a config (plugins included) and exits.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use agentd::catalog::Catalog;
use agentd::config::Config;
use agentd::control::server;
use agentd::plugin::{HostError, HostOptions, PluginHost};
use agentd::reload::Trigger;
use agentd::supervisor::Supervisor;
use clap::{Parser, Subcommand};

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
}

fn default_config() -> PathBuf {
    let local = Path::new("agents.toml");
    if local.exists() {
        local.to_path_buf()
    } else {
        PathBuf::from("/etc/agentd/agents.toml")
    }
}

/// Logs go to stderr (journald picks them up under systemd); colour only on a terminal.
fn init_logging(default: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("AGENTD_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
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

async fn run(config_path: PathBuf) -> ExitCode {
    let config = match load_config(&config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    config.log_warnings();
    // The daemon keeps compiled plugins on disk, so restarts skip compilation.
    let host = match PluginHost::with_options(HostOptions {
        cache_dir: Some(config.daemon.cache_dir.clone()),
        tool_queue: config.daemon.tool_queue,
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
    let socket: Arc<Path> = Arc::from(catalog.config.daemon.socket.as_path());
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
    let listener = match server::bind(&socket).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("agentd: {e}");
            return ExitCode::FAILURE;
        }
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
        config = %config_path.display(),
        agents = catalog.agents.len(),
        plugins = catalog.plugins.len(),
        "agentd ready"
    );
    let systemd = agentd::systemd::Notifier::from_env();
    systemd.notify(&format!(
        "READY=1\nSTATUS=serving {} agents on {}",
        catalog.agents.len(),
        socket.display()
    ));
    systemd.spawn_watchdog();
    server::serve(listener, socket.clone(), daemon.clone(), shutdown_signal()).await;
    tracing::info!("shutting down");
    systemd.notify("STOPPING=1");
    hup.abort();
    pruning.abort();
    if let Some(w) = watcher {
        w.abort();
    }
    daemon.close_all().await;
    let _ = std::fs::remove_file(&*socket);
    ExitCode::SUCCESS
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

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
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
    shutdown_signal().await;
    drop(server);
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args = Args::parse();
    // `check` prints its verdict; only problems belong in its log.
    init_logging(if matches!(args.command, Some(Cmd::Check { .. })) {
        "warn"
    } else {
        "info"
    });
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
    match args.command {
        Some(Cmd::Check { file }) => {
            let path = file.or(args.config).unwrap_or_else(default_config);
            runtime.block_on(check(path))
        }
        Some(Cmd::Sim { listen }) => runtime.block_on(sim(listen)),
        None => runtime.block_on(run(args.config.unwrap_or_else(default_config))),
    }
}
