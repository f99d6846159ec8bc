//! What the built binaries are made of: `agentctl` is a thin client of the
//! control API (the `agentd-api` crate), so it must not link the engine —
//! no wasmtime, no Cranelift — and must stay a small fraction of agentd.
//! Deterministic checks of the files cargo built for this test run.

use std::path::Path;

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// Whether `needle` (lowercase ASCII) occurs in `hay`, ignoring ASCII case.
fn mentions(hay: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    let first = needle[0];
    hay.windows(needle.len())
        .any(|w| w[0].eq_ignore_ascii_case(&first) && w.eq_ignore_ascii_case(needle))
}

#[test]
fn agentctl_links_no_wasm_engine() {
    let agentd = read(env!("CARGO_BIN_EXE_agentd"));
    let agentctl = read(env!("CARGO_BIN_EXE_agentctl"));
    for engine in ["wasmtime", "cranelift"] {
        // The probe works: agentd, which embeds the engine, names it.
        assert!(
            mentions(&agentd, engine),
            "agentd does not mention {engine}: is this the real binary?"
        );
        assert!(
            !mentions(&agentctl, engine),
            "agentctl contains `{engine}`: it links the engine (it should use only agentd_api)"
        );
    }
}

#[test]
fn agentctl_is_under_a_quarter_of_agentd() {
    let size = |p: &str| {
        std::fs::metadata(Path::new(p))
            .unwrap_or_else(|e| panic!("cannot stat {p}: {e}"))
            .len()
    };
    let (agentd, agentctl) = (
        size(env!("CARGO_BIN_EXE_agentd")),
        size(env!("CARGO_BIN_EXE_agentctl")),
    );
    assert!(
        agentctl * 4 < agentd,
        "agentctl is {agentctl} bytes, agentd {agentd}: more than a quarter"
    );
}
