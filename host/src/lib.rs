//! Supervise: the host platform for sandboxed digital supervision models.
//!
//! - [`runtime`]: the wasmtime sandbox that loads, describes and runs model components;
//! - [`datasets`]: data values, pseudonyms and the in-memory fixture source;
//! - [`cli`]: the `supervise` command line.

pub mod cli;
pub mod datasets;
pub mod runtime;
