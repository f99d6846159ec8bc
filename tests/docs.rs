//! Every `sh` block in docs/*.md runs, except blocks marked
//! `<!-- no-run: reason -->` on the line before them (with a reason). Each
//! page gets a fresh folder; its blocks run in order from that folder with
//! `bash -euo pipefail`, the `agentd` and `agentctl` just built first on
//! `PATH`. A block that fails, or a `no-run` marker without a reason, fails
//! the test with the page and line.

mod common;

use std::path::Path;
use std::process::Command;

/// A shell block of a page: its first line number and text, or why it is not run.
struct Block {
    line: usize,
    text: String,
    no_run: Option<String>,
}

fn blocks(page: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let lines: Vec<&str> = page.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "```sh" {
            let no_run = i
                .checked_sub(1)
                .and_then(|p| lines[p].trim().strip_prefix("<!-- no-run"))
                .map(|rest| {
                    rest.trim_start_matches(':')
                        .trim_end_matches("-->")
                        .trim()
                        .to_string()
                });
            let start = i + 1;
            let mut end = start;
            while end < lines.len() && lines[end].trim() != "```" {
                end += 1;
            }
            out.push(Block {
                line: start + 1,
                text: lines[start..end].join("\n"),
                no_run,
            });
            i = end;
        }
        i += 1;
    }
    out
}

#[test]
fn every_shell_command_in_the_docs_runs() {
    let docs = common::repo().join("docs");
    let bin = Path::new(env!("CARGO_BIN_EXE_agentd"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-new-target");
    let mut pages: Vec<_> = std::fs::read_dir(&docs)
        .expect("docs/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.sort();
    let mut ran = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        let work = tempfile::tempdir().unwrap();
        for b in blocks(&text) {
            let at = format!("{}:{}", page.display(), b.line);
            if let Some(reason) = &b.no_run {
                assert!(!reason.is_empty(), "{at}: a no-run block must say why");
                continue;
            }
            let out = Command::new("bash")
                .args(["-euo", "pipefail", "-c", &b.text])
                .current_dir(work.path())
                .env("PATH", &path)
                .env("CARGO_TARGET_DIR", &target)
                .output()
                .expect("run bash");
            assert!(
                out.status.success(),
                "{at} failed ({}):\n{}\nstdout:\n{}\nstderr:\n{}",
                out.status,
                b.text,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            ran += 1;
        }
    }
    assert!(
        ran >= 5,
        "only {ran} blocks ran: the docs lost their examples?"
    );
}

#[test]
fn blocks_and_markers_are_found() {
    let page = "x\n<!-- no-run: needs a key -->\n```sh\necho no\n```\n```sh\necho a\necho b\n```\n";
    let found = blocks(page);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].no_run.as_deref(), Some("needs a key"));
    assert_eq!(found[1].text, "echo a\necho b");
    assert_eq!(found[1].line, 7);
    assert!(found[1].no_run.is_none());
}
