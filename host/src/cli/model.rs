//! `supervise model inspect` and `supervise model test`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use crate::datasets::pseudonym::{FIXTURE_KEY, Pseudonymizer};
use crate::datasets::{fixtures, region, values};
use crate::runtime::{LoadedModel, RunInfo, RunLimits, RunRequest, Runtime, RuntimeConfig, Value};

use super::{Cli, CliError, print};

/// Arguments of `supervise model inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The component (`.wasm`).
    pub file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `supervise model test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The component (`.wasm`).
    pub file: PathBuf,
    /// Directory with one `<dataset>.csv` per dataset the model reads.
    #[arg(long)]
    pub data: PathBuf,
    /// Region the run covers; rows of fixtures with a `region_code` column are limited to it.
    #[arg(long, default_value = "330000")]
    pub region: String,
    /// As-of date (YYYY-MM-DD); today when omitted.
    #[arg(long)]
    pub as_of: Option<String>,
    /// Parameter value, `name=value`; repeatable.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Fuel budget.
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Memory limit, MiB.
    #[arg(long)]
    pub memory_mib: Option<u64>,
    /// Wall-clock deadline, milliseconds.
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

fn runtime(cli: &Cli) -> Result<Runtime, CliError> {
    Runtime::new(RuntimeConfig {
        cache_dir: Some(cli.cache_dir()),
        max_concurrent_runs: 2,
        ..RuntimeConfig::default()
    })
    .map_err(CliError::Setup)
}

fn load(rt: &Runtime, file: &Path) -> Result<LoadedModel, CliError> {
    let bytes = std::fs::read(file).map_err(|source| CliError::Read {
        path: file.to_path_buf(),
        source,
    })?;
    rt.load(&bytes).map_err(|source| CliError::Runtime {
        path: file.to_path_buf(),
        source,
    })
}

/// Prints a component's manifest.
pub fn inspect(cli: &Cli, args: &InspectArgs) -> Result<ExitCode, CliError> {
    let rt = runtime(cli)?;
    let model = load(&rt, &args.file)?;
    if args.json {
        print::json(&print::manifest_json(&model));
    } else {
        print::manifest(&model);
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_params(model: &LoadedModel, raw: &[String]) -> Result<Vec<(String, Value)>, CliError> {
    raw.iter()
        .map(|p| {
            let (name, value) = p.split_once('=').ok_or_else(|| {
                CliError::Usage(format!("--param `{p}` must look like name=value"))
            })?;
            let spec = model
                .manifest
                .parameters
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| {
                    let known: Vec<&str> = model
                        .manifest
                        .parameters
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect();
                    CliError::Usage(format!(
                        "--param {name}: the model has no such parameter (it has: {})",
                        known.join(", ")
                    ))
                })?;
            let v = values::parse_param(spec.type_, value)
                .map_err(|e| CliError::Usage(format!("--param {name}: {e}")))?;
            Ok((name.to_string(), v))
        })
        .collect()
}

/// Runs a component on fixture files and prints clues and stats.
pub fn test(cli: &Cli, args: &TestArgs) -> Result<ExitCode, CliError> {
    region::level(&args.region).map_err(|e| CliError::Usage(format!("--region: {e}")))?;
    let as_of = match &args.as_of {
        Some(d) => values::parse_date(d).map_err(|e| CliError::Usage(format!("--as-of: {e}")))?,
        None => values::parse_date(&chrono::Utc::now().format("%Y-%m-%d").to_string())
            .map_err(CliError::Usage)?,
    };
    let rt = runtime(cli)?;
    let model = load(&rt, &args.file)?;
    let params = parse_params(&model, &args.params)?;
    let source = fixtures::load_dir(
        &args.data,
        &model.manifest,
        &Pseudonymizer::new(FIXTURE_KEY),
    )?;
    let defaults = RunLimits::default();
    let limits = RunLimits {
        fuel: args.fuel.unwrap_or(defaults.fuel),
        memory_bytes: args.memory_mib.map_or(defaults.memory_bytes, |m| m << 20),
        wall_clock_ms: args.timeout_ms.unwrap_or(defaults.wall_clock_ms),
        ..defaults
    };
    let request = RunRequest {
        info: RunInfo {
            region: args.region.clone(),
            as_of,
            run_id: "model-test".into(),
        },
        params,
        scope: None,
        limits,
        source: Arc::new(source),
        cancel: Default::default(),
    };
    let outcome = rt
        .run(&model, request)
        .map_err(|source| CliError::Runtime {
            path: args.file.clone(),
            source,
        })?;
    if args.json {
        print::json(&print::run_json(&model, &outcome));
    } else {
        print::run(&model, &args.region, as_of, &outcome);
    }
    Ok(if outcome.outcome.failure().is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
