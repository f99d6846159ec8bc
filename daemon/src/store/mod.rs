//! The journal: an SQLite file (`<state_dir>/journal.sqlite3`) recording each
//! session, every tool call with the decision taken on it, every approval
//! decision and every result — the audit trail an operator reads with
//! `agentctl audit`.
//!
//! Two connections, each owned by its own OS thread (SQLite is blocking I/O
//! and must stay off the async reactor); everyone else holds a cheap
//! [`Journal`] handle and sends them requests:
//! - the [`writer`] commits records; [`Journal::record`] resolves once its
//!   record is committed, so a session can journal a decision *before* acting
//!   on it. Writes that arrive together are committed in one transaction;
//! - the [`reader`], a read-only connection, answers [`Journal::audit`]. A
//!   large query never delays the writer that tool calls wait on, and a read
//!   still sees every record handed to the journal before it (including every
//!   `record()` that has resolved): it first waits for the writer to commit
//!   what came before, which costs the read a commit at most.
//!
//! Audit reads are bounded: `limit` is clamped to 1..=[`MAX_AUDIT_LIMIT`].
//!
//! The file runs in WAL mode with `synchronous = NORMAL` by default: a
//! committed record survives a daemon crash (the process being killed); a
//! power cut may lose the last few. `[daemon] journal_sync = "full"` makes it
//! `synchronous = FULL`: an fsync per commit, and a commit survives a power
//! cut too. WAL is also
//! what lets the reader read while the writer commits. The schema version
//! lives in `PRAGMA user_version` and is migrated forward on open ([`schema`]).

mod reader;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use reader::ReadOp;
pub use schema::schema_version;
use writer::WriteOp;

/// Why the journal could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("journal {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("journal write failed: {0}")]
    Write(String),
    #[error("journal query failed: {0}")]
    Query(String),
    #[error("the journal is closed")]
    Closed,
}

/// The most tool calls one [`Journal::audit`] returns, whatever it asks for:
/// a read holds a snapshot (and its rows in memory) while it runs.
pub const MAX_AUDIT_LIMIT: usize = 1000;

/// How often the daemon prunes the journal to its `[journal]` retention.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// How long a connection waits for a lock held by the other one (e.g. during
/// a WAL checkpoint) before the operation fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Something worth remembering.
#[derive(Debug, Clone)]
pub enum Record {
    SessionStarted {
        session: String,
        agent: String,
        model: String,
    },
    SessionEnded {
        session: String,
        reason: String,
    },
    /// A tool call and what was decided: `allow`, `ask`, `deny` and why, or
    /// `refused (…)` when its arguments did not match the tool's schema.
    ToolCall {
        session: String,
        call_id: String,
        agent: String,
        tool: String,
        arguments: String,
        decision: String,
        /// Hex SHA-256 of the plugin component.
        plugin_hash: String,
    },
    /// A decision on a pending call: by a person, by a remembered answer, or
    /// by the timeout.
    Approval {
        session: String,
        call_id: String,
        approved: bool,
        always: bool,
        /// Who: `uid:1000 (alice)`, `token:ops`, `timeout`, `policy`.
        decided_by: String,
        /// The reason the person gave.
        reason: Option<String>,
        /// How long the call waited (ms).
        latency_ms: u64,
    },
    /// How a call ended and what the model was told.
    ToolResult {
        session: String,
        call_id: String,
        outcome: String,
        output: String,
    },
    /// A conversation item in its final form (written when the session ends).
    Item {
        session: String,
        item_id: String,
        role: String,
        kind: String,
        content: String,
    },
    /// Guardrails tripped.
    GuardrailTrip {
        session: String,
        direction: String,
        guardrails: String,
        message: String,
    },
    /// A phone or browser call: created on its first record, its outcome
    /// (`accepted`, `rejected 486`, `transferred to tel:…`, `hung up by …`)
    /// replaced by each later one; `ended` stamps its end.
    Call {
        call_id: String,
        channel: String,
        caller: Option<String>,
        callee: Option<String>,
        agent: Option<String>,
        session: Option<String>,
        outcome: String,
        ended: bool,
    },
    /// A reload and the hash of the config serving after it.
    Reload {
        outcome: String,
        config_hash: String,
        detail: String,
    },
    /// An answer kept for an agent across sessions, while its policy is the
    /// one with `policy_hash`.
    Remember {
        agent: String,
        tool: String,
        policy_hash: String,
        approve: bool,
        decided_by: String,
    },
    /// Remembered answers dropped: of `agent`, for `tool` or all its tools.
    Forget {
        agent: String,
        tool: Option<String>,
    },
}

/// What `agentctl audit` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub session: Option<String>,
    /// A tool pattern (`pay.*`); matched like approval rules' patterns.
    pub tool: Option<String>,
    /// Calls decided at or after this time (ms since the epoch).
    pub since_ms: Option<u64>,
    /// Clamped to 1..=[`MAX_AUDIT_LIMIT`].
    pub limit: usize,
}

