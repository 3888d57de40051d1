//! Runtime tests: real guest components built from `plugins/`, run in the real sandbox.

mod cache;
mod cli;
mod demo;
mod hostile;
mod pension;
mod support;
