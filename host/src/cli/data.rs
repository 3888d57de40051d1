//! `supervise data …` and `supervise regions …`: the dataset catalogue, imports, regions.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::datasets::import::{self, Format, ImportRequest, Mode};
use crate::datasets::pseudonym::Pseudonymizer;
use crate::datasets::schema::DatasetSchema;
use crate::datasets::{catalog, regions};

use super::{Cli, CliError, block_on, print};

/// `supervise data …`
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Define a dataset (or a new version of its schema) from a TOML schema file.
    Define {
        /// The schema file.
        file: PathBuf,
    },
    /// Import a CSV or JSON Lines file into a dataset: every row validated, all or nothing.
    Import(ImportArgs),
    /// List datasets with their schema version, imports and rows.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write the column files of imports that have none (imported before column files, or
    /// through another machine), so runs read them instead of the database.
    Files {
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// Print what was written as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `supervise data import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Dataset name.
    pub dataset: String,
    /// The file (`.csv`, `.jsonl`).
    pub file: PathBuf,
    /// Schema version the file follows (the current one by default).
    #[arg(long)]
    pub schema_version: Option<i64>,
    /// `append` adds rows; `replace` supersedes earlier imports.
    #[arg(long, value_enum, default_value = "append")]
    pub mode: Mode,
    /// Format, when the extension does not tell: `csv` or `jsonl`.
    #[arg(long)]
    pub format: Option<String>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `supervise regions …`
#[derive(Debug, Subcommand)]
pub enum RegionsCommand {
    /// Load regions from a CSV with columns `code,name` (and optionally `level,parent`).
    Load {
        /// The CSV.
        file: PathBuf,
    },
    /// List the loaded regions.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `supervise data …`.
pub fn data(cli: &Cli, cmd: &DataCommand) -> Result<ExitCode, CliError> {
    block_on(async {
        let store = cli.store().await?;
        match cmd {
            DataCommand::Define { file } => {
                let text = std::fs::read_to_string(file).map_err(|source| CliError::Read {
                    path: file.clone(),
                    source,
                })?;
                let schema = DatasetSchema::from_toml(&text)
                    .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
                match catalog::define(&store, &schema, &cli.actor).await? {
                    catalog::Defined::Created(v) => {
                        println!("defined `{}` (schema version {v})", schema.name)
                    }
                    catalog::Defined::NewVersion(v) => {
                        println!("`{}` now at schema version {v}", schema.name)
                    }
                    catalog::Defined::Unchanged(v) => {
                        println!("`{}` unchanged (schema version {v})", schema.name)
                    }
                }
            }
            DataCommand::Import(a) => {
                let format = match a.format.as_deref() {
                    None => None,
                    Some("csv") => Some(Format::Csv),
                    Some("jsonl" | "ndjson") => Some(Format::JsonLines),
                    Some(other) => {
                        return Err(CliError::Usage(format!(
                            "--format {other}: use csv or jsonl"
                        )));
                    }
                };
                let pseudo = Pseudonymizer::from_secret_file(&cli.secret_file(), true)?;
                let request = ImportRequest {
                    dataset: a.dataset.clone(),
                    path: a.file.clone(),
                    format,
                    schema_version: a.schema_version,
                    mode: a.mode,
                    actor: cli.actor.clone(),
                    progress: !a.quiet,
                };
                let report = import::import(&store, &pseudo, &request).await?;
                if a.json {
                    print::json(&serde_json::to_value(&report).unwrap_or_default());
                } else {
                    println!(
                        "imported {} rows into `{}` as import {} (schema version {}, {} chunk(s), {:.0} rows/s)",
                        report.rows,
                        report.dataset,
                        report.id,
                        report.schema_version,
                        report.chunks,
                        report.rows as f64 / report.seconds.max(1e-9)
                    );
                }
            }
            DataCommand::Files { quiet, json } => {
                let Some(files) = store.column_files() else {
                    return Err(CliError::Usage(
                        "no column files are kept (--no-column-files, or the default \
                         directory could not be made): pass --column-files DIR"
                            .into(),
                    ));
                };
                let dir = files.dir().display().to_string();
                let written = crate::datasets::files::write_missing(&store, !quiet).await?;
                if *json {
                    print::json(&serde_json::to_value(&written).unwrap_or_default());
                } else if written.is_empty() {
                    println!("every import has its column files in {dir}");
                } else {
                    for w in &written {
                        let whole = match w.whole_chunks {
                            0 => String::new(),
                            n => format!(
                                " ({n} chunk(s) stored whole, before columns were stored apart, \
                                 stay in the database)"
                            ),
                        };
                        println!("import {}: {} column file(s){whole}", w.import, w.files);
                    }
                    println!("in {dir}");
                }
            }
            DataCommand::List { json } => {
                let list = catalog::list(&store).await?;
                if *json {
                    print::json(&serde_json::to_value(&list).unwrap_or_default());
                } else {
                    println!(
                        "{:<28} {:>7} {:>8} {:>12}  description",
                        "dataset", "version", "imports", "rows"
                    );
                    for d in list {
                        println!(
                            "{:<28} {:>7} {:>8} {:>12}  {}",
                            d.name, d.version, d.imports, d.rows, d.description
                        );
                    }
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `supervise regions …`.
pub fn regions(cli: &Cli, cmd: &RegionsCommand) -> Result<ExitCode, CliError> {
    block_on(async {
        let store = cli.store().await?;
        match cmd {
            RegionsCommand::Load { file } => {
                let n = regions::load_csv(&store, file, &cli.actor).await?;
                println!("loaded {n} regions");
            }
            RegionsCommand::List { json } => {
                let list = regions::list(&store).await?;
                if *json {
                    print::json(&serde_json::to_value(&list).unwrap_or_default());
                } else {
                    for r in list {
                        println!(
                            "{} {:<8} {}",
                            r.code,
                            format!("{:?}", r.level).to_lowercase(),
                            r.name
                        );
                    }
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
