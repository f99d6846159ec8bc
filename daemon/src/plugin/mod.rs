//! The plugin host: compiles WebAssembly components, describes what they
//! export, and runs each tool or guardrail call in a fresh sandbox.
//!
//! One [`PluginHost`] holds the daemon's only wasmtime `Engine` (component
//! model, epoch interruption, pooling allocator — decided together here), a
//! `Linker` with WASI p2, `wasi:http` and the contract's `host` import, and
//! the on-disk [`cache`] of compiled components. What each call may touch is
//! decided in one place, [`sandbox`] (deny by default, grants from the config).
//!
//! Invariants:
//! - every call gets a new `Store` and instance from a pre-linked
//!   `InstancePre`; a trapped instance is never reused;
//! - every store has a memory cap, a wall-clock deadline (checked on each
//!   epoch tick from a dedicated OS thread, so a spinning guest is stopped
//!   even if it never yields) and an output-size cap;
//! - a trap, a timeout or a cap hit is a [`CallError`] for the caller, never a
//!   panic or a daemon crash;
//! - compilation, cache loads and content hashing are blocking and CPU-heavy:
//!   [`PluginHost::load`] runs them with `spawn_blocking`, off the reactor;
//! - a reload never recompiles an unchanged file ([`PluginHost::load_reusing`]).

pub mod bindings;
pub mod cache;
pub mod sandbox;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::config::{MAX_PLUGIN_MEMORY, PluginConfig, Sandbox};
use bindings::{CallContext, GUARDRAILS_EXPORT, Level, Subject, TOOLS_EXPORT, ToolError};
pub use cache::{ComponentCache, Origin};
use sandbox::OutputLimiter;

/// How often the epoch advances; the resolution of call deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("plugin `{plugin}`: cannot read {path}: {source}")]
    Read {
        plugin: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("plugin `{plugin}`: {path} is not a valid WebAssembly component: {reason}")]
    Compile {
        plugin: String,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "plugin `{plugin}`: {path} exports neither `{TOOLS_EXPORT}` nor `{GUARDRAILS_EXPORT}`; build it with agentd-plugin-sdk or against plugin-sdk/wit"
    )]
    NoExports { plugin: String, path: PathBuf },
    #[error("plugin `{plugin}`: cannot link {path}: {reason}")]
    Link {
        plugin: String,
        path: PathBuf,
        reason: String,
    },
    #[error("plugin `{plugin}`: describing its exports failed: {reason}")]
    Describe { plugin: String, reason: String },
    #[error("plugin `{plugin}`: {reason}")]
    Invalid { plugin: String, reason: String },
}

/// Why a call into a plugin did not produce a result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The tool said its arguments were wrong.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// The tool ran and reported a failure.
    #[error("{0}")]
    Failed(String),
    /// The guest trapped (a panic, an out-of-bounds access, a stack overflow…).
    #[error("the plugin crashed: {0}")]
    Trap(String),
    /// The call ran past its deadline and was stopped.
    #[error("the call took longer than its {0:?} limit and was stopped")]
    Timeout(Duration),
    /// The guest tried to use more memory than its cap.
    #[error("the plugin exceeded its memory limit of {0} bytes")]
    MemoryLimit(u64),
    /// The output was larger than the cap.
    #[error("the output ({size} bytes) is larger than the {limit}-byte limit")]
    OutputTooLarge { size: usize, limit: u64 },
    /// The plugin does not export what was asked for.
    #[error("{0}")]
    NotExported(String),
    /// Setting up the sandbox failed (e.g. no free instance slot).
    #[error("the sandbox could not start: {0}")]
    Instantiate(String),
}

impl CallError {
    /// Whether the sandbox stopped the call (trap, deadline, cap), as opposed
    /// to the tool reporting an error itself.
    pub fn is_sandbox_stop(&self) -> bool {
        matches!(
            self,
            CallError::Trap(_)
                | CallError::Timeout(_)
                | CallError::MemoryLimit(_)
                | CallError::OutputTooLarge { .. }
                | CallError::Instantiate(_)
        )
    }
}

/// What a plugin may use, per call.
struct HostState {
    plugin: Arc<str>,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    http_policy: sandbox::HttpPolicy,
    table: ResourceTable,
    limits: Limits,
    deadline: Instant,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_policy,
        }
    }
}

impl bindings::Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        // Bound what one line can cost the log.
        let message: String = message.chars().take(4096).collect();
        let plugin = &*self.plugin;
        match level {
            Level::Trace => tracing::trace!(plugin, "{message}"),
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

/// Memory and table caps for one store; remembers whether a cap was hit so a
/// resulting trap can be reported as what it is.
struct Limits {
    memory: u64,
    memory_hit: bool,
}

impl wasmtime::ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = desired as u64 <= self.memory;
        self.memory_hit |= !ok;
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        16
    }
}

