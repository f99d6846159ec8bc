//! Loading a plugin: read its file, hash it, compile it (or take it from the
//! cache), link it, ask it what it exports and check the names — producing a
//! [`Plugin`] ready to be called.
//!
//! Invariants:
//! - reading, hashing, compiling and cache loads are blocking or CPU-heavy:
//!   each runs on a blocking thread, never on the reactor;
//! - a reload never recompiles an unchanged file ([`PluginHost::load_reusing`]
//!   compares content hashes, and reuses the loaded version, under a new
//!   sandbox if that changed);
//! - a plugin is only returned once it links, exports the contract and its
//!   tool and guardrail names are valid and unique.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use wasmtime::Engine;
use wasmtime::component::Component;

use super::bindings::{self, Contract, v0_1, v0_2};
use super::cache::{self, Origin};
use super::call::{GuardrailsPre, ToolsPre};
use super::error::{CallError, LoadError};
use super::host::PluginHost;
use super::instances::Instances;
use super::queue::CallQueue;
use super::sandbox::OutputLimiter;
use super::schema::ArgumentSchema;
use crate::config::{InstanceMode, PluginConfig, Sandbox};
use crate::metrics::ToolMetrics;

/// A tool a plugin exports.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ToolInfo {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: serde_json::Value,
    /// `parameters`, compiled once at load; every call is checked against it.
    #[serde(skip)]
    pub arguments: Arc<ArgumentSchema>,
}

/// A guardrail a plugin exports.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GuardrailInfo {
    pub name: String,
    pub description: String,
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
    /// The contract version the component was built against.
    pub contract: Contract,
    /// How calls get instances (`instance = ...`).
    pub instance: InstanceMode,
    pub tools: Vec<ToolInfo>,
    pub guardrails: Vec<GuardrailInfo>,
    /// What the component imports (`wasi:filesystem/types@0.2.6`, ...).
    pub imports: Vec<String>,
    pub(super) engine: Engine,
    /// Reused instances, for `per-session` and pools.
    pub(super) instances: Arc<Instances>,
    /// The host's instance slots, shared by every plugin.
    pub(super) queue: Arc<CallQueue>,
    /// Rate limit of this plugin's stdout/stderr in the daemon log.
    pub(super) output: Arc<OutputLimiter>,
    pub(super) tools_pre: Option<ToolsPre>,
    pub(super) guardrails_pre: Option<GuardrailsPre>,
    /// Each tool's metric handles, resolved once at load.
    pub(crate) tool_metrics: Arc<std::collections::HashMap<String, ToolMetrics>>,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("hash", &self.hash)
            .field("contract", &self.contract)
            .field("instance", &self.instance)
            .field("tools", &self.tools)
            .field("guardrails", &self.guardrails)
            .finish()
    }
}

impl PluginHost {
    /// Read, compile (on a blocking thread) and describe one plugin.
    pub async fn load(&self, cfg: &PluginConfig) -> Result<Plugin, LoadError> {
        let bytes = read(cfg).await?;
        let (bytes, hash) = hash_off_reactor(cfg, bytes).await?;
        self.load_hashed(cfg, bytes, hash).await
    }

    /// Like [`PluginHost::load`] for a reload: when the file still has the
    /// bytes `previous` was built from, `previous` is reused (with the new
    /// sandbox, if that changed) without compiling or describing again.
    pub async fn load_reusing(
        &self,
        cfg: &PluginConfig,
        previous: Option<&Arc<Plugin>>,
    ) -> Result<Arc<Plugin>, LoadError> {
        let bytes = read(cfg).await?;
        let (bytes, hash) = hash_off_reactor(cfg, bytes).await?;
        if let Some(prev) = previous
            && prev.hash == hash
        {
            if prev.sandbox == cfg.sandbox && prev.path == cfg.path && prev.instance == cfg.instance
            {
                return Ok(prev.clone());
            }
            return Ok(Arc::new(prev.reconfigured(cfg)));
        }
        self.load_hashed(cfg, bytes, hash).await.map(Arc::new)
    }

