//! Developer tasks, run as `cargo xtask <task>` from anywhere in the repository.
//!
//! - `plugins`: build every crate under `plugins/` to a wasm32-wasip2 component
//!   and copy it to `plugins/<name>.wasm`, where agents.toml finds it;
//! - `run`: `plugins`, then start agentd in the foreground with `agents.toml`;
//! - `test`: `plugins`, then the whole test suite;
//! - `bench`: the benchmark programs, one subcommand each (see [`bench`]):
//!   `bench peer` (plain `bench` too) runs agentd against the reference
//!   Python client, see BENCHMARKS.md;
//! - `docs`: write docs/api/openapi.yaml, the man pages and the shell
//!   completions (see [`docs`]).
//!
//! Each installs the wasm32-wasip2 target first when it is missing, so the
//! README's two commands work on a fresh machine. The CLI is one clap
//! definition ([`Cli`]); `run` and `test` pass what follows them to agentd and
//! to `cargo test --workspace`.

mod bench;
mod cargo;
mod docs;
mod plugins;

use std::process::{Command, ExitCode};

use anyhow::Result;
use clap::{Args, CommandFactory, Parser, Subcommand};

use cargo::{cargo, root, status, target_dir};

#[derive(Debug, Parser)]
#[command(
    name = "xtask",
    bin_name = "cargo xtask",
    about = "Developer tasks for agentd."
)]
struct Cli {
    #[command(subcommand)]
    task: Option<Task>,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Build plugins/* and tests/fixtures/* to wasm32-wasip2 components.
    Plugins,
    /// Build everything and start agentd with agents.toml.
    Run {
        /// Arguments for agentd (after `--config agents.toml`).
        #[command(flatten)]
        args: Passthrough,
    },
    /// Build the plugins and run the whole test suite.
    Test {
        /// Arguments for `cargo test --workspace`, e.g. `-p agentd --lib config::`.
        #[command(flatten)]
        args: Passthrough,
    },
    /// Build the plugins and run a benchmark (BENCHMARKS.md); `peer` when none is named.
    Bench(Box<bench::BenchArgs>),
    /// Write docs/api/openapi.yaml, the man pages and the shell completions.
    Docs,
}

/// Whatever follows the task, handed on as written, `--` included.
#[derive(Debug, Args)]
struct Passthrough {
    /// Arguments handed on as written.
    #[arg(allow_hyphen_values = true, value_name = "ARGS")]
    args: Vec<String>,
    /// What follows a leading `--`, which clap would otherwise swallow.
    #[arg(last = true, hide = true)]
    after_dashes: Vec<String>,
}

impl Passthrough {
    fn into_args(self) -> Vec<String> {
        let mut all = self.args;
        if !self.after_dashes.is_empty() {
            all.push("--".into());
            all.extend(self.after_dashes);
        }
        all
    }
}

fn run(extra: &[String]) -> Result<()> {
    plugins::plugins()?;
    status(
        cargo()
            .current_dir(root())
            .args(["build", "--quiet", "-p", "agentd", "--bins"]),
    )?;
    let agentd = target_dir().join("debug").join("agentd");
    eprintln!("xtask: starting {} --config agents.toml", agentd.display());
    status(
        Command::new(agentd)
            .current_dir(root())
            .args(["--config", "agents.toml"])
            .args(extra),
    )
}

fn test(extra: &[String]) -> Result<()> {
    plugins::plugins()?;
    status(
        cargo()
            .current_dir(root())
            .args(["test", "--workspace"])
            .args(extra),
    )
}

fn main() -> ExitCode {
    let Some(task) = Cli::parse().task else {
        // `cargo xtask` alone: what there is to run.
        let _ = Cli::command().print_help();
        return ExitCode::SUCCESS;
    };
    let result = match task {
        Task::Plugins => plugins::plugins().map(|()| ExitCode::SUCCESS),
        Task::Run { args } => run(&args.into_args()).map(|()| ExitCode::SUCCESS),
        Task::Test { args } => test(&args.into_args()).map(|()| ExitCode::SUCCESS),
        Task::Bench(args) => bench::run(*args),
        Task::Docs => docs::docs().map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|e| {
        eprintln!("xtask: {e:#}");
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_and_test_hand_on_their_arguments_as_written() {
        for argv in [
            &["test"][..],
            &["test", "-p", "agentd", "--lib", "config::"][..],
            &["test", "--", "--nocapture"][..],
            &[
                "test",
                "-p",
                "agentd",
                "--",
                "--nocapture",
                "--test-threads",
                "1",
            ][..],
            &["test", "config::", "--", "--nocapture"][..],
            &["test", "--workspace", "--exclude", "xtask"][..],
            &["run", "--socket", "/tmp/a.sock"][..],
            &["run", "--", "--socket", "/tmp/a.sock"][..],
        ] {
            let cli = Cli::try_parse_from(std::iter::once("xtask").chain(argv.iter().copied()))
                .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
            let handed_on = match cli.task {
                Some(Task::Test { args } | Task::Run { args }) => args.into_args(),
                other => panic!("{argv:?}: {other:?}"),
            };
            assert_eq!(handed_on, argv[1..], "{argv:?}");
        }
    }
}
