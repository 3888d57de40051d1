//! The store data of one run: WASI context with nothing granted, resource table, limits,
//! the run's scope and what the guest produced.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{Clue, Level, Value};
use super::limits::{MemoryLimiter, RunLimits};
use super::source::{DataSource, Scope};

/// What a run is about, as the guest sees it through `context`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    /// 6-digit region code.
    pub region: String,
    /// As-of date, days since 1970-01-01.
    pub as_of: i32,
    /// Run id.
    pub run_id: String,
}

/// Everything a run (as opposed to `describe`) may use.
pub struct RunScope {
    /// The run's facts.
    pub info: RunInfo,
    /// Effective parameter values, in manifest order.
    pub params: Vec<(String, Value)>,
    /// What may be read.
    pub scope: Scope,
    /// Clue kinds the manifest declares.
    pub clue_kinds: BTreeSet<String>,
    /// Where the rows come from.
    pub source: Arc<dyn DataSource>,
}

/// One line of the run log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogLine {
    /// Severity.
    pub level: &'static str,
    /// Message.
    pub message: String,
}

/// What the guest produced during a run.
#[derive(Debug, Default)]
pub struct RunOutput {
    /// Clues emitted.
    pub clues: Vec<Clue>,
    /// Bytes of evidence emitted so far.
    pub evidence_bytes: u64,
    /// Model log lines kept.
    pub log: Vec<LogLine>,
    /// Bytes of model log kept.
    pub log_bytes: u64,
    /// Model log lines dropped past the cap.
    pub log_dropped: u64,
    /// Rows returned per dataset, scans and look-ups together.
    pub rows_read: BTreeMap<String, u64>,
    /// Requests outside the approved scope, as `dataset` or `dataset.column`.
    pub denied: Vec<String>,
    /// The last panic message the SDK logged, if any.
    pub panic: Option<String>,
}

impl RunOutput {
    pub(crate) fn log(&mut self, level: Level, message: String, cap: u64) {
        if level == Level::Error
            && let Some(p) = message.strip_prefix("panic: ")
        {
            self.panic = Some(p.to_string());
        }
        let len = message.len() as u64;
        if self.log_bytes + len > cap {
            self.log_dropped += 1;
            return;
        }
        self.log_bytes += len;
        let level = match level {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        self.log.push(LogLine { level, message });
    }
}

/// The store data of a run.
pub struct RunState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) limits: RunLimits,
    pub(crate) run: Option<RunScope>,
    pub(crate) out: RunOutput,
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
}

impl RunState {
    /// A state with nothing granted: no files, environment, arguments, network or inherited
    /// stdio; stdout and stderr go to capped in-memory pipes.
    pub fn new(limits: RunLimits, run: Option<RunScope>) -> Self {
        let cap = usize::try_from(limits.max_log_bytes).unwrap_or(usize::MAX);
        let stdout = MemoryOutputPipe::new(cap);
        let stderr = MemoryOutputPipe::new(cap);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        RunState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(limits.memory_bytes),
            limits,
            run,
            out: RunOutput::default(),
            stdout,
            stderr,
        }
    }

    /// The run's scope; a trap when called from `describe`, which must not use imports.
    pub(crate) fn scope(&self) -> wasmtime::Result<&RunScope> {
        self.run
            .as_ref()
            .ok_or_else(|| wasmtime::format_err!("`describe` called a platform import"))
    }

    /// Whether stdout or stderr filled up to the cap.
    pub(crate) fn output_overflowed(&self) -> Option<&'static str> {
        let cap = self.limits.max_log_bytes as usize;
        if self.stdout.contents().len() >= cap {
            Some("stdout")
        } else if self.stderr.contents().len() >= cap {
            Some("stderr")
        } else {
            None
        }
    }

    pub(crate) fn count_rows(&mut self, dataset: &str, rows: u32) {
        *self.out.rows_read.entry(dataset.to_string()).or_default() += u64::from(rows);
    }
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
