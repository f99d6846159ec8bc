//! The options of `cargo xtask bench peer` (and of plain `cargo xtask bench`),
//! and the [`Options`] a run works from once defaults are filled in.
//!
//! A release run re-runs the driver from a release build of xtask with the
//! options resolved ([`Options::to_args`]), so the two must stay each
//! other's inverse; a test checks it.

use std::path::PathBuf;

use clap::builder::PossibleValuesParser;
use clap::{Args, ValueEnum};

use crate::cargo::{root, target_dir};

/// The scenarios of the peer harness, in the order they run.
pub const SCENARIOS: &[&str] = &[
    "transcript_stream",
    "tool_calls",
    "approval",
    "guardrail",
    "handoff",
];

/// Which side of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Side {
    Agentd,
    Reference,
}

impl Side {
    /// The name in the results (`"side"`) and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Side::Agentd => "agentd",
            Side::Reference => "reference",
        }
    }
}

/// How agentd (and the driver with it) is built for the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Release,
    Debug,
}

impl Profile {
    /// Cargo's folder for it under the target directory; also the name in the results.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Debug => "debug",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Args)]
pub struct PeerArgs {
    /// Repetitions of every scenario (each runs both sides, alternating which goes first).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub repeat: usize,
    /// Run only this scenario (repeatable; default: all).
    #[arg(long = "scenario", value_name = "NAME", value_parser = PossibleValuesParser::new(SCENARIOS))]
    pub scenario: Vec<String>,
    /// Scenarios to run, as names after the options (the same as --scenario).
    #[arg(value_name = "SCENARIO", value_parser = PossibleValuesParser::new(SCENARIOS))]
    pub scenarios: Vec<String>,
    /// A scenario variable for the mock server, on both sides, e.g. `calls=50` (repeatable).
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
    /// Run one side only.
    #[arg(long, value_enum, value_name = "SIDE")]
    pub only: Option<Side>,
    /// The peer harness (mock server, run_peer.py, scenarios) [default: ../shared/bench/peer-python].
    #[arg(long, value_name = "DIR", env = "AGENTD_PEER_DIR")]
    pub peer_dir: Option<PathBuf>,
    /// A Python with `openai-agents` and `websockets` [default: the first that has them of
    /// <peer-dir>/.venv, /tmp/peer-venv, python3].
    #[arg(long, value_name = "PY", env = "AGENTD_PEER_PYTHON")]
    pub python: Option<PathBuf>,
    /// The agentd binary to measure [default: the one this command builds].
    #[arg(long, value_name = "BIN")]
    pub agentd: Option<PathBuf>,
    /// Where results.jsonl (appended to) and summary.md go [default: bench/peer].
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Measure a release build of agentd (the default; the figures in BENCHMARKS.md).
    #[arg(long)]
    pub release: bool,
    /// Measure a debug build instead: a quick check of the benchmark itself, not a result.
    #[arg(long, conflicts_with = "release")]
    pub debug: bool,
    /// Build nothing: use the plugins and binaries as they are.
    #[arg(long)]
    pub no_build: bool,
}

impl PeerArgs {
    /// `--scenario` names, then positional ones; all of them when none is given.
    pub fn scenario_names(&self) -> Vec<String> {
        let named: Vec<String> = self
            .scenario
            .iter()
            .chain(&self.scenarios)
            .cloned()
            .collect();
        if named.is_empty() {
            SCENARIOS.iter().map(|s| s.to_string()).collect()
        } else {
            named
        }
    }
}

/// A peer run's settings, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub repeat: usize,
    pub scenarios: Vec<String>,
    pub vars: Vec<String>,
    pub only: Option<Side>,
    pub peer_dir: PathBuf,
    /// `None`: look for one (see [`super::reference_side::find_python`]).
    pub python: Option<PathBuf>,
    pub agentd: PathBuf,
    /// Whether `agentd` was given rather than built here.
    pub agentd_given: bool,
    pub out_dir: PathBuf,
    pub profile: Profile,
    pub build: bool,
}

