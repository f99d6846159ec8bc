//! Calling a plugin: a fresh store and instance per call, under the limits of
//! its sandbox — [`Plugin::call_tool`], [`Plugin::check_guardrail`] and the
//! `describe` calls made at load.
//!
//! Invariants:
//! - a call first takes an instance slot ([`super::queue`]), waiting in the
//!   bounded queue if none is free; the slot outlives the store, so the pool
//!   never holds more instances than there are slots;
//! - every call gets a new `Store` and instance from a pre-linked
//!   `InstancePre`; a trapped instance is never reused;
//! - every store has a memory cap, a wall-clock deadline (checked on each
//!   epoch tick, so a spinning guest is stopped even if it never yields) and
//!   an output-size cap;
//! - a trap, a timeout or a cap hit is a [`CallError`] for the caller, never a
//!   panic or a daemon crash, and is logged with the plugin, tool and call id.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::{self, CallContext, Level, Subject, ToolError};
use super::error::CallError;
use super::host::{CORE_INSTANCES_PER_CALL, EPOCH_TICK, MEMORIES_PER_CALL, TABLES_PER_CALL};
use super::load::{GuardrailInfo, Plugin, ToolInfo};
use super::sandbox;
use super::schema::ArgumentSchema;
use crate::metrics::Phase;

/// Who is calling, passed to the plugin.
#[derive(Debug, Clone, Default)]
pub struct CallInfo {
    pub session_id: String,
    pub agent: String,
    pub call_id: String,
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

/// What a plugin may use, per call.
pub(crate) struct HostState {
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
    /// Linear memory this store grew to, counted in `agentd_wasm_memory_bytes`
    /// until the store (and these limits with it) is dropped.
    grown: usize,
}

impl Drop for Limits {
    fn drop(&mut self) {
        crate::metrics::metrics()
            .wasm_memory
            .dec_by(self.grown as i64);
    }
}

impl wasmtime::ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = desired as u64 <= self.memory;
        self.memory_hit |= !ok;
        if ok {
            let more = desired.saturating_sub(current);
            self.grown += more;
            crate::metrics::metrics().wasm_memory.inc_by(more as i64);
        }
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

    // The same per-call maxima the pool is sized by (see `super::host`).
    fn instances(&self) -> usize {
        CORE_INSTANCES_PER_CALL as usize
    }

    fn tables(&self) -> usize {
        TABLES_PER_CALL as usize
    }

    fn memories(&self) -> usize {
        MEMORIES_PER_CALL as usize
    }
}

/// An instance that could not be set up.
fn instantiate_error(e: wasmtime::Error) -> CallError {
    CallError::Instantiate(format!("{e:#}"))
}

impl Plugin {
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
                grown: 0,
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

    /// Run `work` (which builds its own store) in an instance slot, bounded
    /// by the sandbox's deadline once the slot is held.
    async fn in_slot<T>(
        &self,
        work: impl Future<Output = Result<T, CallError>>,
    ) -> Result<T, CallError> {
        let slot = self.queue.acquire().await?;
        // The epoch callback stops guest code at the deadline; this outer bound
        // also covers time spent in host calls. A dropped call future also drops
        // its store, so the instance is never reused.
        let grace = self.sandbox.timeout + EPOCH_TICK * 5;
        let ran = tokio::time::timeout(grace, work).await;
        // `work`, and the store in it, is gone by now; only then is the slot
        // free for a waiting call. (When this future is dropped mid-call, the
        // awaited `work` is dropped before `slot`, which was declared earlier.)
        drop(slot);
        match ran {
            Ok(r) => r,
            Err(_) => Err(CallError::Timeout(self.sandbox.timeout)),
        }
    }

    pub(super) async fn describe_tools(&self) -> Result<Vec<ToolInfo>, CallError> {
        let Some(pre) = &self.tools_pre else {
            return Ok(Vec::new());
        };
        self.in_slot(async {
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
                    let arguments = ArgumentSchema::compile(&parameters).map_err(|e| {
                        CallError::Failed(format!(
                            "tool `{}` has a parameters schema that does not compile: {e}",
                            s.name
                        ))
                    })?;
                    Ok(ToolInfo {
                        name: s.name,
                        description: s.description,
                        parameters,
                        arguments: Arc::new(arguments),
                    })
                })
                .collect()
        })
        .await
    }

    pub(super) async fn describe_guardrails(&self) -> Result<Vec<GuardrailInfo>, CallError> {
        let Some(pre) = &self.guardrails_pre else {
            return Ok(Vec::new());
        };
        self.in_slot(async {
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
        let timed = self.tool_metrics.get(tool);
        let observe = |phase, since: Instant| {
            if let Some(m) = timed {
                m.phase(phase, since.elapsed());
            }
        };
        let asked = Instant::now();
        let out = self
            .in_slot(async {
                observe(Phase::Queue, asked);
                let started = Instant::now();
                let mut store = self.store(&info.call_id)?;
                let inst = pre
                    .instantiate_async(&mut store)
                    .await
                    .map_err(instantiate_error)?;
                observe(Phase::Instantiate, started);
                let running = Instant::now();
                let out = inst
                    .agentd_plugin_tools()
                    .call_call(&mut store, tool, arguments, &ctx)
                    .await
                    .map_err(|e| self.classify(&store, e));
                observe(Phase::Run, running);
                out
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
        match &result {
            // The sandbox stopped the call: the operator needs to know which
            // plugin, tool and call, whatever the session does with the error.
            Err(e) if e.is_sandbox_stop() => {
                tracing::warn!(plugin = %self.name, tool, call_id = %info.call_id, error = %e, "tool call stopped by the sandbox");
            }
            Err(e @ CallError::QueueFull { .. }) => {
                tracing::warn!(plugin = %self.name, tool, call_id = %info.call_id, error = %e, "tool call refused: the call queue is full");
            }
            _ => {}
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
            .in_slot(async {
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
            .await;
        if let Err(e @ CallError::QueueFull { .. }) = &verdict {
            tracing::warn!(plugin = %self.name, guardrail = name, call_id = %info.call_id, error = %e, "guardrail check refused: the call queue is full");
        }
        let verdict = verdict?;
        Ok(GuardrailVerdict {
            tripwire: verdict.tripwire,
            reason: verdict.reason,
        })
    }
}
