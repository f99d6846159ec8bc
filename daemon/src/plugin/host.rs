//! [`PluginHost`]: the daemon's one wasmtime `Engine`, its instance pool, the
//! `Linker` every plugin is linked with, and the epoch ticker that enforces
//! call deadlines.
//!
//! Engine settings are decided together, here: component model, epoch
//! interruption (deadlines) and the pooling allocator. The linker has WASI p2,
//! `wasi:http` (each request checked against the plugin's `allow_hosts`, see
//! [`super::sandbox`]) and the contract's `host` import.
//!
//! The ticker is a dedicated OS thread holding a weak reference to the
//! engine: a tokio task could be starved by the very guest it must stop.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::bindings;
use super::cache::ComponentCache;
use super::call::HostState;
use super::error::HostError;
use crate::config::MAX_PLUGIN_MEMORY;

/// How often the epoch advances; the resolution of call deadlines.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

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

/// The daemon's wasmtime engine and linker.
pub struct PluginHost {
    pub(super) engine: Engine,
    pub(super) linker: Arc<Linker<HostState>>,
    pub(super) cache: Option<ComponentCache>,
    _ticker: EpochTicker,
}

impl PluginHost {
    /// Build the engine (one per daemon) and the linker; every load compiles.
    pub fn new() -> Result<PluginHost, HostError> {
        Self::build(None)
    }

    /// Like [`PluginHost::new`], keeping compiled components in `cache_dir`
    /// so unchanged plugins are never compiled twice (see [`super::cache`]).
    pub fn with_cache(cache_dir: PathBuf) -> Result<PluginHost, HostError> {
        Self::build(Some(cache_dir))
    }

    fn build(cache_dir: Option<PathBuf>) -> Result<PluginHost, HostError> {
        let mut pool = PoolingAllocationConfig::new();
        // Sized for a few hundred concurrent calls of Rust-sized components;
        // totals must cover concurrency × core instances per component.
        pool.total_component_instances(512)
            .total_core_instances(4096)
            .total_memories(1024)
            .total_tables(2048)
            .total_stacks(512)
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
        bindings::tools::agentd::plugin::host::add_to_linker::<HostState, HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| HostError::LinkHost(format!("{e:#}")))?;
        let ticker = EpochTicker::start(&engine).map_err(HostError::Ticker)?;
        let cache = cache_dir.map(|dir| ComponentCache::new(dir, &engine));
        Ok(PluginHost {
            engine,
            linker: Arc::new(linker),
            cache,
            _ticker: ticker,
        })
    }

    /// The compiled-component cache, when there is one.
    pub fn cache(&self) -> Option<&ComponentCache> {
        self.cache.as_ref()
    }
}
