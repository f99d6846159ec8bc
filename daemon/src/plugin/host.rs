//! [`PluginHost`]: the daemon's one wasmtime `Engine`, its instance pool, the
//! `Linker` every plugin is linked with, and the epoch ticker that enforces
//! call deadlines.
//!
//! Engine settings are decided together, here: component model, epoch
//! interruption (deadlines) and the pooling allocator. The linker has WASI p2,
//! `wasi:http` (each request checked against the plugin's `allow_hosts`, see
//! [`super::sandbox`]) and the contract's `host` import.
//!
//! Pool arithmetic. A call holds one component instance; a component is
//! allowed at most [`CORE_INSTANCES_PER_CALL`] core instances (componentize-py
//! output has 14, Rust components 3), [`MEMORIES_PER_CALL`] memories and
//! [`TABLES_PER_CALL`] tables, and runs on one async stack at a time. A
//! component over any of those is refused when it is loaded, with wasmtime's
//! message naming the count and the maximum. The pool's totals are those
//! per-call maxima times the slot count `n`:
//!
//! ```text
//! component instances = n        core instances = 16 n
//! memories            = 4 n      tables         = 8 n      async stacks = n
//! ```
//!
//! so `n` calls of the largest allowed component fit at once and instantiation
//! never runs out of pool; the call queue ([`super::queue`]) lets exactly `n`
//! calls hold an instance and makes the rest wait. With the default `n` = 256
//! the totals are the ones agentd always had (4,096 core instances, 1,024
//! memories, 2,048 tables): the same address-space reservation (each memory
//! slot reserves its maximum size plus guard pages, ≈ 4 TiB of the 128 TiB a
//! process may map), now split so a 14-instance Python plugin cannot exhaust
//! core instances before the slots run out.
//!
//! The ticker is a dedicated OS thread holding a weak reference to the
//! engine: a tokio task could be starved by the very guest it must stop.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::bindings;
use super::cache::{self, ComponentCache, PruneReport};
use super::call::HostState;
use super::error::HostError;
use super::queue::{CallQueue, QueueStatus};
use crate::config::MAX_PLUGIN_MEMORY;

/// How often the epoch advances; the resolution of call deadlines.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Calls that may hold an instance at once, by default.
pub const DEFAULT_INSTANCE_SLOTS: u32 = 256;
/// Calls that may wait for a slot at once, daemon-wide, by default
/// (`[daemon] tool_queue`).
pub const DEFAULT_TOOL_QUEUE: usize = 1024;
/// Core instances one component may have (componentize-py's 14 fit).
pub const CORE_INSTANCES_PER_CALL: u32 = 16;
/// Linear memories one component may define.
pub const MEMORIES_PER_CALL: u32 = 4;
/// Tables one component may define.
pub const TABLES_PER_CALL: u32 = 8;

/// How to build a [`PluginHost`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostOptions {
    /// Where compiled components are kept (see [`super::cache`]); `None`
    /// compiles every load and writes nothing.
    pub cache_dir: Option<PathBuf>,
    /// Calls that may wait for an instance slot at once, daemon-wide.
    pub tool_queue: usize,
    /// Calls that may hold an instance at once; sizes the instance pool.
    pub instance_slots: u32,
    /// A program that compiles components into the cache out of process
    /// (`agentd compile`, see [`super::compile`]); `None` compiles in process.
    pub compiler: Option<PathBuf>,
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            cache_dir: None,
            tool_queue: DEFAULT_TOOL_QUEUE,
            instance_slots: DEFAULT_INSTANCE_SLOTS,
            compiler: None,
        }
    }
}

