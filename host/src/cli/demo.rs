//! `supervise demo-data`: writes the synthetic province (datasets, regions, schemas, ground
//! truth) to a directory.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::demo::{self, Options};

use super::CliError;

/// Arguments of `supervise demo-data`.
#[derive(Debug, Args)]
pub struct DemoDataArgs {
    /// Seed: the same seed, scale and as-of date give the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Residents (at least 10,000); the other datasets follow, about 5 rows per resident.
    #[arg(long, default_value_t = 10_000)]
    pub scale: u64,
    /// The day the data is current to, YYYY-MM-DD (today by default): models look back from it.
    #[arg(long)]
    pub as_of: Option<String>,
    /// The directory to write.
    #[arg(long)]
    pub out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `supervise demo-data`.
pub fn demo_data(a: &DemoDataArgs) -> Result<ExitCode, CliError> {
    let as_of = match &a.as_of {
        Some(s) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| CliError::Usage(format!("--as-of `{s}` is not a date (YYYY-MM-DD)")))?,
        None => chrono::Local::now().date_naive(),
    };
    let started = std::time::Instant::now();
    let summary = demo::generate(&Options {
        seed: a.seed,
        scale: a.scale,
        as_of,
        out: a.out.clone(),
        progress: !a.quiet,
    })
    .map_err(|e| CliError::Usage(e.to_string()))?;
    let rows: u64 = summary.rows.values().sum();
    println!(
        "wrote {} datasets, {rows} rows, to {} in {:.1} s (seed {}, as of {as_of})",
        summary.rows.len(),
        a.out.display(),
        started.elapsed().as_secs_f64(),
        a.seed
    );
    for (model, n) in &summary.planted {
        println!("  planted {n:>6} for {model}");
    }
    println!(
        "  ground truth: {}",
        a.out.join("ground_truth.jsonl").display()
    );
    Ok(ExitCode::SUCCESS)
}
