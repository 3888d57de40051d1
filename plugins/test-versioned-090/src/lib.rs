//! Test-only guest: version 0.9.0 of `test-versioned`.

include!("model.rs");
