//! Calling a plugin: a store and instance per call (or a reused one, see
//! [`super::instances`]), under the limits of its sandbox —
//! [`Plugin::call_tool`], [`Plugin::check_guardrail`] and the `describe` calls
//! made at load. Both contract versions are called here; 0.1 values are
//! converted to the 0.2 types at this edge.
//!
//! Invariants:
//! - a call first takes an instance slot ([`super::queue`]), waiting in the
//!   bounded queue if none is free; the slot outlives the store, so the pool
//!   never holds more instances than there are slots;
//! - a call gets a new `Store` and instance from a pre-linked `InstancePre`
//!   unless the plugin opted into reuse; a trapped instance is never reused;
//! - a 0.2 guardrail that answers an error trips (fails closed) and the error
//!   is logged;
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

use super::bindings::{self, CallContext, GuardrailSpec, Level, Subject, ToolError, ToolSpec};
use super::bindings::{v0_1, v0_2};
use super::error::CallError;
use super::host::{CORE_INSTANCES_PER_CALL, EPOCH_TICK, MEMORIES_PER_CALL, TABLES_PER_CALL};
use super::instances::Kind;
use super::load::{GuardrailInfo, Plugin, ToolInfo};
use super::sandbox;
use super::schema::ArgumentSchema;

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
    pub(super) limits: Limits,
    pub(super) deadline: Instant,
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

