//! The docs are true to the code:
//! - the generated docs (docs/api/openapi.yaml, man pages, completions) are
//!   fresh, and the OpenAPI description and the server agree: every route it
//!   describes is answered, and every route the server answers is described;
//! - every `sh` block in docs/*.md runs, except blocks marked
//!   `<!-- no-run: reason -->` on the line before them (with a reason). Each
//!   page gets a fresh folder; its blocks run in order from that folder with
//!   `bash -euo pipefail`, the `agentd` and `agentctl` just built first on
//!   `PATH`. A block that fails, or a `no-run` marker without a reason, fails
//!   the test with the page and line.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use agentd_api::client::Method;
use common::{TestDaemon, repo};
use serde_json::Value;

#[test]
fn openapi_yaml_is_fresh() {
    let path = repo().join("docs/api/openapi.yaml");
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == agentd_api::openapi::yaml(),
        "{} is stale: run `cargo xtask docs`",
        path.display()
    );
    let doc = agentd_api::openapi::document();
    assert_eq!(doc["openapi"], "3.1.0");
}

/// Every file under `dir`, by path relative to it.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for sub in ["man", "completions"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = format!("{sub}/{}", e.file_name().to_string_lossy());
            out.insert(name, std::fs::read(e.path()).unwrap_or_default());
        }
    }
    out
}

#[test]
fn man_pages_and_completions_are_fresh() {
    let tmp = tempfile::tempdir().unwrap();
    for bin in [env!("CARGO_BIN_EXE_agentd"), env!("CARGO_BIN_EXE_agentctl")] {
        let out = Command::new(bin)
            .args(["gen-docs", "--out"])
            .arg(tmp.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{bin} gen-docs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let generated = files(tmp.path());
    for want in [
        "man/agentd.1",
        "man/agentd-check.1",
        "man/agentctl.1",
        "man/agentctl-drain.1",
        "completions/agentd.bash",
        "completions/_agentd",
        "completions/agentd.fish",
        "completions/agentctl.bash",
        "completions/_agentctl",
        "completions/agentctl.fish",
    ] {
        assert!(generated.contains_key(want), "{want} not generated");
    }
    let page = String::from_utf8_lossy(&generated["man/agentd.1"]);
    assert!(page.contains("socket"), "{page}");
    let committed = files(&repo().join("docs"));
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&committed),
        names(&generated),
        "docs/man or docs/completions is stale: run `cargo xtask docs`"
    );
    for (name, bytes) in &generated {
        assert!(
            committed.get(name) == Some(bytes),
            "docs/{name} is stale: run `cargo xtask docs`"
        );
    }
}

/// The router's own "no such route" answers, as opposed to a handler's
/// (`no session \`x\``, a bad body…).
fn unrouted(err: &agentd_api::client::ClientError) -> bool {
    match err {
        agentd_api::client::ClientError::Api {
            status, message, ..
        } => *status == 405 || (*status == 404 && message.starts_with("no route for")),
        _ => false,
    }
}

/// The outcome of `method path` on the daemon: true when the router took it.
async fn routed(d: &TestDaemon, method: &Method, path: &str) -> bool {
    let r: Result<Value, _> = d
        .client()
        .call(method.clone(), path, Some(&serde_json::json!({})))
        .await;
    match r {
        Ok(_) => true,
        Err(e) => !unrouted(&e),
    }
}

/// Whether the description has `method url`: a path pattern that matches
/// `url` (a `{name}` matches any one segment) with that method.
fn described(paths: &serde_json::Map<String, Value>, method: &Method, url: &str) -> bool {
    let segs: Vec<&str> = url.split('/').collect();
    paths.iter().any(|(pattern, ops)| {
        let want: Vec<&str> = pattern.split('/').collect();
        want.len() == segs.len()
            && want
                .iter()
                .zip(&segs)
                .all(|(w, s)| w.starts_with('{') || w == s)
            && ops.get(method.as_str().to_ascii_lowercase()).is_some()
    })
}

#[tokio::test]
async fn the_description_and_the_router_agree() {
    let d = TestDaemon::start("[agents.a]\ninstructions = \"x\"\n").await;
    let doc = agentd_api::openapi::document();
    let paths = doc["paths"].as_object().expect("paths");
    // Path parameters filled with a placeholder: a handler may say the id
    // is unknown, but the router must take the route.
    let concrete = |p: &str| {
        p.split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    };
    let methods = [
        Method::GET,
        Method::POST,
        Method::DELETE,
        Method::PUT,
        Method::PATCH,
    ];
    let mut checked = 0;
    // Drain last: it stops the daemon.
    let mut order: Vec<(&String, &Value)> = paths.iter().collect();
    order.sort_by_key(|(p, _)| p.as_str() == "/v1/drain");
    for (path, _) in order {
        let url = concrete(path);
        for m in &methods {
            let described = described(paths, m, &url);
            if m == Method::POST && path == "/v1/drain" {
                // Probed once, last, below.
                continue;
            }
            let answered = routed(&d, m, &url).await;
            assert_eq!(
                answered, described,
                "{m} {path}: answered {answered}, described {described}"
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} probes");
    assert!(routed(&d, &Method::POST, "/v1/drain").await);
    // A path outside the description is not answered either.
    assert!(!routed(&d, &Method::GET, "/v1/nothing").await);
    assert!(!routed(&d, &Method::GET, "/v2/status").await);
}

// Shell blocks of docs/*.md.

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
    let docs = repo().join("docs");
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