/// Advances the engine's epoch from an OS thread (a tokio task could be
/// starved by the very guest it is meant to stop).
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
    engine: Engine,
    linker: Arc<Linker<HostState>>,
    cache: Option<ComponentCache>,
    _ticker: EpochTicker,
}

impl PluginHost {
    /// Build the engine (one per daemon) and the linker; every load compiles.
    pub fn new() -> anyhow::Result<PluginHost> {
        Self::build(None)
    }

    /// Like [`PluginHost::new`], keeping compiled components in `cache_dir`
    /// so unchanged plugins are never compiled twice (see [`cache`]).
    pub fn with_cache(cache_dir: PathBuf) -> anyhow::Result<PluginHost> {
        Self::build(Some(cache_dir))
    }

    fn build(cache_dir: Option<PathBuf>) -> anyhow::Result<PluginHost> {
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
        let engine = Engine::new(&config).map_err(|e| anyhow::anyhow!("wasmtime engine: {e}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| anyhow::anyhow!("linking WASI: {e}"))?;
        // Linked for every plugin; each request is checked against allow_hosts.
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| anyhow::anyhow!("linking wasi:http: {e}"))?;
        bindings::tools::agentd::plugin::host::add_to_linker::<HostState, HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )
        .map_err(|e| anyhow::anyhow!("linking the host interface: {e}"))?;
        let ticker = EpochTicker::start(&engine)?;
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

    /// Read, compile (on a blocking thread) and describe one plugin.
    pub async fn load(&self, cfg: &PluginConfig) -> Result<Plugin, LoadError> {
        let bytes = self.read(cfg).await?;
        self.load_bytes(cfg, bytes).await
    }

    /// Like [`PluginHost::load`] for a reload: when the file still has the
    /// bytes `previous` was built from, `previous` is reused (with the new
    /// sandbox, if that changed) without compiling or describing again.
    pub async fn load_reusing(
        &self,
        cfg: &PluginConfig,
        previous: Option<&Arc<Plugin>>,
    ) -> Result<Arc<Plugin>, LoadError> {
        let bytes = self.read(cfg).await?;
        let (bytes, hash) = hash_off_reactor(cfg, bytes).await?;
        if let Some(prev) = previous
            && prev.hash == hash
        {
            if prev.sandbox == cfg.sandbox && prev.path == cfg.path {
                return Ok(prev.clone());
            }
            return Ok(Arc::new(prev.reconfigured(cfg)));
        }
        self.load_hashed(cfg, bytes, hash).await.map(Arc::new)
    }

    async fn read(&self, cfg: &PluginConfig) -> Result<Vec<u8>, LoadError> {
        tokio::fs::read(&cfg.path)
            .await
            .map_err(|source| LoadError::Read {
                plugin: cfg.name.clone(),
                path: cfg.path.clone(),
                source,
            })
    }

    async fn load_bytes(&self, cfg: &PluginConfig, bytes: Vec<u8>) -> Result<Plugin, LoadError> {
        let (bytes, hash) = hash_off_reactor(cfg, bytes).await?;
        self.load_hashed(cfg, bytes, hash).await
    }

    async fn load_hashed(
        &self,
        cfg: &PluginConfig,
        bytes: Vec<u8>,
        hash: String,
    ) -> Result<Plugin, LoadError> {
        let engine = self.engine.clone();
        let cache = self.cache.clone();
        let key = hash.clone();
        // Compiling (or even mapping a cached artifact) must not stall the reactor.
        let started = Instant::now();
        let compiled = tokio::task::spawn_blocking(move || match &cache {
            Some(cache) => cache.load_or_compile(&engine, &key, &bytes),
            None => Component::new(&engine, &bytes).map(|c| (c, Origin::Compiled)),
        })
        .await
        .map_err(|e| LoadError::Compile {
            plugin: cfg.name.clone(),
            path: cfg.path.clone(),
            reason: format!("compiler task failed: {e}"),
        })?;
        let (component, origin) = compiled.map_err(|e| LoadError::Compile {
            plugin: cfg.name.clone(),
            path: cfg.path.clone(),
            reason: format!("{e:#}"),
        })?;
        tracing::debug!(plugin = %cfg.name, ?origin, elapsed_ms = started.elapsed().as_millis() as u64, "component ready");
        self.instantiate_described(cfg, component, hash, origin)
            .await
    }

    async fn instantiate_described(
        &self,
        cfg: &PluginConfig,
        component: Component,
        hash: String,
        origin: Origin,
    ) -> Result<Plugin, LoadError> {
        let link_err = |e: wasmtime::Error| LoadError::Link {
            plugin: cfg.name.clone(),
            path: cfg.path.clone(),
            reason: format!("{e:#}"),
        };
        let exports_tools = component.get_export_index(None, TOOLS_EXPORT).is_some();
        let exports_guardrails = component
            .get_export_index(None, GUARDRAILS_EXPORT)
            .is_some();
        if !exports_tools && !exports_guardrails {
            return Err(LoadError::NoExports {
                plugin: cfg.name.clone(),
                path: cfg.path.clone(),
            });
        }
        let pre = self.linker.instantiate_pre(&component).map_err(link_err)?;
        let tools_pre = if exports_tools {
            Some(bindings::tools::ToolPluginPre::new(pre.clone()).map_err(link_err)?)
        } else {
            None
        };
        let guardrails_pre = if exports_guardrails {
            Some(bindings::guardrails::GuardrailPluginPre::new(pre).map_err(link_err)?)
        } else {
            None
        };
        let mut plugin = Plugin {
            name: cfg.name.clone(),
            path: cfg.path.clone(),
            hash,
            origin,
            loaded_at: SystemTime::now(),
            sandbox: cfg.sandbox.clone(),
            tools: Vec::new(),
            guardrails: Vec::new(),
            engine: self.engine.clone(),
            output: Arc::new(OutputLimiter::new(Arc::from(cfg.name.as_str()))),
            tools_pre,
            guardrails_pre,
        };
        let describe_err = |e: CallError| LoadError::Describe {
            plugin: cfg.name.clone(),
            reason: e.to_string(),
        };
        plugin.tools = plugin.describe_tools().await.map_err(describe_err)?;
        plugin.guardrails = plugin.describe_guardrails().await.map_err(describe_err)?;
        plugin.check_names()?;
        Ok(plugin)
    }
}

/// SHA-256 of `bytes` on a blocking thread: a big component (tens of MB for
/// Python or JS plugins) would otherwise hold a reactor thread for a while.
async fn hash_off_reactor(
    cfg: &PluginConfig,
    bytes: Vec<u8>,
) -> Result<(Vec<u8>, String), LoadError> {
    tokio::task::spawn_blocking(move || {
        let hash = cache::content_hash(&bytes);
        (bytes, hash)
    })
    .await
    .map_err(|e| LoadError::Compile {
        plugin: cfg.name.clone(),
        path: cfg.path.clone(),
        reason: format!("hashing task failed: {e}"),
    })
}

/// A tool a plugin exports.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ToolInfo {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: serde_json::Value,
}

