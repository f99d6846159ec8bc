//! `cargo xtask bench <benchmark>`: the benchmark programs, one subcommand
//! each. They measure and record (results in BENCHMARKS.md); they never
//! assert anything about timings, which is why they are programs here and
//! not tests.
//!
//! - `peer` ([`peer`]): agentd against the reference Python client on the
//!   peer harness's scripted Realtime server. It is also what plain
//!   `cargo xtask bench [OPTIONS]` runs, as BENCHMARKS.md shows;
//! - `scale` ([`scale`]): 1 to 10,000 concurrent sessions on one daemon,
//!   the model out of process, one daemon-wide subscriber;
//! - `reload` ([`reload`]): a changed plugin renamed into place → served.
//!
//! Shared by all of them: [`child`] (processes started for a run, stopped
//! when it ends however it ends) and [`measure`] (a process's CPU time and
//! memory from `/proc`, the machine's load).

mod child;
mod measure;
mod peer;
mod reload;
mod scale;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};

/// `cargo xtask bench [BENCHMARK] [OPTIONS]`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    benchmark: Option<Benchmark>,
    /// Options of `peer`, for `cargo xtask bench [OPTIONS]` without a benchmark named.
    #[command(flatten)]
    peer: peer::PeerArgs,
}

#[derive(Debug, Subcommand)]
enum Benchmark {
    /// agentd vs the reference Python client, same mock server and scenarios, interleaved.
    Peer(peer::PeerArgs),
    /// Many concurrent sessions doing tool-call turns: open time, memory, turns/s, latency.
    Scale(scale::ScaleArgs),
    /// Hot reload: a changed plugin renamed into place until it serves, uncached and cached.
    Reload(reload::ReloadArgs),
}

/// Run the benchmark named (or `peer`).
pub fn run(args: BenchArgs) -> Result<ExitCode> {
    match args.benchmark {
        Some(Benchmark::Peer(peer)) => peer::run(peer),
        Some(Benchmark::Scale(scale)) => scale::run(scale),
        Some(Benchmark::Reload(r)) => reload::run(r),
        None => peer::run(args.peer),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    fn peer_args(args: &[&str]) -> peer::PeerArgs {
        let cli = Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        match cli.bench.benchmark {
            Some(Benchmark::Peer(p)) => p,
            Some(other) => panic!("{args:?}: not peer: {other:?}"),
            None => cli.bench.peer,
        }
    }

    #[test]
    fn plain_bench_is_bench_peer() {
        for args in [
            &["--repeat", "5", "--var", "calls=50", "tool_calls"][..],
            &[
                "--repeat",
                "5",
                "--var",
                "calls=50",
                "--scenario",
                "tool_calls",
            ][..],
        ] {
            let plain = peer_args(args);
            let named = peer_args(&[&["peer"][..], args].concat());
            assert_eq!(plain, named, "{args:?}");
            assert_eq!(plain.repeat, 5);
            assert_eq!(plain.vars, ["calls=50"]);
            assert_eq!(plain.scenario_names(), ["tool_calls"]);
        }
        assert_eq!(peer_args(&[]).repeat, 3);
    }
}
