//! What a run produced: outcome, the reason of a failure in words a reviewer understands,
//! clues and run statistics.

use std::collections::BTreeMap;

use serde::Serialize;

use super::bindings::Clue;
use super::limits::LimitExceeded;
use super::source::SourceError;
use super::state::{LogLine, RunState};

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Failure {
    /// The fuel budget ran out.
    #[error("fuel budget of {0} units exhausted (the model computes too much or never stops)")]
    FuelExhausted(u64),
    /// The wall-clock deadline passed.
    #[error("wall-clock deadline of {0} ms exceeded")]
    Deadline(u64),
    /// A per-run limit was exceeded.
    #[error("{0}")]
    Limit(LimitExceeded),
    /// The guest wrote more to stdout or stderr than the log cap.
    #[error("model wrote more than {cap} bytes to {stream}")]
    Output {
        /// `stdout` or `stderr`.
        stream: &'static str,
        /// Cap in bytes.
        cap: u64,
    },
    /// The guest's call stack overflowed.
    #[error("stack overflow (unbounded recursion in the model)")]
    StackOverflow,
    /// The guest panicked; the SDK logged the message.
    #[error("model panicked: {0}")]
    Panic(String),
    /// Any other trap.
    #[error("model trapped: {0}")]
    Trap(String),
    /// The model's `run` returned an error.
    #[error("model returned an error: {0}")]
    Model(String),
    /// The data source failed; not the model's fault.
    #[error("{0}")]
    Source(SourceError),
    /// Someone cancelled the run.
    #[error("cancelled while running")]
    Cancelled,
}

impl Serialize for Failure {
    /// A failure is recorded as its message.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl Failure {
    /// Whether this is the wall-clock deadline (a "timed out" outcome rather than "failed").
    pub fn is_timeout(&self) -> bool {
        matches!(self, Failure::Deadline(_))
    }

    /// Whether a retry may succeed: host faults, not the model's behaviour.
    pub fn is_host_fault(&self) -> bool {
        matches!(self, Failure::Source(SourceError::Backend(_)))
    }

    /// Classifies the error a call into the guest ended with.
    pub(crate) fn classify(err: &wasmtime::Error, state: &RunState) -> Failure {
        let limits = &state.limits;
        if let Some(l) = err.downcast_ref::<LimitExceeded>() {
            return Failure::Limit(l.clone());
        }
        if err.downcast_ref::<super::Cancelled>().is_some() {
            return Failure::Cancelled;
        }
        if let Some(s) = err.downcast_ref::<SourceError>() {
            return Failure::Source(s.clone());
        }
        if let Some(stream) = state.output_overflowed() {
            return Failure::Output {
                stream,
                cap: limits.max_log_bytes,
            };
        }
        match err.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::OutOfFuel) => Failure::FuelExhausted(limits.fuel),
            Some(wasmtime::Trap::Interrupt) => Failure::Deadline(limits.wall_clock_ms),
            Some(wasmtime::Trap::StackOverflow) => Failure::StackOverflow,
            Some(trap) => match &state.out.panic {
                Some(p) => Failure::Panic(p.clone()),
                None if *trap == wasmtime::Trap::MemoryOutOfBounds => Failure::Trap(format!(
                    "{trap} (a bug in the model, or its shadow stack in linear memory overflowing)"
                )),
                None => Failure::Trap(trap.to_string()),
            },
            None => Failure::Trap(format!("{err:#}")),
        }
    }
}

/// Statistics of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunStats {
    /// Rows returned per dataset.
    pub rows_read: BTreeMap<String, u64>,
    /// Fuel consumed.
    pub fuel_used: u64,
    /// Peak linear memory, bytes.
    pub peak_memory_bytes: u64,
    /// Time from instantiation to return, microseconds.
    pub wall_us: u64,
    /// Clues emitted.
    pub clues: u64,
}

/// The end of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", content = "reason", rename_all = "snake_case")]
pub enum Outcome {
    /// The model returned normally.
    Succeeded,
    /// It failed for the reason given.
    Failed(Failure),
    /// The wall-clock deadline passed.
    TimedOut(Failure),
    /// Someone cancelled it.
    Cancelled,
}

impl Outcome {
    /// The outcome for a failure.
    pub fn from_failure(f: Failure) -> Self {
        match f {
            Failure::Cancelled => Outcome::Cancelled,
            f if f.is_timeout() => Outcome::TimedOut(f),
            f => Outcome::Failed(f),
        }
    }

    /// The failure, if any.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Outcome::Succeeded => None,
            Outcome::Failed(f) | Outcome::TimedOut(f) => Some(f),
            Outcome::Cancelled => Some(&Failure::Cancelled),
        }
    }
}

/// Everything a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    /// How it ended.
    pub outcome: Outcome,
    /// Clues emitted (empty when the run did not succeed: a failed run's clues are discarded).
    pub clues: Vec<Clue>,
    /// Statistics.
    pub stats: RunStats,
    /// Model log.
    pub log: Vec<LogLine>,
    /// Model log lines dropped past the cap.
    pub log_dropped: u64,
    /// Guest stdout, capped.
    pub stdout: String,
    /// Guest stderr, capped.
    pub stderr: String,
    /// Requests outside the approved scope.
    pub denied: Vec<String>,
}