/// A guardrail a plugin exports.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GuardrailInfo {
    pub name: String,
    pub description: String,
}

/// What a guardrail is asked to judge.
#[derive(Debug, Clone, PartialEq)]
pub enum GuardrailSubject {
    OutputText(String),
    InputText(String),
    ToolCall { tool: String, arguments: String },
}

/// A guardrail's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardrailVerdict {
    pub tripwire: bool,
    pub reason: Option<String>,
}

/// An instance that could not be set up (e.g. no free slot in the pool).
fn instantiate_error(e: wasmtime::Error) -> CallError {
    CallError::Instantiate(format!("{e:#}"))
}

impl From<&CallInfo> for CallContext {
    fn from(info: &CallInfo) -> Self {
        CallContext {
            session_id: info.session_id.clone(),
            agent: info.agent.clone(),
            call_id: info.call_id.clone(),
        }
    }
}

/// Who is calling, passed to the plugin.
#[derive(Debug, Clone, Default)]
pub struct CallInfo {
    pub session_id: String,
    pub agent: String,
    pub call_id: String,
}

/// A compiled, described plugin, ready to be called.
pub struct Plugin {
    pub name: String,
    pub path: PathBuf,
    /// Hex SHA-256 of the component's bytes.
    pub hash: String,
    /// Whether this load compiled, read the disk cache or reused a loaded version.
    pub origin: Origin,
    pub loaded_at: SystemTime,
    pub sandbox: Sandbox,
    pub tools: Vec<ToolInfo>,
    pub guardrails: Vec<GuardrailInfo>,
    engine: Engine,
    /// Rate limit of this plugin's stdout/stderr in the daemon log.
    output: Arc<OutputLimiter>,
    tools_pre: Option<bindings::tools::ToolPluginPre<HostState>>,
    guardrails_pre: Option<bindings::guardrails::GuardrailPluginPre<HostState>>,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("hash", &self.hash)
            .field("tools", &self.tools)
            .field("guardrails", &self.guardrails)
            .finish()
    }
}

