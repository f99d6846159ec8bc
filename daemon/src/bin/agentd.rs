//! `agentd`: the daemon. `agentd [--config FILE]` runs it in the foreground;
//! `agentd check [FILE]` validates a config (plugins included) and exits;
//! `agentd plugin inspect|new|build` are the plugin author's tools.

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
    /// Write, build and inspect plugins
    #[command(subcommand)]
    Plugin(PluginCmd),
    /// Compile a component into the cache (the daemon runs this as a child
    /// process, so Cranelift's memory is never the daemon's)
    #[command(hide = true)]
    Compile {
        #[arg(long)]
        cache_dir: PathBuf,
        #[arg(long)]
        instance_slots: u32,
        /// The SHA-256 the daemon read; a file that changed since is refused
        #[arg(long)]
        hash: String,
        file: PathBuf,
    },
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
    let socket: Arc<Path> = Arc::from(catalog.config.daemon.socket.as_path());
    let journal_path = catalog.config.daemon.state_dir.join("journal.sqlite3");
    let journal = match agentd::store::Journal::open(&journal_path) {
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
    let daemon = match Supervisor::start(catalog, Arc::new(host), journal).await {
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
    let args = Args::parse();
    // `check` prints its verdict; only problems belong in its log.
    init_logging(if args.command.is_some() {
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
        Some(Cmd::Plugin(PluginCmd::Inspect { file, json })) => {
            runtime.block_on(inspect(file, json))
        }
        Some(Cmd::Compile {
            cache_dir,
            instance_slots,
            hash,
            file,
        }) => match agentd::plugin::compile::compile_into_cache(
            cache_dir,
            instance_slots,
            &file,
            &hash,
        ) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("agentd compile: {e}");
                ExitCode::FAILURE
            }
        },
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
        None => runtime.block_on(run(args.config.unwrap_or_else(default_config))),
    }
}
