//! The sandbox: a wasmtime engine with the component model, pooling allocator, fuel and
//! epoch interruption; the linker with the contract's imports and WASI p2 granting nothing;
//! the compiled-artifact cache; loading, describing and running models.

pub mod bindings;
pub mod cache;
pub mod host_impl;
pub mod limits;
pub mod manifest;
pub mod outcome;
pub mod source;
pub mod state;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
    UpdateDeadline,
};

pub use bindings::{Manifest, SUPPORTED_WIT_VERSIONS, Value};
pub use cache::{CacheStatus, ComponentCache};
pub use limits::RunLimits;
pub use outcome::{Failure, Outcome, RunOutcome, RunStats};
pub use source::{DataSource, Scope};
pub use state::RunInfo;

use bindings::{Model, ModelPre};
use state::{RunScope, RunState};

/// Epoch tick: the resolution of wall-clock deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Engine-wide settings, fixed for the life of a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are cached; `None` compiles on every load.
    pub cache_dir: Option<PathBuf>,
    /// Runs that may be live at once (sizes the pooling allocator).
    pub max_concurrent_runs: u32,
    /// Hard ceiling on any run's memory limit, bytes.
    pub memory_ceiling_bytes: u64,
    /// Guest call-stack size, bytes.
    pub max_wasm_stack: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            max_concurrent_runs: 16,
            memory_ceiling_bytes: 4 << 30,
            max_wasm_stack: 1 << 20,
        }
    }
}

