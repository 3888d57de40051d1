//! Per-run limits (memory, fuel, wall clock, clues, evidence, log) and the resource limiter
//! that enforces the memory cap and records peak memory.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What one run may consume. Every field has a safe default; an enablement or a command line
/// may override them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunLimits {
    /// Linear memory the guest may grow to, in bytes.
    pub memory_bytes: u64,
    /// Deterministic instruction budget.
    pub fuel: u64,
    /// Wall-clock deadline, in milliseconds.
    pub wall_clock_ms: u64,
    /// Clues a run may emit.
    pub max_clues: u64,
    /// Total encoded size of all clues' evidence, in bytes.
    pub max_evidence_bytes: u64,
    /// Bytes of run log kept (model log plus stdout and stderr, each capped at this).
    pub max_log_bytes: u64,
    /// Largest batch a scan or look-up returns, in rows.
    pub max_batch_rows: u32,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            memory_bytes: 512 << 20,
            fuel: 200_000_000_000,
            wall_clock_ms: 300_000,
            max_clues: 100_000,
            max_evidence_bytes: 64 << 20,
            max_log_bytes: 1 << 20,
            max_batch_rows: 65_536,
        }
    }
}

impl RunLimits {
    /// The wall-clock deadline.
    pub fn wall_clock(&self) -> Duration {
        Duration::from_millis(self.wall_clock_ms)
    }

    /// Checks the limits make sense against the engine's hard ceiling on linear memory.
    pub fn validate(&self, memory_ceiling: u64) -> Result<(), String> {
        if self.memory_bytes < (1 << 20) {
            return Err(format!(
                "memory limit {} bytes is below 1 MiB: no model can start in that",
                self.memory_bytes
            ));
        }
        if self.memory_bytes > memory_ceiling {
            return Err(format!(
                "memory limit {} MiB is above the host's ceiling of {} MiB",
                self.memory_bytes >> 20,
                memory_ceiling >> 20
            ));
        }
        if self.fuel == 0 || self.wall_clock_ms == 0 || self.max_batch_rows == 0 {
            return Err("fuel, wall clock and batch rows must be above zero".into());
        }
        Ok(())
    }
}

/// A limit a run went over; raised as a trap and recognised when the run fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    /// The guest tried to grow memory past the cap.
    #[error("memory limit of {cap} MiB exceeded (the model asked for {requested} MiB)")]
    Memory {
        /// Cap, MiB.
        cap: u64,
        /// Requested size, MiB.
        requested: u64,
    },
    /// Too many clues.
    #[error("clue limit of {cap} exceeded")]
    Clues {
        /// Cap.
        cap: u64,
    },
    /// Too much evidence.
    #[error("evidence limit of {cap} bytes exceeded")]
    Evidence {
        /// Cap.
        cap: u64,
    },
}

/// Enforces the memory cap and records the peak.
#[derive(Debug)]
pub struct MemoryLimiter {
    cap: u64,
    peak: u64,
}

impl MemoryLimiter {
    /// A limiter with a cap in bytes.
    pub fn new(cap: u64) -> Self {
        MemoryLimiter { cap, peak: 0 }
    }

    /// The largest linear memory seen, in bytes.
    pub fn peak(&self) -> u64 {
        self.peak
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let desired = desired as u64;
        if desired > self.cap {
            return Err(wasmtime::Error::new(LimitExceeded::Memory {
                cap: self.cap >> 20,
                requested: desired.div_ceil(1 << 20),
            }));
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}
