//! Shared set-up: a runtime, loaded guests, the pension fixtures as a data source.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use supervise::datasets::fixtures;
use supervise::datasets::pseudonym::{FIXTURE_KEY, Pseudonymizer};
use supervise::runtime::{
    LoadedModel, RunInfo, RunLimits, RunOutcome, RunRequest, Runtime, RuntimeConfig, Value,
};

pub fn runtime(cache: Option<&Path>) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: cache.map(Path::to_path_buf),
        max_concurrent_runs: 4,
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

pub fn load(rt: &Runtime, path: &str) -> LoadedModel {
    rt.load(&supervise_test_guests::bytes(path))
        .unwrap_or_else(|e| panic!("load {path}: {e}"))
}

pub fn pension_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/pension-after-death/fixtures")
}

pub fn as_of(date: &str) -> i32 {
    supervise::datasets::values::parse_date(date).expect("date")
}

/// Runs `model` over the pension fixtures with `limits` and `params`.
pub fn run_on_fixtures(
    rt: &Runtime,
    model: &LoadedModel,
    region: &str,
    params: Vec<(String, Value)>,
    limits: RunLimits,
) -> RunOutcome {
    let source = fixtures::load_dir(
        &pension_fixtures(),
        &model.manifest,
        &Pseudonymizer::new(FIXTURE_KEY),
    )
    .expect("fixtures");
    rt.run(
        model,
        RunRequest {
            info: RunInfo {
                region: region.into(),
                as_of: as_of("2024-07-31"),
                run_id: "test".into(),
            },
            params,
            scope: None,
            limits,
            source: Arc::new(source),
            cancel: Default::default(),
        },
    )
    .expect("run starts")
}
