//! Shared helpers for the end-to-end tests: start the real `agentd` binary on
//! a temporary socket and state dir, talk to it over the control socket.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod puppet;

use agentd_api::Client;
use serde_json::Value;
use tokio::sync::mpsc;

/// The repository root.
pub fn repo() -> PathBuf {
    let up = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::canonicalize(&up).unwrap_or(up)
}

fn built(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: build the wasm components first with `cargo xtask plugins` (the README's test command does)",
        path.display()
    );
    path
}

/// An example plugin built by `cargo xtask plugins`.
pub fn plugin(name: &str) -> PathBuf {
    built(repo().join("plugins").join(format!("{name}.wasm")))
}

/// A test fixture plugin built by `cargo xtask plugins`.
pub fn fixture(name: &str) -> PathBuf {
    built(
        repo()
            .join("tests")
            .join("fixtures")
            .join(format!("{name}.wasm")),
    )
}

/// Write `bytes` to `path` atomically (temp file + rename), as tools do.
pub fn replace_file(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, bytes).expect("write temp file");
    std::fs::rename(&tmp, path).expect("rename into place");
}

/// Poll `check` every 100 ms until it returns true; panics after 30 s.
pub async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The compiled-component cache shared by every test daemon.
pub fn shared_cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("agentd-plugin-cache")
}

/// A running agentd, killed when dropped.
pub struct TestDaemon {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub config: PathBuf,
    /// The `[daemon]` table written above the body.
    header: String,
    child: Child,
}

impl TestDaemon {
    /// Start agentd with `[daemon]` pointed at a temp dir plus `body` (the rest of agents.toml).
    pub async fn start(body: &str) -> TestDaemon {
        Self::start_full("", body, &[]).await
    }

    /// Like [`TestDaemon::start`], with extra environment variables for agentd.
    pub async fn start_with_env(body: &str, env: &[(&str, &str)]) -> TestDaemon {
        Self::start_full("", body, env).await
    }

    /// Like [`TestDaemon::start`], with extra `[daemon]` keys (one per line).
    pub async fn start_with(daemon_keys: &str, body: &str) -> TestDaemon {
        Self::start_full(daemon_keys, body, &[]).await
    }

