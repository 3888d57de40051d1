//! The `supervise` command line: argument parsing, dispatch and one-line errors.

mod model;
mod new;
mod print;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::datasets::fixtures::FixtureError;
use crate::runtime::RuntimeError;

/// Supervise: sandboxed digital supervision models.
#[derive(Debug, Parser)]
#[command(name = "supervise", version, about)]
pub struct Cli {
    /// Directory for the compiled-model cache.
    #[arg(long, global = true, env = "SUPERVISE_CACHE_DIR", default_value = ".supervise/cache")]
    pub cache_dir: PathBuf,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write, inspect and test models.
    #[command(subcommand)]
    Model(ModelCommand),
}

/// `supervise model ...`
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Print a component's manifest (read through its sandboxed `describe`).
    Inspect(model::InspectArgs),
    /// Run a component in the sandbox on CSV fixtures and print its clues and run stats.
    Test(model::TestArgs),
    /// Create a new model crate from the template.
    New(new::NewArgs),
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The runtime refused the component or the run.
    #[error("{path}: {source}")]
    Runtime {
        /// The component.
        path: PathBuf,
        /// Cause.
        source: RuntimeError,
    },
    /// Setting up the runtime failed.
    #[error(transparent)]
    Setup(RuntimeError),
    /// Fixture files are wrong.
    #[error(transparent)]
    Fixture(#[from] FixtureError),
    /// A malformed argument.
    #[error("{0}")]
    Usage(String),
}

/// Runs the command line and returns the process exit code: 0 done, 1 a model run failed,
/// 2 bad input.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Model(ModelCommand::Inspect(a)) => model::inspect(&cli, a),
        Command::Model(ModelCommand::Test(a)) => model::test(&cli, a),
        Command::Model(ModelCommand::New(a)) => new::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
