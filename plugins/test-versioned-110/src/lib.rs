//! Test-only guest: version 1.1.0 of `test-versioned`.

include!("../../test-versioned-090/src/model.rs");
