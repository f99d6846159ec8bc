//! Man pages and shell completions from a binary's clap definition, written
//! when it is run as `BIN gen-docs --out DIR` (what `cargo xtask docs`
//! does). That word is looked at before the binary's own arguments are
//! parsed, so it is no subcommand of theirs and shows in no page or
//! completion. Shared by `agentd` and `agentctl` as a source file, not
//! through the library: agentctl links only the API crate.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap_complete::Shell;

/// Write `<out>/man/<name>*.1` (one page per visible subcommand) and
/// `<out>/completions/` for bash, zsh and fish.
pub fn write(mut cmd: clap::Command, out: &Path) -> std::io::Result<()> {
    let name = cmd.get_name().to_string();
    let man = out.join("man");
    let completions = out.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    // Pages carry no build date, so regenerating unchanged definitions
    // gives the same files.
    clap_mangen::generate_to(cmd.clone(), &man)?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cmd, &name, &completions)?;
    }
    Ok(())
}

/// When the arguments are `gen-docs --out DIR`: write `cmd`'s docs there
/// and return the exit code; otherwise `None`.
pub fn from_args(cmd: clap::Command) -> Option<ExitCode> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_none_or(|a| a != "gen-docs") {
        return None;
    }
    let name = cmd.get_name().to_string();
    let out = match args.as_slice() {
        [_, flag, dir] if flag == "--out" => PathBuf::from(dir),
        _ => {
            eprintln!("usage: {name} gen-docs --out DIR");
            return Some(ExitCode::from(2));
        }
    };
    Some(match write(cmd, &out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: cannot write the docs to {}: {e}", out.display());
            ExitCode::FAILURE
        }
    })
}