impl v0_1::tools::agentd::plugin::host::Host for HostState {
    fn log(&mut self, level: v0_1::tools::agentd::plugin::host::Level, message: String) {
        use v0_1::tools::agentd::plugin::host::Level as L;
        let level = match level {
            L::Trace => Level::Trace,
            L::Debug => Level::Debug,
            L::Info => Level::Info,
            L::Warn => Level::Warn,
            L::Error => Level::Error,
        };
        bindings::Host::log(self, level, message);
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
pub(super) struct Limits {
    memory: u64,
    memory_hit: bool,
    /// The largest linear memory this store has grown to, in bytes.
    pub(super) peak: u64,
    /// Linear memory this store grew to, counted in `agentd_wasm_memory_bytes`
    /// until the store (and these limits with it) is dropped — after one call,
    /// or when a reused instance is recycled or evicted.
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
            self.peak = self.peak.max(desired as u64);
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
pub(super) fn instantiate_error(e: wasmtime::Error) -> CallError {
    CallError::Instantiate(format!("{e:#}"))
}

/// A component's `tools` export, pre-linked, by contract version.
#[derive(Clone)]
pub(super) enum ToolsPre {
    V0_1(v0_1::tools::ToolPluginPre<HostState>),
    V0_2(v0_2::tools::ToolPluginPre<HostState>),
}

/// A component's `guardrails` export, pre-linked, by contract version.
#[derive(Clone)]
pub(super) enum GuardrailsPre {
    V0_1(v0_1::guardrails::GuardrailPluginPre<HostState>),
    V0_2(v0_2::guardrails::GuardrailPluginPre<HostState>),
}

/// A live instance's exports, by contract version.
pub(super) enum Instance {
    ToolsV0_1(v0_1::tools::ToolPlugin),
    ToolsV0_2(v0_2::tools::ToolPlugin),
    GuardrailsV0_1(v0_1::guardrails::GuardrailPlugin),
    GuardrailsV0_2(v0_2::guardrails::GuardrailPlugin),
}

impl ToolsPre {
    pub(super) async fn instantiate(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Instance> {
        Ok(match self {
            ToolsPre::V0_1(pre) => Instance::ToolsV0_1(pre.instantiate_async(store).await?),
            ToolsPre::V0_2(pre) => Instance::ToolsV0_2(pre.instantiate_async(store).await?),
        })
    }
}

impl GuardrailsPre {
    pub(super) async fn instantiate(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Instance> {
        Ok(match self {
            GuardrailsPre::V0_1(pre) => {
                Instance::GuardrailsV0_1(pre.instantiate_async(store).await?)
            }
            GuardrailsPre::V0_2(pre) => {
                Instance::GuardrailsV0_2(pre.instantiate_async(store).await?)
            }
        })
    }
}

fn wrong_kind() -> wasmtime::Error {
    wasmtime::Error::msg("internal: an instance was called through the wrong export")
}

/// One call into a live instance.
pub(super) enum Op<'a> {
    Tool {
        tool: &'a str,
        arguments: &'a str,
        ctx: &'a CallContext,
    },
    Check {
        name: &'a str,
        subject: &'a Subject,
        ctx: &'a CallContext,
    },
}

/// What an [`Op`] answered.
pub(super) enum Answer {
    Tool(Result<String, ToolError>),
    Check(Result<bindings::Verdict, String>),
}

impl Instance {
    pub(super) async fn perform(
        &self,
        store: &mut Store<HostState>,
        op: &Op<'_>,
    ) -> wasmtime::Result<Answer> {
        match op {
            Op::Tool {
                tool,
                arguments,
                ctx,
            } => Ok(Answer::Tool(
                self.call_tool(store, tool, arguments, ctx).await?,
            )),
            Op::Check { name, subject, ctx } => {
                Ok(Answer::Check(self.check(store, name, subject, ctx).await?))
            }
        }
    }

    async fn describe_tools(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Vec<ToolSpec>> {
        match self {
            Instance::ToolsV0_2(i) => i.agentd_plugin_tools().call_describe(store).await,
            Instance::ToolsV0_1(i) => Ok(i
                .agentd_plugin_tools()
                .call_describe(store)
                .await?
                .into_iter()
                .map(|s| ToolSpec {
                    name: s.name,
                    description: s.description,
                    parameters_schema: s.parameters_schema,
                })
                .collect()),
            _ => Err(wrong_kind()),
        }
    }

    async fn call_tool(
        &self,
        store: &mut Store<HostState>,
        tool: &str,
        arguments: &str,
        ctx: &CallContext,
    ) -> wasmtime::Result<Result<String, ToolError>> {
        match self {
            Instance::ToolsV0_2(i) => {
                i.agentd_plugin_tools()
                    .call_call(store, tool, arguments, ctx)
                    .await
            }
            Instance::ToolsV0_1(i) => {
                use v0_1::tools::agentd::plugin::types as t;
                let ctx = t::CallContext {
                    session_id: ctx.session_id.clone(),
                    agent: ctx.agent.clone(),
                    call_id: ctx.call_id.clone(),
                };
                Ok(i.agentd_plugin_tools()
                    .call_call(store, tool, arguments, &ctx)
                    .await?
                    .map_err(|e| match e {
                        t::ToolError::InvalidArguments(m) => ToolError::InvalidArguments(m),
                        t::ToolError::Failed(m) => ToolError::Failed(m),
                    }))
            }
            _ => Err(wrong_kind()),
        }
    }

    async fn describe_guardrails(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Vec<GuardrailSpec>> {
        match self {
            Instance::GuardrailsV0_2(i) => i.agentd_plugin_guardrails().call_describe(store).await,
            Instance::GuardrailsV0_1(i) => Ok(i
                .agentd_plugin_guardrails()
                .call_describe(store)
                .await?
                .into_iter()
                .map(|s| GuardrailSpec {
                    name: s.name,
                    description: s.description,
                })
                .collect()),
            _ => Err(wrong_kind()),
        }
    }

    /// A 0.1 guardrail's verdict is always `Ok`.
    async fn check(
        &self,
        store: &mut Store<HostState>,
        name: &str,
        subject: &Subject,
        ctx: &CallContext,
    ) -> wasmtime::Result<Result<bindings::Verdict, String>> {
        match self {
            Instance::GuardrailsV0_2(i) => {
                i.agentd_plugin_guardrails()
                    .call_check(store, name, subject, ctx)
                    .await
            }
            Instance::GuardrailsV0_1(i) => {
                use v0_1::guardrails::exports::agentd::plugin::guardrails as g;
                use v0_1::tools::agentd::plugin::types as t;
                let ctx = t::CallContext {
                    session_id: ctx.session_id.clone(),
                    agent: ctx.agent.clone(),
                    call_id: ctx.call_id.clone(),
                };
                let subject = match subject {
                    Subject::OutputText(t) => g::Subject::OutputText(t.clone()),
                    Subject::InputText(t) => g::Subject::InputText(t.clone()),
                    Subject::ToolCall(c) => g::Subject::ToolCall(g::ToolCall {
                        tool: c.tool.clone(),
                        arguments_json: c.arguments_json.clone(),
                    }),
                };
                let v = i
                    .agentd_plugin_guardrails()
                    .call_check(store, name, &subject, &ctx)
                    .await?;
                Ok(Ok(bindings::Verdict {
                    tripwire: v.tripwire,
                    reason: v.reason,
                }))
            }
            _ => Err(wrong_kind()),
        }
    }
}

impl Plugin {
    pub(super) fn store(&self, call_id: &str) -> Result<Store<HostState>, CallError> {
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
                peak: 0,
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
    pub(super) fn classify(&self, store: &Store<HostState>, err: wasmtime::Error) -> CallError {
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
    pub(super) async fn in_slot<T>(
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
                .instantiate(&mut store)
                .await
                .map_err(instantiate_error)?;
            let specs = inst
                .describe_tools(&mut store)
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
                .instantiate(&mut store)
                .await
                .map_err(instantiate_error)?;
            let specs = inst
                .describe_guardrails(&mut store)
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
        if self.tools_pre.is_none() {
            return Err(CallError::NotExported(format!(
                "plugin `{}` exports no tools",
                self.name
            )));
        }
        let ctx = CallContext::from(info);
        let op = Op::Tool {
            tool,
            arguments,
            ctx: &ctx,
        };
        let out = match self.run(Kind::Tools, info, op).await {
            Ok(Answer::Tool(r)) => Ok(r),
            Ok(Answer::Check(_)) => Err(CallError::Trap(
                "internal: a tool call got a verdict".into(),
            )),
            Err(e) => Err(e),
        };
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
        if self.guardrails_pre.is_none() {
            return Err(CallError::NotExported(format!(
                "plugin `{}` exports no guardrails",
                self.name
            )));
        }
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
        let op = Op::Check {
            name,
            subject: &subject,
            ctx: &ctx,
        };
        let verdict = match self.run(Kind::Guardrails, info, op).await {
            Ok(Answer::Check(v)) => Ok(v),
            Ok(Answer::Tool(_)) => Err(CallError::Trap(
                "internal: a guardrail check got a tool answer".into(),
            )),
            Err(e) => Err(e),
        };
        if let Err(e @ CallError::QueueFull { .. }) = &verdict {
            tracing::warn!(plugin = %self.name, guardrail = name, call_id = %info.call_id, error = %e, "guardrail check refused: the call queue is full");
        }
        match verdict? {
            Ok(verdict) => Ok(GuardrailVerdict {
                tripwire: verdict.tripwire,
                reason: verdict.reason,
            }),
            // Contract 0.2: the guardrail could not judge. Fail closed.
            Err(error) => {
                let error: String = error.chars().take(1024).collect();
                tracing::warn!(plugin = %self.name, guardrail = name, call_id = %info.call_id, %error, "guardrail answered an error; treated as a trip");
                Ok(GuardrailVerdict {
                    tripwire: true,
                    reason: Some(format!("the guardrail failed: {error}")),
                })
            }
        }
    }
}
