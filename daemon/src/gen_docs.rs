//! Man pages and shell completions from a binary's clap definition, written
//! by its hidden `gen-docs` subcommand (`cargo xtask docs` runs both
//! binaries'). Shared by `agentd` and `agentctl` as a source file, not
//! through the library: agentctl links only the API crate.

use std::path::Path;

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