impl Plugin {
    /// The plugin's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The same compiled version under a new sandbox (or path): nothing is
    /// compiled or described again, and calls in flight keep the old one.
    fn reconfigured(&self, cfg: &PluginConfig) -> Plugin {
        Plugin {
            name: self.name.clone(),
            path: cfg.path.clone(),
            hash: self.hash.clone(),
            origin: Origin::Reused,
            loaded_at: self.loaded_at,
            sandbox: cfg.sandbox.clone(),
            tools: self.tools.clone(),
            guardrails: self.guardrails.clone(),
            engine: self.engine.clone(),
            output: self.output.clone(),
            tools_pre: self.tools_pre.clone(),
            guardrails_pre: self.guardrails_pre.clone(),
        }
    }

    fn check_names(&self) -> Result<(), LoadError> {
        let invalid = |reason: String| LoadError::Invalid {
            plugin: self.name.clone(),
            reason,
        };
        let mut seen = std::collections::HashSet::new();
        for t in &self.tools {
            if !crate::config::is_valid_name(&t.name) {
                return Err(invalid(format!(
                    "tool name `{}` must be 1-64 characters of a-z, A-Z, 0-9, `_` or `-`",
                    t.name
                )));
            }
            if !seen.insert(&t.name) {
                return Err(invalid(format!("tool `{}` is exported twice", t.name)));
            }
            if !t.parameters.is_object() {
                return Err(invalid(format!(
                    "tool `{}` has a parameters schema that is not a JSON object",
                    t.name
                )));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for g in &self.guardrails {
            if !crate::config::is_valid_name(&g.name) {
                return Err(invalid(format!(
                    "guardrail name `{}` must be 1-64 characters of a-z, A-Z, 0-9, `_` or `-`",
                    g.name
                )));
            }
            if !seen.insert(&g.name) {
                return Err(invalid(format!("guardrail `{}` is exported twice", g.name)));
            }
        }
        Ok(())
    }

    fn store(&self, call_id: &str) -> Result<Store<HostState>, CallError> {
        let plugin: Arc<str> = Arc::from(self.name.as_str());
        // Deny by default; the sandbox's grants are applied in one place.
        let call_id: Arc<str> = Arc::from(call_id);
        let wasi = sandbox::wasi_ctx(&self.sandbox, &plugin, &call_id, &self.output)
            .map_err(CallError::Instantiate)?;
        let http_policy = sandbox::HttpPolicy::new(&self.sandbox, &plugin, &call_id, &self.output);
        let state = HostState {
            plugin,
            wasi,
            http: WasiHttpCtx::new(),
            http_policy,
            table: ResourceTable::new(),
            limits: Limits {
                memory: self.sandbox.memory,
                memory_hit: false,
            },
            deadline: Instant::now() + self.sandbox.timeout,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|ctx| {
            if Instant::now() >= ctx.data().deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                // Yield so a busy guest shares its worker thread with the rest of the
                // daemon. tokio's yield_now defers the wake-up until the runtime has
                // polled its I/O and timer drivers; a plain self-wake would let a
                // spinning guest starve sockets on its worker.
                Ok(UpdateDeadline::YieldCustom(
                    1,
                    Box::pin(tokio::task::yield_now()),
                ))
            }
        });
        Ok(store)
    }

    /// Turn a wasmtime error from a call into what happened, in words.
    fn classify(&self, store: &Store<HostState>, err: wasmtime::Error) -> CallError {
        if store.data().limits.memory_hit {
            return CallError::MemoryLimit(self.sandbox.memory);
        }
        match err.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::Interrupt) => CallError::Timeout(self.sandbox.timeout),
            Some(trap) => CallError::Trap(trap.to_string()),
            None => CallError::Trap(format!("{err:#}")),
        }
    }

    /// Run `work` against a fresh instance, bounded by the sandbox's deadline.
    async fn with_deadline<T>(
        &self,
        work: impl Future<Output = Result<T, CallError>>,
    ) -> Result<T, CallError> {
        // The epoch callback stops guest code at the deadline; this outer bound
        // also covers time spent in host calls. A dropped call future also drops
        // its store, so the instance is never reused.
        let grace = self.sandbox.timeout + EPOCH_TICK * 5;
        match tokio::time::timeout(grace, work).await {
            Ok(r) => r,
            Err(_) => Err(CallError::Timeout(self.sandbox.timeout)),
        }
    }

    async fn describe_tools(&self) -> Result<Vec<ToolInfo>, CallError> {
        let Some(pre) = &self.tools_pre else {
            return Ok(Vec::new());
        };
        self.with_deadline(async {
            let mut store = self.store("describe")?;
            let inst = pre
                .instantiate_async(&mut store)
                .await
                .map_err(instantiate_error)?;
            let specs = inst
                .agentd_plugin_tools()
                .call_describe(&mut store)
                .await
                .map_err(|e| self.classify(&store, e))?;
            specs
                .into_iter()
                .map(|s| {
                    let parameters = serde_json::from_str(&s.parameters_schema).map_err(|e| {
                        CallError::Failed(format!(
                            "tool `{}` has a parameters schema that is not JSON: {e}",
                            s.name
                        ))
                    })?;
                    Ok(ToolInfo {
                        name: s.name,
                        description: s.description,
                        parameters,
                    })
                })
                .collect()
        })
        .await
    }

    async fn describe_guardrails(&self) -> Result<Vec<GuardrailInfo>, CallError> {
        let Some(pre) = &self.guardrails_pre else {
            return Ok(Vec::new());
        };
        self.with_deadline(async {
            let mut store = self.store("describe")?;
            let inst = pre
                .instantiate_async(&mut store)
                .await
                .map_err(instantiate_error)?;
            let specs = inst
                .agentd_plugin_guardrails()
                .call_describe(&mut store)
                .await
                .map_err(|e| self.classify(&store, e))?;
            Ok(specs
                .into_iter()
                .map(|s| GuardrailInfo {
                    name: s.name,
                    description: s.description,
                })
                .collect())
        })
        .await
    }

    /// Call tool `tool` with JSON `arguments` in a fresh sandbox.
    pub async fn call_tool(
        &self,
        tool: &str,
        arguments: &str,
        info: &CallInfo,
    ) -> Result<String, CallError> {
        let Some(pre) = &self.tools_pre else {
            return Err(CallError::NotExported(format!(
                "plugin `{}` exports no tools",
                self.name
            )));
        };
        let ctx = CallContext::from(info);
        let out = self
            .with_deadline(async {
                let mut store = self.store(&info.call_id)?;
                let inst = pre
                    .instantiate_async(&mut store)
                    .await
                    .map_err(instantiate_error)?;
                inst.agentd_plugin_tools()
                    .call_call(&mut store, tool, arguments, &ctx)
                    .await
                    .map_err(|e| self.classify(&store, e))
            })
            .await;
        let result = match out {
            Err(e) => Err(e),
            Ok(Ok(text)) if text.len() as u64 > self.sandbox.max_output => {
                Err(CallError::OutputTooLarge {
                    size: text.len(),
                    limit: self.sandbox.max_output,
                })
            }
            Ok(Ok(text)) => Ok(text),
            Ok(Err(ToolError::InvalidArguments(m))) => Err(CallError::InvalidArguments(m)),
            Ok(Err(ToolError::Failed(m))) => Err(CallError::Failed(m)),
        };
        if let Err(e) = &result
            && e.is_sandbox_stop()
        {
            // The sandbox stopped the call: the operator needs to know which
            // plugin, tool and call, whatever the session does with the error.
            tracing::warn!(plugin = %self.name, tool, call_id = %info.call_id, error = %e, "tool call stopped by the sandbox");
        }
        result
    }

    /// Ask guardrail `name` about `subject` in a fresh sandbox.
    pub async fn check_guardrail(
        &self,
        name: &str,
        subject: &GuardrailSubject,
        info: &CallInfo,
    ) -> Result<GuardrailVerdict, CallError> {
        let Some(pre) = &self.guardrails_pre else {
            return Err(CallError::NotExported(format!(
                "plugin `{}` exports no guardrails",
                self.name
            )));
        };
        let ctx = CallContext::from(info);
        let subject = match subject {
            GuardrailSubject::OutputText(t) => Subject::OutputText(t.clone()),
            GuardrailSubject::InputText(t) => Subject::InputText(t.clone()),
            GuardrailSubject::ToolCall { tool, arguments } => {
                Subject::ToolCall(bindings::GuardedToolCall {
                    tool: tool.clone(),
                    arguments_json: arguments.clone(),
                })
            }
        };
        let verdict = self
            .with_deadline(async {
                let mut store = self.store(&info.call_id)?;
                let inst = pre
                    .instantiate_async(&mut store)
                    .await
                    .map_err(instantiate_error)?;
                inst.agentd_plugin_guardrails()
                    .call_check(&mut store, name, &subject, &ctx)
                    .await
                    .map_err(|e| self.classify(&store, e))
            })
            .await?;
        Ok(GuardrailVerdict {
            tripwire: verdict.tripwire,
            reason: verdict.reason,
        })
    }
}
