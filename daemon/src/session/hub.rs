//! The daemon-wide side of session events: one live stream of every
//! session's events (`GET /v1/events?follow=1`), and the memory budget all
//! sessions' kept events share (`[daemon] event_memory`).
//!
//! Publishing only adds to a counter. When the total passes the budget (or
//! one session's log passes its own share, [`super::events::SESSION_MEMORY`]),
//! a sweeper thread (not the session, which is never slowed by it) moves the
//! oldest events of the biggest logs to their spill files until the total
//! is back under three quarters of the budget; spilled events are still
//! served from disk to `?since=N` and to subscribers that fell behind.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak, mpsc};

use tokio::sync::broadcast;

use super::events::{EventBus, Logged};

/// `[daemon] event_memory` when the file names none.
pub const DEFAULT_EVENT_MEMORY: usize = 256 << 20;

/// Daemon-wide event state. Cheap to clone.
#[derive(Clone)]
pub struct EventHub(Arc<Inner>);

struct Inner {
    live: broadcast::Sender<Arc<Logged>>,
    budget: usize,
    used: AtomicIsize,
    spill_dir: Option<PathBuf>,
    buses: Mutex<Vec<Weak<EventBus>>>,
    registered: AtomicUsize,
    /// One sweep at a time (the sweeper thread or [`EventHub::sweep_now`]).
    sweeping: Mutex<()>,
    wake: mpsc::SyncSender<()>,
}

impl Default for EventHub {
    /// The default budget and no spill folder (events over it are dropped).
    fn default() -> Self {
        EventHub::new(DEFAULT_EVENT_MEMORY, None)
    }
}

impl EventHub {
    /// A hub keeping at most about `budget` bytes of events in memory,
    /// spilling older ones under `spill_dir` (dropping them without one).
    pub fn new(budget: usize, spill_dir: Option<PathBuf>) -> EventHub {
        // Large: one stream for the whole daemon; one that lags re-reads logs.
        let (live, _) = broadcast::channel(8192);
        let (wake, woken) = mpsc::sync_channel(1);
        let inner = Arc::new(Inner {
            live,
            budget: budget.max(1),
            used: AtomicIsize::new(0),
            spill_dir,
            buses: Mutex::new(Vec::new()),
            registered: AtomicUsize::new(0),
            sweeping: Mutex::new(()),
            wake,
        });
        let weak = Arc::downgrade(&inner);
        let spawned = std::thread::Builder::new()
            .name("agentd-events".into())
            .spawn(move || {
                // Ends when the hub is dropped (the sender goes with it).
                while woken.recv().is_ok() {
                    let Some(inner) = weak.upgrade() else { return };
                    sweep(&inner);
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the event sweeper; events over the budget stay in memory");
        }
        EventHub(inner)
    }

    /// Remove spill files a previous run left (they name sessions that are gone).
    pub fn clear_spill_dir(dir: &Path) -> std::io::Result<()> {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::fs::create_dir_all(dir)
    }

    /// The file `session`'s spilled events go to, if spilling is on.
    pub(super) fn spill_path(&self, session: &str) -> Option<PathBuf> {
        let safe: String = session
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.0
            .spill_dir
            .as_ref()
            .map(|d| d.join(format!("{safe}.ndjson")))
    }

    pub(super) fn register(&self, bus: &Arc<EventBus>) {
        let mut buses = self.0.buses.lock().unwrap_or_else(|p| p.into_inner());
        // Forget ended sessions now and then, so the list stays as long as the live ones.
        if self.0.registered.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
            buses.retain(|w| w.strong_count() > 0);
        }
        buses.push(Arc::downgrade(bus));
    }

    /// A new event, for the daemon-wide stream.
    pub(super) fn publish(&self, logged: Arc<Logged>) {
        // No receivers is fine: nobody is watching.
        let _ = self.0.live.send(logged);
    }

    /// `delta` bytes were added to (or, negative, removed from) the logs;
    /// `sweep` asks for a sweep whatever the total (a log holds too many events).
    pub(super) fn used(&self, delta: isize, sweep: bool) {
        let now = self.0.used.fetch_add(delta, Ordering::Relaxed) + delta;
        if sweep || (delta > 0 && now > self.0.budget as isize) {
            // Full means a sweep is already asked for.
            let _ = self.0.wake.try_send(());
        }
    }

    /// Every session's events from now on, as they are published.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Logged>> {
        self.0.live.subscribe()
    }

    /// Bytes of events held in memory, daemon-wide.
    pub fn used_bytes(&self) -> usize {
        self.0.used.load(Ordering::Relaxed).max(0) as usize
    }

    /// The budget, in bytes.
    pub fn budget(&self) -> usize {
        self.0.budget
    }

    /// Sweep now, on this thread (tests; the sweeper does it on its own).
    pub fn sweep_now(&self) {
        sweep(&self.0);
    }
}

fn sweep(inner: &Inner) {
    let _one = inner.sweeping.lock().unwrap_or_else(|p| p.into_inner());
    let mut buses: Vec<Arc<EventBus>> = {
        let mut list = inner.buses.lock().unwrap_or_else(|p| p.into_inner());
        list.retain(|w| w.strong_count() > 0);
        list.iter().filter_map(Weak::upgrade).collect()
    };
    let used = |i: &Inner| i.used.load(Ordering::Relaxed).max(0) as usize;
    let over = used(inner) > inner.budget;
    let target = inner.budget / 4 * 3;
    // Biggest logs first: an idle session holding a long call gives way
    // before many small ones do.
    let mut sized: Vec<(usize, Arc<EventBus>)> =
        buses.drain(..).map(|b| (b.memory_bytes(), b)).collect();
    sized.sort_by_key(|(bytes, _)| std::cmp::Reverse(*bytes));
    let fair = target / sized.len().max(1);
    for (_, bus) in &sized {
        let keep = if over && used(inner) > target {
            fair
        } else {
            usize::MAX
        };
        let freed = bus.evict(keep);
        inner.used.fetch_sub(freed as isize, Ordering::Relaxed);
    }
}
