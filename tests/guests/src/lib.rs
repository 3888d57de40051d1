//! Paths of the guest components built from `plugins/` by this crate's build script: real
//! models and the hostile `test-*` guests, for the host's tests and benchmarks.

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// Reads a guest component's bytes.
pub fn bytes(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read guest {path}: {e}"))
}