impl From<PeerArgs> for Options {
    fn from(a: PeerArgs) -> Options {
        let profile = if a.debug {
            Profile::Debug
        } else {
            Profile::Release
        };
        Options {
            repeat: a.repeat,
            scenarios: a.scenario_names(),
            vars: a.vars,
            only: a.only,
            peer_dir: a
                .peer_dir
                .unwrap_or_else(|| root().join("..").join("shared/bench/peer-python")),
            python: a.python,
            agentd_given: a.agentd.is_some(),
            agentd: a
                .agentd
                .unwrap_or_else(|| target_dir().join(profile.name()).join("agentd")),
            out_dir: a
                .out_dir
                .unwrap_or_else(|| root().join("bench").join("peer")),
            profile,
            build: !a.no_build,
        }
    }
}

impl Options {
    /// `bench peer` arguments that parse back to these options (every default spelled out).
    pub fn to_args(&self) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> =
            vec!["--repeat".into(), self.repeat.to_string().into()];
        for s in &self.scenarios {
            args.extend(["--scenario".into(), s.into()]);
        }
        for v in &self.vars {
            args.extend(["--var".into(), v.into()]);
        }
        if let Some(side) = self.only {
            args.extend(["--only".into(), side.name().into()]);
        }
        args.extend(["--peer-dir".into(), self.peer_dir.clone().into_os_string()]);
        if let Some(py) = &self.python {
            args.extend(["--python".into(), py.clone().into_os_string()]);
        }
        args.extend(["--agentd".into(), self.agentd.clone().into_os_string()]);
        args.extend(["--out-dir".into(), self.out_dir.clone().into_os_string()]);
        args.push(match self.profile {
            Profile::Release => "--release".into(),
            Profile::Debug => "--debug".into(),
        });
        if !self.build {
            args.push("--no-build".into());
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        peer: PeerArgs,
    }

    fn parse<I: IntoIterator<Item = T>, T: Into<std::ffi::OsString> + Clone>(
        args: I,
    ) -> Result<PeerArgs, clap::Error> {
        let args: Vec<std::ffi::OsString> = std::iter::once("peer".into())
            .chain(args.into_iter().map(Into::into))
            .collect();
        Cli::try_parse_from(args).map(|c| c.peer)
    }

    #[test]
    fn defaults_are_those_of_the_old_driver() {
        let o = Options::from(parse::<[&str; 0], &str>([]).unwrap());
        assert_eq!(o.repeat, 3);
        assert_eq!(o.scenarios, SCENARIOS);
        assert!(o.vars.is_empty());
        assert_eq!(o.only, None);
        assert_eq!(o.profile, Profile::Release);
        assert!(o.build);
        assert!(!o.agentd_given);
        assert_eq!(o.agentd, target_dir().join("release").join("agentd"));
        assert_eq!(o.out_dir, root().join("bench/peer"));
    }

    #[test]
    fn options_survive_the_trip_to_the_release_driver() {
        for args in [
            &[][..],
            &["--debug", "--only", "reference", "approval", "handoff"][..],
            &[
                "--repeat",
                "1",
                "--scenario",
                "guardrail",
                "--var",
                "calls=50",
                "--var",
                "words=9",
                "--python",
                "/opt/py",
                "--agentd",
                "/opt/agentd",
                "--out-dir",
                "/tmp/out",
                "--peer-dir",
                "/srv/peer",
                "--no-build",
                "--release",
            ][..],
        ] {
            let o = Options::from(parse(args).unwrap());
            let back = Options::from(parse(o.to_args()).unwrap());
            // Given explicitly on the way back, so only that flag differs.
            assert_eq!(
                Options {
                    agentd_given: o.agentd_given,
                    ..back
                },
                o,
                "{args:?}"
            );
        }
    }

    #[test]
    fn bad_options_are_refused() {
        for args in [
            &["--repeat", "many"][..],
            &["no_such_scenario"][..],
            &["--scenario", "no_such_scenario"][..],
            &["--only", "both"][..],
            &["--release", "--debug"][..],
            &["--frobnicate"][..],
        ] {
            assert!(parse(args).is_err(), "{args:?} was accepted");
        }
    }
}