/// Advances the engine's epoch from an OS thread.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: &Engine) -> std::io::Result<EpochTicker> {
        let stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("agentd-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })?;
        Ok(EpochTicker { stop })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The daemon's wasmtime engine, linker, instance slots and component cache.
pub struct PluginHost {
    pub(super) engine: Engine,
    pub(super) linker: Arc<Linker<HostState>>,
    pub(super) cache: Option<ComponentCache>,
    pub(super) queue: Arc<CallQueue>,
    pub(super) compiler: Option<PathBuf>,
    pub(super) instance_slots: u32,
    pub(super) compiles: super::compile::CompileLog,
    _ticker: EpochTicker,
}

impl PluginHost {
    /// Build the engine (one per daemon) and the linker; every load compiles.
    pub fn new() -> Result<PluginHost, HostError> {
        Self::with_options(HostOptions::default())
    }

    /// Like [`PluginHost::new`], keeping compiled components in `cache_dir`
    /// so unchanged plugins are never compiled twice (see [`super::cache`]).
    /// A cache folder another user could write to is refused.
    pub fn with_cache(cache_dir: PathBuf) -> Result<PluginHost, HostError> {
        Self::with_options(HostOptions {
            cache_dir: Some(cache_dir),
            ..HostOptions::default()
        })
    }

    /// Build a host with explicit options.
    pub fn with_options(options: HostOptions) -> Result<PluginHost, HostError> {
        let slots = options.instance_slots;
        let per_slot = |per: u32, what: &str| {
            slots.checked_mul(per).ok_or_else(|| {
                HostError::Options(format!(
                    "instance_slots = {slots} needs more than {} {what}",
                    u32::MAX
                ))
            })
        };
        if slots == 0 {
            return Err(HostError::Options(
                "instance_slots must be at least 1".into(),
            ));
        }
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(slots)
            .total_core_instances(per_slot(CORE_INSTANCES_PER_CALL, "core instances")?)
            .total_memories(per_slot(MEMORIES_PER_CALL, "memories")?)
            .total_tables(per_slot(TABLES_PER_CALL, "tables")?)
            .total_stacks(slots)
            .max_core_instances_per_component(CORE_INSTANCES_PER_CALL)
            .max_memories_per_component(MEMORIES_PER_CALL)
            .max_tables_per_component(TABLES_PER_CALL)
            .max_memory_size(MAX_PLUGIN_MEMORY as usize);
        let mut config = wasmtime::Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| HostError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| HostError::LinkWasi(format!("{e:#}")))?;
        // Linked for every plugin; each request is checked against allow_hosts.
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| HostError::LinkHttp(format!("{e:#}")))?;
        // Both contract versions' `host` interface: 0.1 and 0.2 components link.
        bindings::v0_2::tools::agentd::plugin::host::add_to_linker::<HostState, HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| HostError::LinkHost(format!("{e:#}")))?;
        bindings::v0_1::tools::agentd::plugin::host::add_to_linker::<HostState, HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| HostError::LinkHost(format!("{e:#}")))?;
        // The folder is checked before the first artifact could be read from it.
        let cache = options
            .cache_dir
            .map(|dir| ComponentCache::open(dir, &engine))
            .transpose()?;
        let ticker = EpochTicker::start(&engine).map_err(HostError::Ticker)?;
        Ok(PluginHost {
            engine,
            linker: Arc::new(linker),
            cache,
            queue: Arc::new(CallQueue::new(slots as usize, options.tool_queue)),
            compiler: options.compiler,
            instance_slots: slots,
            compiles: Default::default(),
            _ticker: ticker,
        })
    }

    /// The compiled-component cache, when there is one.
    pub fn cache(&self) -> Option<&ComponentCache> {
        self.cache.as_ref()
    }

    /// Instance slots in use and calls waiting for one, now.
    pub fn queue_status(&self) -> QueueStatus {
        self.queue.status()
    }

    /// Prune the compiled-component cache with the default bounds
    /// ([`cache::DEFAULT_MAX_AGE`], [`cache::DEFAULT_MAX_BYTES`]), keeping the
    /// artifacts of `in_use` (content hashes of every plugin loaded now). Runs
    /// on a blocking thread; without a cache there is nothing to do.
    pub async fn prune_cache(&self, in_use: HashSet<String>) -> std::io::Result<PruneReport> {
        let Some(cache) = self.cache.clone() else {
            return Ok(PruneReport::default());
        };
        tokio::task::spawn_blocking(move || {
            cache.prune(&in_use, cache::DEFAULT_MAX_AGE, cache::DEFAULT_MAX_BYTES)
        })
        .await
        .map_err(|e| std::io::Error::other(format!("cache pruning task failed: {e}")))?
    }
}