    /// Start with extra `[daemon]` keys and extra environment variables.
    pub async fn start_full(daemon_keys: &str, body: &str, env: &[(&str, &str)]) -> TestDaemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("agentd.sock");
        let config = dir.path().join("agents.toml");
        // One compiled-plugin cache for all test daemons: each plugin is
        // compiled once per test run instead of once per daemon.
        let header = format!(
            "[daemon]\nsocket = \"{}\"\nstate_dir = \"{}\"\ncache_dir = \"{}\"\n{daemon_keys}\n\n",
            socket.display(),
            dir.path().join("state").display(),
            shared_cache_dir().display()
        );
        std::fs::write(&config, format!("{header}{body}")).expect("write config");
        let log = std::fs::File::create(dir.path().join("agentd.log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_agentd"))
            .arg("--config")
            .arg(&config)
            .env("AGENTD_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn agentd");
        let mut d = TestDaemon {
            dir,
            socket,
            config,
            header,
            child,
        };
        d.wait_ready().await;
        d
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("agentd exited early ({status}):\n{}", self.log());
            }
            if self.socket.exists() && self.client().get::<Value>("/v1/status").await.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "agentd did not become ready:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Replace agents.toml (same `[daemon]` table, new `body`) the way an
    /// editor does: write a temporary file, then rename it over the old one.
    pub fn rewrite_config(&self, body: &str) {
        replace_file(&self.config, format!("{}{body}", self.header).as_bytes());
    }

    /// Lines of agents.toml before `body` starts (to compute error positions).
    pub fn header_lines(&self) -> usize {
        self.header.lines().count()
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send the daemon signal `sig` (SIGTERM, SIGHUP…).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill with a valid pid and signal number has no memory effects.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Wait up to `within` for the daemon to exit; its status, if it did.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the daemon process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// What agentd wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agentd.log")).unwrap_or_default()
    }

    /// A control client for this daemon.
    pub fn client(&self) -> Client {
        Client::new(&self.socket)
    }

    /// Run `agentctl` against this daemon; returns (success, stdout, stderr).
    pub fn agentctl(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_agentctl"))
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run agentctl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Start a session of `agent`; returns its id.
    pub async fn start_session(&self, agent: &str) -> String {
        let started: Value = self
            .client()
            .post("/v1/sessions", &serde_json::json!({ "agent": agent }))
            .await
            .expect("start session");
        started["id"].as_str().expect("session id").to_string()
    }

    /// Send a user text message.
    pub async fn send(&self, session: &str, text: &str) {
        let _: Value = self
            .client()
            .post(
                &format!("/v1/sessions/{session}/messages"),
                &serde_json::json!({ "text": text }),
            )
            .await
            .expect("send message");
    }

    /// Follow a session's events from the start.
    pub fn watch(&self, session: &str) -> Events {
        let (tx, rx) = mpsc::unbounded_channel();
        let client = self.client();
        let path = format!("/v1/sessions/{session}/events?since=0&follow=1");
        tokio::spawn(async move {
            let _ = client.stream(&path, |ev| tx.send(ev).is_ok()).await;
        });
        Events {
            rx,
            seen: Vec::new(),
        }
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A live event stream with everything received so far.
pub struct Events {
    rx: mpsc::UnboundedReceiver<Value>,
    pub seen: Vec<Value>,
}

impl Events {
    /// Receive until an event satisfies `pred`; returns it. Panics after 30 s with what was seen.
    pub async fn until(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(ev)) => {
                    self.seen.push(ev.clone());
                    if pred(&ev) {
                        return ev;
                    }
                }
                Ok(None) => panic!("event stream ended before {what}; saw:\n{}", self.summary()),
                Err(_) => panic!("timed out waiting for {what}; saw:\n{}", self.summary()),
            }
        }
    }

    /// Receive until an event of type `kind` whose fields match `fields`.
    pub async fn until_type(&mut self, kind: &str, fields: &[(&str, &str)]) -> Value {
        let what = format!("{kind} {fields:?}");
        self.until(&what, |ev| {
            ev["type"] == kind && fields.iter().all(|(k, v)| ev[*k].as_str() == Some(v))
        })
        .await
    }

    /// Like [`Events::until_type`], but an event already seen counts too: for
    /// events that race each other (a tool's events come from the session's
    /// executor, the model's from the session task).
    pub async fn seen_or_until(&mut self, kind: &str, fields: &[(&str, &str)]) -> Value {
        let matches = |ev: &Value| {
            ev["type"] == kind && fields.iter().all(|(k, v)| ev[*k].as_str() == Some(v))
        };
        if let Some(ev) = self.seen.iter().find(|e| matches(e)) {
            return ev.clone();
        }
        self.until_type(kind, fields).await
    }

    /// Wait for the next call that asks for approval; its call id.
    pub async fn approval_asked(&mut self) -> String {
        self.until_type("tool_approval_required", &[]).await["call_id"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// How many events of type `kind` were seen.
    pub fn count(&self, kind: &str) -> usize {
        self.seen.iter().filter(|e| e["type"] == kind).count()
    }

    /// Types of the non-raw events seen, in order.
    pub fn types(&self) -> Vec<String> {
        self.seen
            .iter()
            .filter(|e| {
                e["type"] != "raw_model_event"
                    && e["type"] != "audio"
                    && e["type"] != "transcript_delta"
            })
            .map(|e| e["type"].as_str().unwrap_or("").to_string())
            .collect()
    }

    /// The assistant transcript streamed for `item_id`.
    pub fn transcript(&self, item_id: &str) -> String {
        self.seen
            .iter()
            .filter(|e| e["type"] == "transcript_delta" && e["item_id"] == item_id)
            .filter_map(|e| e["delta"].as_str())
            .collect()
    }

    /// Full transcript of the last assistant reply seen.
    pub fn last_reply(&self) -> String {
        let Some(last) = self
            .seen
            .iter()
            .rev()
            .find(|e| e["type"] == "transcript_delta")
            .and_then(|e| e["item_id"].as_str())
        else {
            return String::new();
        };
        self.transcript(last)
    }

    fn summary(&self) -> String {
        self.seen
            .iter()
            .filter(|e| e["type"] != "raw_model_event" && e["type"] != "audio")
            .map(|e| {
                let mut e = e.clone();
                if let Some(o) = e.as_object_mut() {
                    o.remove("time_ms");
                    o.remove("session");
                }
                e.to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Position of the first event of type `kind` matching `fields`; panics when absent.
pub fn position(events: &[Value], kind: &str, fields: &[(&str, &str)]) -> usize {
    events
        .iter()
        .position(|ev| ev["type"] == kind && fields.iter().all(|(k, v)| ev[*k].as_str() == Some(v)))
        .unwrap_or_else(|| panic!("no {kind} {fields:?} event"))
}