/// How much of the journal to keep (`[journal]`); `None` keeps everything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Sessions that ended longer ago than this are pruned with their records.
    pub max_age: Option<Duration>,
    /// Beyond this many bytes of data, the oldest ended sessions are pruned.
    pub max_size: Option<u64>,
}

/// What one pruning removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub sessions: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

// Defined once, in the control API crate, because the API carries it.
pub use agentd_api::audit::{
    AuditApproval, AuditCall, GuardrailTrip, JournalItem, JournalSession, RememberedAnswer,
};

/// A record's commit, from [`Journal::submit`].
pub struct Committed {
    rx: oneshot::Receiver<Result<(), StoreError>>,
    sent: bool,
}

impl Future for Committed {
    type Output = Result<(), StoreError>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        if !self.sent {
            return std::task::Poll::Ready(Err(StoreError::Closed));
        }
        std::pin::Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(StoreError::Closed)))
    }
}

/// A handle to the journal; clone it freely.
#[derive(Clone)]
pub struct Journal {
    writes: std_mpsc::Sender<WriteOp>,
    reads: std_mpsc::Sender<ReadOp>,
    /// A temporary journal's folder, removed once the last handle and both
    /// connections are gone.
    _scratch: Option<Arc<Scratch>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Journal")
    }
}