    async fn load_hashed(
        &self,
        cfg: &PluginConfig,
        bytes: Vec<u8>,
        hash: String,
    ) -> Result<Plugin, LoadError> {
        // A miss is compiled (in a child process when the host has a
        // compiler program, see `super::compile`) and timed for status pages.
        let cached = self
            .cache
            .as_ref()
            .is_some_and(|c| c.path_for(&hash).is_file());
        let _running = (!cached).then(|| self.compiles.start(&cfg.name));
        if !cached {
            self.compile_in_child(&cfg.path, &hash).await;
        }
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
        let contract = contract_of(&self.engine, &component, cfg)?;
        let exports_tools = component
            .get_export_index(None, contract.tools_export())
            .is_some();
        let exports_guardrails = component
            .get_export_index(None, contract.guardrails_export())
            .is_some();
        let pre = self.linker.instantiate_pre(&component).map_err(link_err)?;
        let tools_pre = match (exports_tools, contract) {
            (false, _) => None,
            (true, Contract::V0_1) => Some(ToolsPre::V0_1(
                v0_1::tools::ToolPluginPre::new(pre.clone()).map_err(link_err)?,
            )),
            (true, Contract::V0_2) => Some(ToolsPre::V0_2(
                v0_2::tools::ToolPluginPre::new(pre.clone()).map_err(link_err)?,
            )),
        };
        let guardrails_pre = match (exports_guardrails, contract) {
            (false, _) => None,
            (true, Contract::V0_1) => Some(GuardrailsPre::V0_1(
                v0_1::guardrails::GuardrailPluginPre::new(pre).map_err(link_err)?,
            )),
            (true, Contract::V0_2) => Some(GuardrailsPre::V0_2(
                v0_2::guardrails::GuardrailPluginPre::new(pre).map_err(link_err)?,
            )),
        };
        let mut plugin = Plugin {
            name: cfg.name.clone(),
            path: cfg.path.clone(),
            hash,
            origin,
            loaded_at: SystemTime::now(),
            sandbox: cfg.sandbox.clone(),
            contract,
            instance: cfg.instance,
            tools: Vec::new(),
            guardrails: Vec::new(),
            imports: component
                .component_type()
                .imports(&self.engine)
                .map(|(n, _)| n.to_string())
                .collect(),
            engine: self.engine.clone(),
            instances: Arc::new(Instances::default()),
            queue: self.queue.clone(),
            output: Arc::new(OutputLimiter::new(Arc::from(cfg.name.as_str()))),
            tools_pre,
            guardrails_pre,
            tool_metrics: Arc::default(),
        };
        let describe_err = |e: CallError| LoadError::Describe {
            plugin: cfg.name.clone(),
            reason: e.to_string(),
        };
        plugin.tools = plugin.describe_tools().await.map_err(describe_err)?;
        plugin.guardrails = plugin.describe_guardrails().await.map_err(describe_err)?;
        plugin.check_names()?;
        let m = crate::metrics::metrics();
        plugin.tool_metrics = Arc::new(
            plugin
                .tools
                .iter()
                .map(|t| (t.name.clone(), m.tool(&cfg.name, &t.name)))
                .collect(),
        );
        Ok(plugin)
    }
}

/// The one contract version `component` exports, or why it cannot be loaded.
fn contract_of(
    engine: &Engine,
    component: &Component,
    cfg: &PluginConfig,
) -> Result<Contract, LoadError> {
    let ty = component.component_type();
    let names: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    let found = bindings::exported_contracts(names.iter().map(String::as_str));
    if !found.unsupported.is_empty() {
        return Err(LoadError::UnsupportedContract {
            plugin: cfg.name.clone(),
            path: cfg.path.clone(),
            found: found.unsupported.join(", "),
            supported: bindings::supported_list(),
        });
    }
    match found.versions[..] {
        [one] => Ok(one),
        [] => Err(LoadError::NoExports {
            plugin: cfg.name.clone(),
            path: cfg.path.clone(),
            supported: bindings::supported_list(),
        }),
        _ => Err(LoadError::Invalid {
            plugin: cfg.name.clone(),
            reason: format!(
                "{} exports more than one contract version ({}); build it against one",
                cfg.path.display(),
                found
                    .versions
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

async fn read(cfg: &PluginConfig) -> Result<Vec<u8>, LoadError> {
    tokio::fs::read(&cfg.path)
        .await
        .map_err(|source| LoadError::Read {
            plugin: cfg.name.clone(),
            path: cfg.path.clone(),
            source,
        })
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
            contract: self.contract,
            instance: cfg.instance,
            tools: self.tools.clone(),
            guardrails: self.guardrails.clone(),
            imports: self.imports.clone(),
            engine: self.engine.clone(),
            // Kept instances were made under the old sandbox: start afresh.
            instances: Arc::new(Instances::default()),
            queue: self.queue.clone(),
            output: self.output.clone(),
            tools_pre: self.tools_pre.clone(),
            guardrails_pre: self.guardrails_pre.clone(),
            tool_metrics: self.tool_metrics.clone(),
        }
    }

    fn check_names(&self) -> Result<(), LoadError> {
        let invalid = |reason: String| LoadError::Invalid {
            plugin: self.name.clone(),
            reason,
        };
        let mut seen = HashSet::new();
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
        let mut seen = HashSet::new();
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
}
