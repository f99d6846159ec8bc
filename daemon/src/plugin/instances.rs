//! How a plugin's calls get an instance: `instance = "per-call"` (the
//! default: a fresh store and instance for every call), `"per-session"`, or
//! `{ pool = N, recycle_after = M, recycle_memory = SIZE }` (instances reused,
//! an opt-in speed-up for heavy runtimes such as Python or JS plugins, whose
//! instantiation costs milliseconds).
//!
//! Invariants:
//! - a reused instance belongs to one session while it lives: a call takes an
//!   idle instance of *its own* session or a new one, never another session's,
//!   so one caller's state never reaches another. When the plugin's limit of
//!   live instances is reached, the idle instance of another session that
//!   waited longest is thrown away to make room; when every instance is busy,
//!   the call runs on a fresh per-call instance instead of waiting;
//! - an instance is recycled (dropped; the next call makes a new one) after
//!   `recycle_after` calls, once its linear memory has grown past
//!   `recycle_memory`, and after any trap, timeout or cap hit (a trapped
//!   instance is poisoned); a call whose future is dropped drops its instance;
//! - a live instance holds its instance slot ([`super::queue`]) while idle,
//!   because it holds its share of the pooling allocator; `per-session` keeps
//!   at most [`PER_SESSION_MAX`] per plugin so idle instances cannot take all
//!   slots;
//! - once a reload replaces or removes the plugin, its idle instances are
//!   dropped and instances it still lends are dropped when their call ends
//!   ([`Plugin::retire_instances`]), so an old generation holds no slots;
//! - every call on a reused instance gets a fresh deadline; the store's WASI
//!   context (and so the call id in its stdout/stderr log lines) is the one
//!   made for the instance's first call;
//! - a tool call's phases are timed here, on every path
//!   (`agentd_tool_call_duration_seconds`): `queue` until the call has an
//!   instance slot (for a reused instance, the one it already holds),
//!   `instantiate` only when an instance is made for the call, `run` for the
//!   guest's work.
//!
//! [`PER_SESSION_MAX`]: crate::config::PER_SESSION_MAX

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use wasmtime::Store;

use super::call::{Answer, CallInfo, HostState, Instance, Op, instantiate_error};
use super::error::CallError;
use super::host::EPOCH_TICK;
use super::load::Plugin;
use super::queue::Slot;
use crate::config::InstanceMode;
use crate::metrics::{Phase, ToolMetrics};

/// Which export an instance was made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Tools,
    Guardrails,
}

/// A plugin's reused instances; empty and unused for `per-call`.
pub(super) struct Instances {
    /// Idle instances, oldest first; `None` once retired.
    idle: Mutex<Option<Vec<Kept>>>,
    /// Live instances (idle or serving a call), for the plugin's limit.
    live: Arc<AtomicU32>,
}

impl Default for Instances {
    fn default() -> Instances {
        Instances {
            idle: Mutex::new(Some(Vec::new())),
            live: Arc::default(),
        }
    }
}

/// What a plugin's reuse looks like now, for status pages and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct InstanceStats {
    /// Instances alive (idle or in a call).
    pub live: u32,
    /// Of those, waiting for their session's next call.
    pub idle: u32,
}

/// Where a call's phase timings go: a tool's metric handles (resolved at
/// load), or nowhere (guardrail checks and `describe`).
#[derive(Clone, Copy)]
struct Timing<'a>(Option<&'a ToolMetrics>);

impl Timing<'_> {
    fn observe(self, phase: Phase, since: Instant) {
        if let Some(m) = self.0 {
            m.phase(phase, since.elapsed());
        }
    }
}

/// A counted live instance; dropping it gives its place back.
struct Ticket(Arc<AtomicU32>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A live reused instance and what it is bound to.
struct Kept {
    session: String,
    kind: Kind,
    store: Store<HostState>,
    instance: Instance,
    calls: u32,
    // Dropped after the store (field order): the slot outlives the instance.
    _slot: Slot,
    _ticket: Ticket,
}

impl Instances {
    /// The idle instance of `session` for `kind`, if there is one.
    fn take(&self, kind: Kind, session: &str) -> Option<Kept> {
        let mut guard = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let idle = guard.as_mut()?;
        let at = idle
            .iter()
            .position(|k| k.kind == kind && k.session == session)?;
        Some(idle.remove(at))
    }

    /// Count one more live instance if that stays within `max`; else throw
    /// away the longest-idle instance of another session and try once more.
    fn reserve(&self, max: u32, session: &str) -> Option<Ticket> {
        let try_once = || {
            self.live
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < max).then_some(n + 1)
                })
                .ok()
                .map(|_| Ticket(self.live.clone()))
        };
        if let Some(t) = try_once() {
            return Some(t);
        }
        let evicted = {
            let mut guard = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            guard.as_mut().and_then(|idle| {
                idle.iter()
                    .position(|k| k.session != session)
                    .map(|at| idle.remove(at))
            })
        };
        // Dropped outside the lock: dropping a store frees its instance.
        drop(evicted?);
        try_once()
    }

    fn put_back(&self, kept: Kept) {
        let mut guard = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(idle) => idle.push(kept),
            None => {
                drop(guard);
                // Retired: dropped outside the lock, like an eviction.
                drop(kept);
            }
        }
    }

    /// Drop every idle instance and keep none from now on.
    fn retire(&self) {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(idle);
    }

    pub(super) fn stats(&self) -> InstanceStats {
        InstanceStats {
            live: self.live.load(Ordering::Acquire),
            idle: self
                .idle
                .lock()
                .map(|i| i.as_ref().map_or(0, Vec::len))
                .unwrap_or(0) as u32,
        }
    }
}