/// A private temporary folder holding a journal; removed when dropped.
#[derive(Debug)]
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Journal {
    /// Open (creating and migrating as needed) the journal at `path`.
    pub fn open(path: &Path) -> Result<Journal, StoreError> {
        Self::open_synced(path, crate::config::JournalSync::Normal)
    }

    /// Like [`Journal::open`], with the durability `[daemon] journal_sync` asks.
    pub fn open_synced(
        path: &Path,
        sync: crate::config::JournalSync,
    ) -> Result<Journal, StoreError> {
        Self::start(path, None, sync)
    }

    /// A journal of its own that disappears with its last handle, for tests
    /// and for running without a state dir.
    ///
    /// It is a file in a private temporary folder, not an SQLite `:memory:`
    /// database: the reader needs a second connection to the same data, and a
    /// shared-cache in-memory database has no WAL — there a reader's open
    /// transaction locks the tables and the writer fails with
    /// `SQLITE_LOCKED` — so it would neither behave like the real journal nor
    /// keep reads from holding up writes.
    pub fn in_memory() -> Result<Journal, StoreError> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = std::env::temp_dir().join(format!(
            "agentd-journal-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let path = dir.join("journal.sqlite3");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| StoreError::Open {
                path: path.clone(),
                reason: format!("cannot create its temporary folder: {e}"),
            })?;
        Self::start(
            &path,
            Some(Arc::new(Scratch(dir))),
            crate::config::JournalSync::Normal,
        )
    }

    fn start(
        path: &Path,
        scratch: Option<Arc<Scratch>>,
        sync: crate::config::JournalSync,
    ) -> Result<Journal, StoreError> {
        let open_err = |reason: String| StoreError::Open {
            path: path.to_path_buf(),
            reason,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| open_err(format!("cannot create its folder: {e}")))?;
        }
        let writer = Connection::open(path).map_err(|e| open_err(e.to_string()))?;
        // Tool arguments may be private: only the daemon's user reads the file.
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        (|| -> rusqlite::Result<()> {
            writer.pragma_update(None, "journal_mode", "WAL")?;
            let level = match sync {
                crate::config::JournalSync::Normal => "NORMAL",
                crate::config::JournalSync::Full => "FULL",
            };
            writer.pragma_update(None, "synchronous", level)?;
            writer.busy_timeout(BUSY_TIMEOUT)?;
            schema::migrate(&writer)
        })()
        .map_err(|e| open_err(e.to_string()))?;
        // Opened once the file is in WAL mode and has its schema.
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|c| c.busy_timeout(BUSY_TIMEOUT).map(|()| c))
        .map_err(|e| open_err(format!("cannot open it for reading: {e}")))?;

        let (writes, write_ops) = std_mpsc::channel();
        let held = scratch.clone();
        std::thread::Builder::new()
            .name("agentd-journal".into())
            .spawn(move || {
                writer::run(writer, write_ops);
                drop(held);
            })
            .map_err(|e| open_err(format!("cannot start its writer thread: {e}")))?;
        let (reads, read_ops) = std_mpsc::channel();
        let held = scratch.clone();
        std::thread::Builder::new()
            .name("agentd-journal-read".into())
            .spawn(move || {
                reader::run(reader, read_ops);
                drop(held);
            })
            .map_err(|e| open_err(format!("cannot start its reader thread: {e}")))?;
        Ok(Journal {
            writes,
            reads,
            _scratch: scratch,
        })
    }

    /// Hand `op` to the writer thread, counted in the queue-depth gauge
    /// until the writer takes it.
    fn send_op(&self, op: WriteOp) -> Result<(), StoreError> {
        let queue = &crate::metrics::metrics().journal_queue;
        queue.inc();
        self.writes.send(op).map_err(|_| {
            queue.dec();
            StoreError::Closed
        })
    }

    /// Write a record; resolves once it is committed.
    pub async fn record(&self, record: Record) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.send_op(WriteOp::Write(record, now_ms(), Some(tx)))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Hand a record to the writer now (so it keeps its place after every
    /// record sent before it) and get a future that resolves once it is
    /// committed. Dropping the future does not cancel the write.
    pub fn submit(&self, record: Record) -> Committed {
        let (tx, rx) = oneshot::channel();
        let sent = self
            .send_op(WriteOp::Write(record, now_ms(), Some(tx)))
            .is_ok();
        Committed { rx, sent }
    }

    /// Write a record without waiting for the commit (for facts already acted on).
    pub fn record_later(&self, record: Record) {
        if self
            .send_op(WriteOp::Write(record, now_ms(), None))
            .is_err()
        {
            tracing::error!("journal is closed; a record was lost");
        }
    }

    /// Tool calls, newest first, as `filter` selects; at most `limit` of
    /// them, clamped to 1..=[`MAX_AUDIT_LIMIT`].
    pub async fn audit(&self, filter: AuditFilter) -> Result<Vec<AuditCall>, StoreError> {
        let filter = AuditFilter {
            limit: filter.limit.clamp(1, MAX_AUDIT_LIMIT),
            ..filter
        };
        self.read(|reply| ReadOp::Audit { filter, reply }).await
    }

    /// A session's record and its conversation; `None` if the journal has
    /// no such session.
    pub async fn session(&self, session: &str) -> Result<Option<JournalSession>, StoreError> {
        let session = session.to_string();
        self.read(|reply| ReadOp::Session { session, reply }).await
    }

    /// The answer remembered for `agent`'s calls of `tool`, if it was given
    /// under the policy whose fingerprint is `policy_hash`.
    pub async fn remembered(
        &self,
        agent: &str,
        tool: &str,
        policy_hash: &str,
    ) -> Result<Option<RememberedAnswer>, StoreError> {
        let (agent, tool) = (agent.to_string(), tool.to_string());
        let list = self
            .read(|reply| ReadOp::Remembered {
                agent: Some(agent),
                tool: Some(tool),
                reply,
            })
            .await?;
        Ok(list
            .into_iter()
            .next()
            .map(|(answer, hash)| RememberedAnswer {
                current: hash == policy_hash,
                ..answer
            })
            .filter(|a| a.current))
    }

    /// Every remembered answer (of one agent), with the fingerprint of the
    /// policy it was given under.
    pub async fn remembered_all(
        &self,
        agent: Option<&str>,
    ) -> Result<Vec<(RememberedAnswer, String)>, StoreError> {
        let agent = agent.map(str::to_string);
        self.read(|reply| ReadOp::Remembered {
            agent,
            tool: None,
            reply,
        })
        .await
    }

    /// Drop records of sessions past `retention`, on the writer thread in
    /// small transactions (tool calls waiting on the writer get their turn
    /// between them); resolves when done.
    pub async fn prune(&self, retention: Retention) -> Result<Pruned, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send_op(WriteOp::Prune(retention, reply))
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Resolves once everything handed to the writer before it is committed
    /// (on shutdown: nothing recorded so far is lost).
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (done, flushed) = oneshot::channel();
        self.send_op(WriteOp::Flush(done))
            .map_err(|_| StoreError::Closed)?;
        flushed.await.map_err(|_| StoreError::Closed)
    }

    /// Send a read once everything handed to the writer before it is
    /// committed, so the answer includes it (`record_later` too). The
    /// writer never waits for the read, only the read for that commit.
    async fn read<T>(
        &self,
        op: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> ReadOp,
    ) -> Result<T, StoreError> {
        let (done, flushed) = oneshot::channel();
        self.send_op(WriteOp::Flush(done))
            .map_err(|_| StoreError::Closed)?;
        flushed.await.map_err(|_| StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        self.reads.send(op(reply)).map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Tests: open a read transaction on the reader and keep it open until
    /// the returned sender is used or dropped.
    #[cfg(test)]
    async fn hold_reader(&self) -> std_mpsc::Sender<()> {
        let (held, is_held) = oneshot::channel();
        let (release, on_release) = std_mpsc::channel();
        self.reads
            .send(ReadOp::Hold {
                held,
                release: on_release,
            })
            .expect("reader thread");
        is_held.await.expect("reader held a transaction");
        release
    }
}

#[cfg(test)]
mod tests;
