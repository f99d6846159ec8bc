//! Cost of one tool call in a fresh instance: agentd's host against wasmtime's
//! raw instantiate-and-call floor, measured in the same run on the same
//! component (`plugins/calc.wasm`, tool `add`).
//!
//! - `raw`: the same engine settings (pooling allocator, epoch interruption),
//!   a pre-instantiated component, an empty WASI context, no limiter, no
//!   deadline callback: the least wasmtime lets a fresh-instance call cost.
//! - `agentd`: `Plugin::call_tool` — the sandbox's WASI context, memory
//!   limiter, epoch deadline, call deadline, output cap, error mapping.
//! - load: cold compile vs. a hit in the on-disk cache.
//!
//! Run: `cargo xtask plugins && cargo bench -p agentd --bench instantiate`.
//! A benchmark, not a test: it asserts nothing about time.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use agentd::config::{PluginConfig, Sandbox};
use agentd::plugin::bindings::{self, CallContext};
use agentd::plugin::{CallInfo, PluginHost};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

const WARMUP: usize = 2_000;
const ROUNDS: usize = 5;
const PER_ROUND: usize = 4_000;

struct Raw {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Raw {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl bindings::Host for Raw {
    fn log(&mut self, _level: bindings::Level, _message: String) {}
}

fn raw_engine() -> Engine {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(512)
        .total_core_instances(4096)
        .total_memories(1024)
        .total_tables(2048)
        .total_stacks(512)
        .max_memory_size(1 << 30);
    let mut config = wasmtime::Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).expect("engine")
}

struct Stats {
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let n = samples.len();
    let total: Duration = samples.iter().sum();
    Stats {
        p50: samples[n / 2],
        p99: samples[n * 99 / 100],
        mean: total / n as u32,
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let calc = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/calc.wasm");
    if !calc.exists() {
        eprintln!(
            "{} is missing: run `cargo xtask plugins` first",
            calc.display()
        );
        std::process::exit(2);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let bytes = std::fs::read(&calc).expect("read calc.wasm");
    let args = r#"{"a":2,"b":3}"#;

    // Raw floor.
    let engine = raw_engine();
    let component = Component::new(&engine, &bytes).expect("compile");
    let mut linker: Linker<Raw> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).expect("wasi");
    bindings::v0_2::tools::agentd::plugin::host::add_to_linker::<Raw, HasSelf<Raw>>(
        &mut linker,
        |s| s,
    )
    .expect("host");
    let pre =
        bindings::v0_2::tools::ToolPluginPre::new(linker.instantiate_pre(&component).expect("pre"))
            .expect("bindings");
    let ctx = CallContext {
        session_id: "bench".into(),
        agent: "bench".into(),
        call_id: "c".into(),
    };
    let raw_call = || {
        rt.block_on(async {
            let mut store = Store::new(
                &engine,
                Raw {
                    wasi: WasiCtx::builder().build(),
                    table: ResourceTable::new(),
                },
            );
            store.set_epoch_deadline(u64::MAX / 2);
            let inst = pre
                .instantiate_async(&mut store)
                .await
                .expect("instantiate");
            let out = inst
                .agentd_plugin_tools()
                .call_call(&mut store, "add", args, &ctx)
                .await
                .expect("call");
            assert_eq!(out.ok().as_deref(), Some("5"));
        })
    };

    // agentd, and the two ways a plugin is loaded.
    let cache = tempfile::tempdir().expect("tempdir");
    let cfg = PluginConfig {
        name: "calc".into(),
        path: calc.clone(),
        sandbox: Sandbox::default(),
        instance: Default::default(),
        at: None,
    };
    let host = PluginHost::with_cache(cache.path().to_path_buf()).expect("host");
    let t = Instant::now();
    let _compiled = rt.block_on(host.load(&cfg)).expect("load");
    let cold = t.elapsed();
    let host2 = PluginHost::with_cache(cache.path().to_path_buf()).expect("host");
    let t = Instant::now();
    let plugin = rt.block_on(host2.load(&cfg)).expect("load");
    let cached = t.elapsed();
    let info = CallInfo {
        session_id: "bench".into(),
        agent: "bench".into(),
        call_id: "c".into(),
    };
    let agentd_call = || {
        rt.block_on(async {
            let out = plugin.call_tool("add", args, &info).await;
            assert_eq!(out.as_deref(), Ok("5"));
        })
    };

    for _ in 0..WARMUP {
        raw_call();
        agentd_call();
    }
    // Interleaved rounds, so drift (other processes, frequency) hits both alike.
    let (mut raw, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        for _ in 0..PER_ROUND {
            let t = Instant::now();
            raw_call();
            raw.push(t.elapsed());
        }
        for _ in 0..PER_ROUND {
            let t = Instant::now();
            agentd_call();
            ours.push(t.elapsed());
        }
    }
    let (raw, ours) = (stats(raw), stats(ours));
    println!(
        "fresh instance + call `calc.add`, {} calls each, current-thread runtime",
        ROUNDS * PER_ROUND
    );
    println!(
        "  raw wasmtime floor : p50 {:7.1} µs  p99 {:7.1} µs  mean {:7.1} µs",
        us(raw.p50),
        us(raw.p99),
        us(raw.mean)
    );
    println!(
        "  agentd call_tool   : p50 {:7.1} µs  p99 {:7.1} µs  mean {:7.1} µs",
        us(ours.p50),
        us(ours.p99),
        us(ours.mean)
    );
    println!(
        "  ratio agentd/raw   : p50 {:.2}x  mean {:.2}x",
        us(ours.p50) / us(raw.p50),
        us(ours.mean) / us(raw.mean)
    );
    println!(
        "load calc.wasm ({} KB): cold compile {:.1} ms, disk-cache hit {:.2} ms",
        bytes.len() / 1024,
        cold.as_secs_f64() * 1e3,
        cached.as_secs_f64() * 1e3
    );
}
