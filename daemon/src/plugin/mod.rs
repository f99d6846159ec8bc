//! The plugin host: compiles WebAssembly components, describes what they
//! export, and runs each tool or guardrail call in a fresh sandbox.
//!
//! One concept per module:
//! - [`host`]: [`PluginHost`], the daemon's only wasmtime `Engine` (component
//!   model, epoch interruption, pooling allocator — decided together), its
//!   linker, the pool's sizing and the epoch ticker;
//! - [`queue`]: the instance slots every call takes first, and the bounded
//!   daemon-wide wait for a free one;
//! - [`load`]: read, hash, compile or take from the [`cache`], link, describe
//!   and check a plugin, producing a [`Plugin`]; reuse on reload;
//! - [`call`]: a store per call under the sandbox's limits and deadline:
//!   [`Plugin::call_tool`], [`Plugin::check_guardrail`], both contract
//!   versions;
//! - [`instances`]: `instance = per-call | per-session | pool`: which
//!   instance a call runs on, reuse bound to one session, recycling;
//! - [`inspect`]: what a component file is, without loading it as a plugin
//!   (`agentd plugin inspect`);
//! - [`sandbox`]: what each call may touch (deny by default, grants from the
//!   config), in one place;
//! - [`cache`]: compiled components on disk, who may own them, pruning;
//! - [`compile`]: compiling out of the daemon's address space (a child
//!   process writing the cache) and each plugin's compile progress;
//! - [`schema`]: each tool's argument schema, compiled at load, checked on
//!   every call before policy or the plugin sees it;
//! - [`bindings`]: the host side of the WIT contract, 0.1 and 0.2;
//! - [`error`]: [`HostError`], [`LoadError`], [`CallError`].
//!
//! Invariants across them:
//! - every call gets an instance slot, then a new `Store` and instance (or,
//!   opted in, a reused one of its own session); a trapped instance is never
//!   reused;
//! - a trap, a timeout, a cap hit or a full queue is a [`CallError`] for the
//!   caller, never a panic or a daemon crash;
//! - blocking and CPU-heavy work (compiling, cache loads, hashing, pruning)
//!   runs on blocking threads, off the reactor.

pub mod bindings;
pub mod cache;
pub mod call;
pub mod compile;
pub mod error;
pub mod host;
pub mod inspect;
pub mod instances;
pub mod load;
pub mod queue;
pub mod sandbox;
pub mod schema;

pub use bindings::Contract;
pub use cache::{CacheDirError, ComponentCache, Origin, PruneReport};
pub use call::{CallInfo, GuardrailSubject, GuardrailVerdict};
pub use compile::CompileStatus;
pub use error::{CallError, HostError, LoadError};
pub use host::{DEFAULT_TOOL_QUEUE, HostOptions, PluginHost};
pub use instances::InstanceStats;
pub use load::{GuardrailInfo, Plugin, ToolInfo};
pub use queue::QueueStatus;
pub use schema::{ArgumentError, ArgumentSchema};
