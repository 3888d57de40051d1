//! Data as models see it: typed values parsed from text, pseudonyms, region scoping, columns
//! and the in-memory source that serves fixture files (`supervise model test --data DIR`).

pub mod columns;
pub mod fixtures;
pub mod memory;
pub mod pseudonym;
pub mod region;
pub mod values;
