//! `cargo xtask docs`: the generated documentation, written into `docs/`:
//! - `docs/api/openapi.yaml`, from the API crate's route table and types;
//! - `docs/man/*.1` and `docs/completions/` (bash, zsh, fish) for `agentd`
//!   and `agentctl`, from their clap definitions (each binary's hidden
//!   `gen-docs` subcommand writes its own).
//!
//! `tests/docs.rs` fails when any of them is stale.

use std::process::Command;

use anyhow::{Context, Result};

use crate::cargo::{cargo, root, status, target_dir};

pub fn docs() -> Result<()> {
    let docs = root().join("docs");
    let api = docs.join("api");
    std::fs::create_dir_all(&api).with_context(|| format!("creating {}", api.display()))?;
    let openapi = api.join("openapi.yaml");
    std::fs::write(&openapi, agentd_api::openapi::yaml())
        .with_context(|| format!("writing {}", openapi.display()))?;
    eprintln!("xtask: wrote {}", openapi.display());
    status(
        cargo()
            .current_dir(root())
            .args(["build", "--quiet", "-p", "agentd", "--bins"]),
    )?;
    for bin in ["agentd", "agentctl"] {
        status(
            Command::new(target_dir().join("debug").join(bin))
                .args(["gen-docs", "--out"])
                .arg(&docs),
        )?;
    }
    eprintln!(
        "xtask: wrote {} and {}",
        docs.join("man").display(),
        docs.join("completions").display()
    );
    Ok(())
}
