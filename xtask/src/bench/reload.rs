//! `cargo xtask bench reload`: how soon a changed plugin serves after it is
//! renamed into place (the way `cargo xtask plugins` and editors replace
//! files), with the daemon's own file watcher (no SIGHUP, no API call).
//!
//! The plugin is `plugins/calc.wasm` with a custom section appended whose
//! payload differs per version (a new hash, the same tools). **Uncached**:
//! a payload never seen, so the daemon compiles it; the daemon's own
//! `component ready … elapsed_ms` log line gives that compile's time, to
//! compare with. **Cached**: alternating between two versions compiled
//! before, so each is a cache hit. Time: from just before the `rename(2)`
//! to the first `GET /v1/plugins` (polled every millisecond) that shows the
//! new hash. Results on stdout and appended to `bench/reload/results.jsonl`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use agentd_api::Client;
use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};

use crate::bench::child::Proc;
use crate::bench::measure::machine_state;
use crate::cargo::{cargo, root, status, target_dir};

/// `cargo xtask bench reload [OPTIONS]`.
#[derive(Debug, Clone, Args)]
pub struct ReloadArgs {
    /// Reloads measured of each kind.
    #[arg(long, default_value_t = 10)]
    pub repeat: usize,
    /// Measure this agentd binary [default: the release build].
    #[arg(long)]
    pub agentd: Option<PathBuf>,
    /// Use the plugins and binaries as they are.
    #[arg(long)]
    pub no_build: bool,
}

pub fn run(args: ReloadArgs) -> Result<ExitCode> {
    if !args.no_build {
        crate::plugins::plugins()?;
        if args.agentd.is_none() {
            status(cargo().current_dir(root()).args([
                "build",
                "--quiet",
                "--release",
                "-p",
                "agentd",
                "--bin",
                "agentd",
            ]))?;
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a tokio runtime")?;
    rt.block_on(drive(&args))?;
    Ok(ExitCode::SUCCESS)
}

/// `base` with a custom section `agentd-bench` holding `payload`.
fn variant(base: &[u8], payload: &[u8]) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    let name = b"agentd-bench";
    let mut body = Vec::new();
    leb(name.len(), &mut body);
    body.extend_from_slice(name);
    body.extend_from_slice(payload);
    let mut out = base.to_vec();
    out.push(0);
    leb(body.len(), &mut out);
    out.extend_from_slice(&body);
    out
}

fn replace(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("wasm.tmp");
    std::fs::write(&tmp, bytes).context("writing the new version")?;
    std::fs::rename(&tmp, path).context("renaming it into place")
}

async fn hash(client: &Client) -> Option<String> {
    let v: Value = client.get("/v1/plugins").await.ok()?;
    v.as_array()?
        .iter()
        .find(|p| p["name"] == "calc")?
        .get("hash")?
        .as_str()
        .map(str::to_string)
}

/// Rename `bytes` into place; ms until the served hash is no longer `old`.
async fn time_reload(
    client: &Client,
    path: &Path,
    bytes: &[u8],
    old: &str,
) -> Result<(f64, String)> {
    let t = Instant::now();
    replace(path, bytes)?;
    loop {
        if let Some(h) = hash(client).await
            && h != old
        {
            return Ok((t.elapsed().as_secs_f64() * 1e3, h));
        }
        if t.elapsed() > Duration::from_secs(30) {
            bail!("the new version did not serve within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The elapsed_ms of the last `component ready` line in the log.
fn last_compile_ms(log: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .rev()
        .find(|l| l.contains("component ready") && l.contains("Compiled"))
        .and_then(|l| l.split("elapsed_ms=").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

async fn drive(args: &ReloadArgs) -> Result<()> {
    let agentd = args
        .agentd
        .clone()
        .unwrap_or_else(|| target_dir().join("release").join("agentd"));
    let base =
        std::fs::read(root().join("plugins/calc.wasm")).context("reading plugins/calc.wasm")?;
    let dir = tempfile::tempdir().context("temp dir")?;
    let plugin = dir.path().join("calc.wasm");
    std::fs::write(&plugin, variant(&base, b"start")).context("writing the plugin")?;
    let socket = dir.path().join("agentd.sock");
    let config = dir.path().join("agents.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\nsocket = \"{}\"\nstate_dir = \"{}\"\n\n[plugins.calc]\npath = \"{}\"\n\n\
             [agents.a]\ninstructions = \"x\"\ntools = [\"calc.*\"]\n",
            socket.display(),
            dir.path().join("state").display(),
            plugin.display()
        ),
    )?;
    let log = dir.path().join("agentd.log");
    let child = Command::new(&agentd)
        .arg("--config")
        .arg(&config)
        .env("AGENTD_LOG", "warn,agentd::plugin::load=debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .context("starting agentd")?;
    let mut daemon = Proc {
        name: "agentd",
        child,
    };
    let client = Client::new(&socket);
    let by = Instant::now() + Duration::from_secs(120);
    let mut current = loop {
        if let Some(h) = hash(&client).await {
            break h;
        }
        if Instant::now() > by {
            bail!("agentd did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let (mut uncached, mut compile) = (Vec::new(), Vec::new());
    for i in 0..args.repeat {
        let bytes = variant(&base, format!("uncached {nonce} {i}").as_bytes());
        let (ms, h) = time_reload(&client, &plugin, &bytes, &current).await?;
        current = h;
        uncached.push(ms);
        compile.push(last_compile_ms(&log).unwrap_or(f64::NAN));
    }
    // Two versions, compiled once each, then alternated: cache hits.
    let a = variant(&base, format!("cached a {nonce}").as_bytes());
    let b = variant(&base, format!("cached b {nonce}").as_bytes());
    for v in [&a, &b] {
        current = time_reload(&client, &plugin, v, &current).await?.1;
    }
    let mut cached = Vec::new();
    for i in 0..args.repeat {
        let v = if i % 2 == 0 { &a } else { &b };
        let (ms, h) = time_reload(&client, &plugin, v, &current).await?;
        current = h;
        cached.push(ms);
    }
    daemon.stop();
    let rec = json!({
        "machine": machine_state(),
        "repeat": args.repeat,
        "uncached_ms": uncached,
        "compile_ms": compile,
        "cached_ms": cached,
        "uncached_median_ms": median(&mut uncached.clone()),
        "compile_median_ms": median(&mut compile.clone()),
        "uncached_minus_compile_median_ms": median(
            &mut uncached.iter().zip(&compile).map(|(u, c)| u - c).collect::<Vec<_>>()
        ),
        "cached_median_ms": median(&mut cached.clone()),
    });
    let out = root().join("bench/reload");
    std::fs::create_dir_all(&out)?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out.join("results.jsonl"))?;
    writeln!(f, "{rec}")?;
    println!(
        "hot reload by rename, {} each: uncached median {:.1} ms (its compile {:.1} ms; reload − compile median {:.1} ms), cached median {:.1} ms\n{rec}",
        args.repeat,
        rec["uncached_median_ms"].as_f64().unwrap_or(0.0),
        rec["compile_median_ms"].as_f64().unwrap_or(0.0),
        rec["uncached_minus_compile_median_ms"]
            .as_f64()
            .unwrap_or(0.0),
        rec["cached_median_ms"].as_f64().unwrap_or(0.0),
    );
    Ok(())
}
