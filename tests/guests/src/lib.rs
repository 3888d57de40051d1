//! Paths of the guest components built from `plugins/` by this crate's build script: real
//! models and the hostile `test-*` guests, for the host's tests and benchmarks.

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// Reads a guest component's bytes.
pub fn bytes(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read guest {path}: {e}"))
}

/// The same component with a custom section named `tag` appended: different bytes (and
/// sha256), same behaviour. For tests of content addressing and for cache benchmarks.
pub fn variant(component: &[u8], tag: &str) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut payload = Vec::new();
    leb(tag.len(), &mut payload);
    payload.extend_from_slice(tag.as_bytes());
    let mut out = component.to_vec();
    out.push(0);
    leb(payload.len(), &mut out);
    out.extend_from_slice(&payload);
    out
}