/// Why a component could not be loaded or a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Not WebAssembly at all.
    #[error("not a WebAssembly component: {0}")]
    NotWasm(String),
    /// A core module rather than a component.
    #[error(
        "this is a core WebAssembly module, not a component: build the model with \
         `cargo build --release --target wasm32-wasip2`"
    )]
    CoreModule,
    /// Built against a contract version this host does not bind.
    #[error("the component targets {found}; this host accepts supervise:model@{supported}")]
    UnsupportedWit {
        /// The import that named the version.
        found: String,
        /// Supported versions.
        supported: String,
    },
    /// The component does not export the model world.
    #[error(
        "the component does not export `{0}`: it is not a supervision model (use supervise_sdk::export_model!)"
    )]
    NotAModel(&'static str),
    /// Cranelift or validation failed.
    #[error("the component does not compile: {0}")]
    Compile(String),
    /// Imports the sandbox does not provide.
    #[error("the component needs imports the sandbox does not provide: {0}")]
    Link(String),
    /// `describe` failed.
    #[error("describe failed: {0}")]
    Describe(Failure),
    /// The manifest is malformed.
    #[error("malformed manifest: {0}")]
    Manifest(String),
    /// A parameter value is wrong.
    #[error("{0}")]
    Params(String),
    /// Limits are out of range.
    #[error("bad limits: {0}")]
    Limits(String),
    /// The engine could not be set up.
    #[error("engine setup failed: {0}")]
    Engine(String),
    /// The compiled cache could not be opened.
    #[error("cannot open the compiled cache: {0}")]
    Cache(#[from] std::io::Error),
}

/// A component compiled, linked, described and ready to instantiate.
pub struct LoadedModel {
    /// sha256 of the component bytes, hex.
    pub sha256: String,
    /// The validated manifest.
    pub manifest: Manifest,
    /// Whether it came from the compiled cache.
    pub cache: CacheStatus,
    /// Time to compile or deserialise.
    pub load_time: Duration,
    pre: ModelPre<RunState>,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("id", &self.manifest.id)
            .field("version", &self.manifest.version)
            .field("sha256", &self.sha256)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// One run's parameters.
#[derive(Clone)]
pub struct RunRequest {
    /// Region, as-of date and run id.
    pub info: RunInfo,
    /// Parameter overrides (the rest take their defaults).
    pub params: Vec<(String, Value)>,
    /// Approved scope; `None` means everything the manifest declares.
    pub scope: Option<Scope>,
    /// Limits.
    pub limits: RunLimits,
    /// Where the data comes from.
    pub source: Arc<dyn DataSource>,
    /// Set from another thread to stop the run at the next epoch tick.
    pub cancel: Cancel,
}

/// A flag that cancels a running model: the run stops within one epoch tick and ends as
/// [`Outcome::Cancelled`]. Clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Asks the run to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether the run was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The error a cancelled run traps with; recognised when the run ends.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("cancelled")]
pub(crate) struct Cancelled;

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("supervise-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .ok();
        EpochTicker { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The sandbox runtime. One per process; share it by reference.
pub struct Runtime {
    engine: Engine,
    linker: Linker<RunState>,
    cache: Option<ComponentCache>,
    config: RuntimeConfig,
    /// Models loaded for runs, by sha256 (see [`Runtime::load_shared`]).
    loaded: Mutex<HashMap<String, Arc<LoadedModel>>>,
    _ticker: EpochTicker,
}

/// Bytes of each pooled linear memory zeroed with `memset` when a run ends, instead of being
/// given back to the kernel: the next run in that slot then does not fault its pages in
/// again one by one. Either way it starts from zeroes.
const KEEP_RESIDENT_BYTES: usize = 32 << 20;

/// Bytes of each pooled table reset with `memset` when a run ends, as for linear memory
/// ([`KEEP_RESIDENT_BYTES`]): a model's tables are a few pages at most, and giving them back
/// to the kernel after every run cost an `madvise`, a TLB shoot-down on the other cores and a
/// page fault on the next run's first call (about a tenth of a 1 M province's time, measured
/// in session 16).
const TABLE_KEEP_RESIDENT_BYTES: usize = 64 << 10;

/// Most models [`Runtime::load_shared`] keeps loaded; beyond it it starts again.
const LOADED_MODELS: usize = 64;

impl Runtime {
    /// An engine and linker with the given settings.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let n = config.max_concurrent_runs.max(1) + 2;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(n)
            .total_core_instances(n * 8)
            .total_memories(n * 2)
            .total_tables(n * 8)
            .total_stacks(n)
            .max_memory_size(usize::try_from(config.memory_ceiling_bytes).unwrap_or(usize::MAX))
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(TABLE_KEEP_RESIDENT_BYTES)
            // Where the kernel can say which pages a run wrote (`PAGEMAP_SCAN`, Linux 6.7+),
            // only those are reset; elsewhere every kept-resident byte is, as before. Either
            // way the next run starts from zeroes (`tests/runtime`: memory_left_by_a_run…).
            .pagemap_scan(Enabled::Auto);
        let mut c = Config::new();
        c.wasm_component_model(true)
            .concurrency_support(false)
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(config.max_wasm_stack)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&c).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        Model::add_to_linker::<RunState, HasSelf<RunState>>(&mut linker, |s| s)
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let cache = match &config.cache_dir {
            Some(dir) => Some(ComponentCache::open(dir, &engine)?),
            None => None,
        };
        let ticker = EpochTicker::start(engine.clone());
        Ok(Runtime {
            engine,
            linker,
            cache,
            config,
            loaded: Mutex::new(HashMap::new()),
            _ticker: ticker,
        })
    }

    /// The engine-wide settings.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// The pooled linear-memory slots no run is using that an earlier run used: how many, and
    /// the bytes they keep resident (reset for the next run rather than given back to the
    /// kernel; see `KEEP_RESIDENT_BYTES`). For diagnostics, and for the test that a reused
    /// slot starts from zeroes.
    pub fn idle_memory_slots(&self) -> (u32, usize) {
        self.engine.pooling_allocator_metrics().map_or((0, 0), |m| {
            (m.unused_warm_memories(), m.unused_memory_bytes_resident())
        })
    }

    /// Compiles (or loads from cache), checks the contract version and exports, links,
    /// calls `describe` in the sandbox and validates the manifest.
    pub fn load(&self, bytes: &[u8]) -> Result<LoadedModel, RuntimeError> {
        check_header(bytes)?;
        let sha256 = hex::encode(Sha256::digest(bytes));
        let start = Instant::now();
        let (component, cache) = match &self.cache {
            Some(c) => c.load(&self.engine, &sha256, bytes),
            None => wasmtime::component::Component::new(&self.engine, bytes)
                .map(|c| (c, CacheStatus::Compiled)),
        }
        .map_err(|e| RuntimeError::Compile(format!("{e:#}")))?;
        let load_time = start.elapsed();
        self.check_contract(&component)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| RuntimeError::Link(format!("{e:#}")))?;
        let pre = ModelPre::new(pre).map_err(|e| RuntimeError::Link(format!("{e:#}")))?;
        let manifest = self.describe(&pre)?;
        manifest::validate(&manifest).map_err(RuntimeError::Manifest)?;
        Ok(LoadedModel {
            sha256,
            manifest,
            cache,
            load_time,
            pre,
        })
    }

    /// As [`Runtime::load`], but a component this runtime already loaded (the same sha256)
    /// is shared instead of being deserialised, linked and described again: what a worker
    /// does before every batch of runs. The caller checks the bytes are the ones it may run
    /// first (the registry's fail-closed load, `registry::load`), so it passes the `sha256`
    /// (hex) it has checked the bytes against rather than have them hashed again.
    pub fn load_shared(
        &self,
        bytes: &[u8],
        sha256: &str,
    ) -> Result<Arc<LoadedModel>, RuntimeError> {
        debug_assert_eq!(sha256, hex::encode(Sha256::digest(bytes)));
        let lock = || self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(model) = lock().get(sha256) {
            return Ok(model.clone());
        }
        let model = Arc::new(self.load(bytes)?);
        let mut loaded = lock();
        if loaded.len() >= LOADED_MODELS {
            loaded.clear();
        }
        loaded.insert(sha256.to_string(), model.clone());
        Ok(model)
    }

    fn check_contract(
        &self,
        component: &wasmtime::component::Component,
    ) -> Result<(), RuntimeError> {
        let ty = component.component_type();
        let prefix = format!("{}/", bindings::WIT_PACKAGE);
        for (name, _) in ty.imports(&self.engine) {
            if let Some(rest) = name.strip_prefix(&prefix) {
                let version = rest.split_once('@').map(|(_, v)| v).unwrap_or("");
                if !SUPPORTED_WIT_VERSIONS.contains(&version) {
                    return Err(RuntimeError::UnsupportedWit {
                        found: format!(
                            "{}@{}",
                            bindings::WIT_PACKAGE,
                            if version.is_empty() {
                                "(unversioned)"
                            } else {
                                version
                            }
                        ),
                        supported: SUPPORTED_WIT_VERSIONS.join(", "),
                    });
                }
            }
        }
        let exports: Vec<&str> = ty.exports(&self.engine).map(|(n, _)| n).collect();
        for want in ["describe", "run"] {
            if !exports.contains(&want) {
                return Err(RuntimeError::NotAModel(want));
            }
        }
        Ok(())
    }

    /// A fresh store for one call. Every epoch tick checks the wall-clock deadline and the
    /// cancel flag; either ends the guest's execution with a trap.
    fn store(&self, state: RunState, cancel: Cancel) -> Store<RunState> {
        let deadline = Instant::now() + state.limits.wall_clock();
        let fuel = state.limits.fuel;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        // Fuel is enabled on the engine, so this cannot fail.
        store.set_fuel(fuel).ok();
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if cancel.is_cancelled() {
                Err(Cancelled.into())
            } else if Instant::now() >= deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Continue(1))
            }
        });
        store
    }

    fn describe(&self, pre: &ModelPre<RunState>) -> Result<Manifest, RuntimeError> {
        let limits = RunLimits {
            memory_bytes: 64 << 20,
            fuel: 1_000_000_000,
            wall_clock_ms: 5_000,
            ..RunLimits::default()
        };
        let mut store = self.store(RunState::new(limits, None), Cancel::default());
        let result = pre
            .instantiate(&mut store)
            .and_then(|m| m.call_describe(&mut store));
        result.map_err(|e| RuntimeError::Describe(Failure::classify(&e, store.data())))
    }

    /// Instantiates the model in a fresh store and drops it: for warm-up and benchmarks.
    pub fn instantiate(&self, model: &LoadedModel) -> Result<(), RuntimeError> {
        let mut store = self.store(RunState::new(RunLimits::default(), None), Cancel::default());
        model
            .pre
            .instantiate(&mut store)
            .map(drop)
            .map_err(|e| RuntimeError::Link(format!("{e:#}")))
    }

    /// Runs a model once. Fails before running on bad parameters or limits; a model that
    /// misbehaves while running gives an `Ok` outcome that says why it failed.
    pub fn run(
        &self,
        model: &LoadedModel,
        request: RunRequest,
    ) -> Result<RunOutcome, RuntimeError> {
        let limits = request.limits;
        limits
            .validate(self.config.memory_ceiling_bytes)
            .map_err(RuntimeError::Limits)?;
        let m = &model.manifest;
        let params = manifest::resolve_params(m, &request.params).map_err(RuntimeError::Params)?;
        let scope = request
            .scope
            .unwrap_or_else(|| Scope::declared(&m.datasets));
        let span = tracing::info_span!("run", model = %m.id, version = %m.version,
            region = %request.info.region, run_id = %request.info.run_id);
        let _enter = span.enter();
        let run = RunScope {
            info: request.info,
            params,
            scope,
            clue_kinds: m.clue_kinds.iter().map(|k| k.id.clone()).collect(),
            source: request.source,
        };
        let mut store = self.store(RunState::new(limits, Some(run)), request.cancel);
        let start = Instant::now();
        let result = model
            .pre
            .instantiate(&mut store)
            .and_then(|instance| instance.call_run(&mut store));
        let wall = start.elapsed();
        let fuel_left = store.get_fuel().unwrap_or(0);
        let state = store.data();
        let outcome = match result {
            Ok(Ok(())) => Outcome::Succeeded,
            Ok(Err(e)) => Outcome::Failed(Failure::Model(wit_error_text(&e))),
            Err(e) => Outcome::from_failure(Failure::classify(&e, state)),
        };
        match outcome.failure() {
            None => tracing::info!(clues = state.out.clues.len(), "run succeeded"),
            Some(f) => tracing::warn!("run failed: {f}"),
        }
        let state = store.into_data();
        let text = |p: &wasmtime_wasi::p2::pipe::MemoryOutputPipe| {
            String::from_utf8_lossy(&p.contents()).into_owned()
        };
        let stats = RunStats {
            rows_read: state.out.rows_read.clone(),
            fuel_used: state.limits.fuel.saturating_sub(fuel_left),
            peak_memory_bytes: state.limiter.peak(),
            wall_us: wall.as_micros() as u64,
            clues: state.out.clues.len() as u64,
        };
        let succeeded = outcome == Outcome::Succeeded;
        Ok(RunOutcome {
            outcome,
            clues: if succeeded {
                state.out.clues
            } else {
                Vec::new()
            },
            stats,
            log: state.out.log,
            log_dropped: state.out.log_dropped,
            stdout: text(&state.stdout),
            stderr: text(&state.stderr),
            denied: state.out.denied,
        })
    }
}

fn wit_error_text(e: &bindings::WitError) -> String {
    use bindings::WitError as E;
    match e {
        E::NotDeclared(s) => format!("not declared: {s}"),
        E::NotFound(s) => format!("not found: {s}"),
        E::LimitExceeded(s) => format!("limit exceeded: {s}"),
        E::InvalidArgument(s) => format!("invalid argument: {s}"),
        E::ModelFailed(s) => s.clone(),
    }
}

/// Rejects what is not a component before handing it to the compiler.
fn check_header(bytes: &[u8]) -> Result<(), RuntimeError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(RuntimeError::NotWasm(
            "the file does not start with the WebAssembly magic bytes".into(),
        ));
    }
    match bytes[4..8] {
        [1, 0, 0, 0] => Err(RuntimeError::CoreModule),
        [_, _, 1, 0] => Ok(()),
        _ => Err(RuntimeError::NotWasm(
            "unknown WebAssembly binary version".into(),
        )),
    }
}