impl Plugin {
    /// Run `op` on an instance made for `kind`, as the plugin's `instance`
    /// mode says.
    pub(super) async fn run(
        &self,
        kind: Kind,
        info: &CallInfo,
        op: Op<'_>,
    ) -> Result<Answer, CallError> {
        let asked = Instant::now();
        let timing = Timing(match &op {
            Op::Tool { tool, .. } => self.tool_metrics.get(*tool),
            Op::Check { .. } => None,
        });
        match self.instance {
            InstanceMode::Reused {
                max,
                recycle_after,
                recycle_memory,
                ..
            } => match self.instances.take(kind, &info.session_id) {
                Some(kept) => {
                    // The instance holds its slot: no wait, nothing to make.
                    timing.observe(Phase::Queue, asked);
                    self.run_kept(kept, &op, recycle_after, recycle_memory, timing)
                        .await
                }
                None => match self.instances.reserve(max, &info.session_id) {
                    Some(ticket) => {
                        let kept = self.new_kept(kind, info, ticket, asked, timing).await?;
                        self.run_kept(kept, &op, recycle_after, recycle_memory, timing)
                            .await
                    }
                    // Every instance is busy: this call gets its own.
                    None => self.run_fresh(kind, info, &op, asked, timing).await,
                },
            },
            InstanceMode::PerCall => self.run_fresh(kind, info, &op, asked, timing).await,
        }
    }

    /// A fresh store and instance for this call only.
    async fn run_fresh(
        &self,
        kind: Kind,
        info: &CallInfo,
        op: &Op<'_>,
        asked: Instant,
        timing: Timing<'_>,
    ) -> Result<Answer, CallError> {
        self.in_slot(async {
            timing.observe(Phase::Queue, asked);
            let started = Instant::now();
            let mut store = self.store(&info.call_id)?;
            let instance = self.instantiate(kind, &mut store).await?;
            timing.observe(Phase::Instantiate, started);
            let running = Instant::now();
            let out = instance
                .perform(&mut store, op)
                .await
                .map_err(|e| self.classify(&store, e));
            timing.observe(Phase::Run, running);
            out
        })
        .await
    }

    async fn instantiate(
        &self,
        kind: Kind,
        store: &mut Store<HostState>,
    ) -> Result<Instance, CallError> {
        let made = match (kind, &self.tools_pre, &self.guardrails_pre) {
            (Kind::Tools, Some(pre), _) => pre.instantiate(store).await,
            (Kind::Guardrails, _, Some(pre)) => pre.instantiate(store).await,
            _ => {
                return Err(CallError::NotExported(format!(
                    "plugin `{}` does not export {kind:?}",
                    self.name
                )));
            }
        };
        made.map_err(instantiate_error)
    }

    async fn new_kept(
        &self,
        kind: Kind,
        info: &CallInfo,
        ticket: Ticket,
        asked: Instant,
        timing: Timing<'_>,
    ) -> Result<Kept, CallError> {
        let slot = self.queue.acquire().await?;
        timing.observe(Phase::Queue, asked);
        let started = Instant::now();
        let mut store = self.store(&info.call_id)?;
        let grace = self.sandbox.timeout + EPOCH_TICK * 5;
        let instance = match tokio::time::timeout(grace, self.instantiate(kind, &mut store)).await {
            Ok(made) => made?,
            Err(_) => return Err(CallError::Timeout(self.sandbox.timeout)),
        };
        timing.observe(Phase::Instantiate, started);
        Ok(Kept {
            session: info.session_id.clone(),
            kind,
            store,
            instance,
            calls: 0,
            _slot: slot,
            _ticket: ticket,
        })
    }

    /// One call on a reused instance; it goes back to the idle list unless it
    /// must be recycled.
    async fn run_kept(
        &self,
        mut kept: Kept,
        op: &Op<'_>,
        recycle_after: u32,
        recycle_memory: u64,
        timing: Timing<'_>,
    ) -> Result<Answer, CallError> {
        kept.store.data_mut().deadline = Instant::now() + self.sandbox.timeout;
        kept.store.set_epoch_deadline(1);
        let grace = self.sandbox.timeout + EPOCH_TICK * 5;
        let running = Instant::now();
        let ran = tokio::time::timeout(grace, kept.instance.perform(&mut kept.store, op)).await;
        timing.observe(Phase::Run, running);
        kept.calls += 1;
        let result = match ran {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(self.classify(&kept.store, e)),
            Err(_) => Err(CallError::Timeout(self.sandbox.timeout)),
        };
        let peak = kept.store.data().limits.peak;
        let recycle = result.is_err() || kept.calls >= recycle_after || peak >= recycle_memory;
        if recycle {
            tracing::debug!(plugin = %self.name, calls = kept.calls, memory = peak, trapped = result.is_err(), "instance recycled");
            drop(kept);
        } else {
            self.instances.put_back(kept);
        }
        result
    }

    /// This plugin was replaced or removed by a reload: its idle instances
    /// go now, those in a call when the call ends, and it keeps none again
    /// (later calls on it get per-call instances).
    pub fn retire_instances(&self) {
        self.instances.retire();
    }

    /// Live and idle reused instances of this plugin now.
    pub fn instance_stats(&self) -> InstanceStats {
        self.instances.stats()
    }
}
