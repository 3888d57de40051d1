//! The host side of each WIT interface, one file per interface, all of one shape: an
//! `impl Host for RunState` that checks its input and the run's scope.

pub mod clues;
pub mod context;
pub mod data;
pub mod log;

impl super::bindings::supervise::model::types::Host for super::state::RunState {}
