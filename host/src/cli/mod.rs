//! The `supervise` command line: argument parsing, dispatch and one-line errors.

mod clues;
mod data;
mod demo;
mod model;
mod new;
mod print;
mod registry;
mod remote;
mod runs;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::datasets::fixtures::FixtureError;
use crate::runtime::RuntimeError;

/// Supervise: sandboxed digital supervision models.
#[derive(Debug, Parser)]
#[command(name = "supervise", version, about)]
pub struct Cli {
    /// The platform's working directory: database file, pseudonym key, compiled cache.
    #[arg(
        long,
        global = true,
        env = "SUPERVISE_HOME",
        default_value = ".supervise"
    )]
    pub home: PathBuf,

    /// Database URL: `sqlite://FILE` (a file: an in-memory database is refused) or
    /// `postgres://…`; a SQLite file in --home by default.
    #[arg(long, global = true, env = "SUPERVISE_DATABASE_URL")]
    pub database_url: Option<String>,

    /// File with the secret pseudonym key (kept outside the database); `--home`/secret.key
    /// by default, created on first use.
    #[arg(long, global = true, env = "SUPERVISE_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,

    /// Directory for the compiled-model cache; `--home`/cache by default.
    #[arg(long, global = true, env = "SUPERVISE_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Memory for decoded columns of imported data, MiB: runs after the first read them from
    /// memory instead of the database (imports never change once committed). 0 keeps none.
    #[arg(
        long,
        global = true,
        env = "SUPERVISE_COLUMN_CACHE_MIB",
        default_value_t = crate::store::cache::DEFAULT_BUDGET_BYTES >> 20
    )]
    pub column_cache_mib: u64,

    /// Directory for copies of imported columns as files on local disk, made by imports and
    /// read by runs whose columns are not in memory (the first after an import or a restart)
    /// instead of the database, which stays the record; `--home`/columns by default. Holds
    /// about as much as the imports' columns (never the raw identifiers).
    #[arg(long, global = true, env = "SUPERVISE_COLUMN_FILES")]
    pub column_files: Option<PathBuf>,

    /// Keep no column files: runs read every column they lack in memory from the database
    /// (wins over `--column-files`, which may come from the environment).
    #[arg(long, global = true)]
    pub no_column_files: bool,

    /// Directory for an import's temporary files (rows set aside until they fill a chunk, the
    /// key check's buckets): up to about 1.6 times the file imported while it runs, gone when
    /// it ends. `--home`/tmp by default (the system's temporary directory may be memory, a
    /// `tmpfs`).
    #[arg(long, global = true, env = "SUPERVISE_TEMP_DIR")]
    pub temp_dir: Option<PathBuf>,

    /// The office you act for (registry commands check what it may do).
    #[arg(long, global = true, env = "SUPERVISE_OFFICE")]
    pub office: Option<String>,

    /// Who is acting, recorded in the audit log.
    #[arg(
        long = "as",
        global = true,
        env = "SUPERVISE_ACTOR",
        default_value = "cli"
    )]
    pub actor: String,

    /// A running server to act on instead of the local store (`http://HOST:PORT`); the
    /// server checks the token owner's role and region.
    #[arg(long, global = true, env = "SUPERVISE_SERVER")]
    pub server: Option<String>,

    /// The API token for --server (from `supervise tokens create`); prefer the environment
    /// variable, which stays out of the shell's history.
    #[arg(long, global = true, env = "SUPERVISE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

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
    /// Define datasets and import data.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Load and list administrative regions.
    #[command(subcommand)]
    Regions(data::RegionsCommand),
    /// Add and list offices.
    #[command(subcommand)]
    Offices(registry::OfficesCommand),
    /// Make, register and revoke office signing keys.
    #[command(subcommand)]
    Keys(registry::KeysCommand),
    /// The audit log: every registry and data action with who, when, what and why.
    Audit(registry::AuditArgs),
    /// Triage clues: list, show, assign, verify, confirm, dismiss, comment, export, report, stats.
    #[command(subcommand)]
    Clues(clues::CluesCommand),
    /// Procuratorial suggestions: issue over confirmed clues, reply, adopt, decline.
    #[command(subcommand)]
    Suggestions(clues::SuggestionsCommand),
    /// The first admin user.
    #[command(subcommand)]
    Admin(users::AdminCommand),
    /// Users and their roles (admins).
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// API tokens for scripts and remote command lines.
    #[command(subcommand)]
    Tokens(users::TokensCommand),
    /// Queue runs of an enabled model by hand (one per county of the region).
    Run(runs::RunArgs),
    /// Run records: list, show, replay, cancel; quarantined models.
    Runs(runs::RunsArgs),
    /// Run the platform: the scheduler, an in-process worker and HTTP (`/metrics`).
    Serve(runs::ServeArgs),
    /// A worker process that leases runs from a shared (PostgreSQL) store.
    Worker(runs::ServeArgs),
    /// Call any route of a remote server's API (needs --server and a token).
    Api(remote::ApiArgs),
    /// Write the synthetic demo province: every dataset, regions, schemas, ground truth.
    DemoData(demo::DemoDataArgs),
    /// The demo: a generated province in a fresh SQLite store, every model run, one user per
    /// role, served (a second start reuses it).
    Demo(demo::DemoArgs),
}

impl Cli {
    /// The compiled-model cache directory.
    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(|| self.home.join("cache"))
    }

    /// The database URL.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| crate::store::Store::default_url(&self.home))
    }

    /// Opens (and migrates) the store, with the column cache sized by `--column-cache-mib`,
    /// imports' temporary files under `--temp-dir`, and its column files under
    /// `--column-files` unless `--no-column-files`.
    pub async fn store(&self) -> Result<crate::store::Store, crate::store::StoreError> {
        let mut store = crate::store::Store::open(&self.database_url()).await?;
        store
            .blocks()
            .set_budget(self.column_cache_mib.saturating_mul(1 << 20));
        store = match &self.temp_dir {
            Some(dir) => store.with_temp_dir(dir)?,
            // As for the column files: where the default cannot be made, the system's.
            None => {
                let dir = self.home.join("tmp");
                match store.clone().with_temp_dir(&dir) {
                    Ok(with) => with,
                    Err(e) => {
                        tracing::warn!(
                            "imports write their temporary files to the system's directory \
                             ({e}); pass --temp-dir DIR"
                        );
                        store
                    }
                }
            }
        };
        if self.no_column_files {
            return Ok(store);
        }
        match &self.column_files {
            Some(dir) => store = store.with_column_files(dir).await?,
            // The default is a convenience: where it cannot be made (a read-only home beside
            // a PostgreSQL database), runs read the database, as with `--no-column-files`.
            None => {
                let dir = self.home.join("columns");
                match store.clone().with_column_files(&dir).await {
                    Ok(with) => store = with,
                    Err(crate::store::StoreError::Dir { path, source }) => tracing::warn!(
                        "no column files ({path}: {source}); runs read the database. \
                         Pass --column-files DIR, or --no-column-files to silence this"
                    ),
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(store)
    }

    /// The pseudonym key file.
    pub fn secret_file(&self) -> PathBuf {
        self.secret_file
            .clone()
            .unwrap_or_else(|| self.home.join("secret.key"))
    }
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
    /// Dry-run a submitted version over chosen regions next to the enabled version (admins).
    Backtest(runs::BacktestArgs),
    /// Registry: publish, review, enable, upgrade, roll back.
    #[command(flatten)]
    Registry(registry::RegistryCommand),
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
    /// The database failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A dataset catalogue error.
    #[error(transparent)]
    Catalog(#[from] crate::datasets::catalog::CatalogError),
    /// An import failed.
    #[error(transparent)]
    Import(#[from] crate::datasets::import::ImportError),
    /// Loading regions failed.
    #[error(transparent)]
    Regions(#[from] crate::datasets::regions::RegionError),
    /// A registry action was refused or failed.
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    /// The pseudonym key is unusable.
    #[error(transparent)]
    Secret(#[from] crate::datasets::pseudonym::SecretError),
    /// A remote server refused the request.
    #[error("the server answered {status}: {message}{}", remote_details(.details))]
    Api {
        /// HTTP status.
        status: u16,
        /// What was wrong.
        message: String,
        /// More (for an import, the problems by line).
        details: serde_json::Value,
    },
}

/// The problems a refused import lists, one per line.
fn remote_details(details: &serde_json::Value) -> String {
    let problems = details["problems"].as_array().into_iter().flatten();
    problems
        .map(|p| {
            format!(
                "\n  line {}, column `{}`, value `{}`: {}",
                p["line"],
                p["column"].as_str().unwrap_or(""),
                p["value"].as_str().unwrap_or(""),
                p["reason"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// Runs the command line and returns the process exit code: 0 done, 1 a model run failed,
/// 2 bad input.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(server) = &cli.server {
        return finish(remote::run(&cli, server));
    }
    let result = match &cli.command {
        Command::Model(ModelCommand::Inspect(a)) => model::inspect(&cli, a),
        Command::Model(ModelCommand::Test(a)) => model::test(&cli, a),
        Command::Model(ModelCommand::New(a)) => new::run(a),
        Command::Data(c) => data::data(&cli, c),
        Command::Regions(c) => data::regions(&cli, c),
        Command::Model(ModelCommand::Registry(c)) => registry::model(&cli, c),
        Command::Offices(c) => registry::offices(&cli, c),
        Command::Keys(c) => registry::keys_cmd(&cli, c),
        Command::Audit(a) => registry::audit(&cli, a),
        Command::Run(a) => runs::run(&cli, a),
        Command::Admin(c) => users::admin(&cli, c),
        Command::Users(c) => users::users_cmd(&cli, c),
        Command::Tokens(c) => users::tokens_cmd(&cli, c),
        Command::Clues(c) => clues::clues(&cli, c),
        Command::Suggestions(c) => clues::suggestions_cmd(&cli, c),
        Command::Runs(a) => runs::runs(&cli, a),
        Command::Serve(a) => runs::serve(&cli, a, false),
        Command::Worker(a) => runs::serve(&cli, a, true),
        Command::Model(ModelCommand::Backtest(a)) => runs::backtest(&cli, a),
        Command::DemoData(a) => demo::demo_data(a),
        Command::Demo(a) => demo::demo(&cli, a),
        Command::Api(_) => Err(CliError::Usage(
            "`supervise api` calls a running server: add --server http://HOST:PORT and SUPERVISE_TOKEN".into(),
        )),
    };
    finish(result)
}

/// The exit code of a command's result, with the error on stderr.
fn finish(result: Result<ExitCode, CliError>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs an async command body on a fresh runtime.
pub(crate) fn block_on<T>(
    f: impl std::future::Future<Output = Result<T, CliError>>,
) -> Result<T, CliError> {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(f),
        Err(e) => Err(CliError::Usage(format!(
            "cannot start the async runtime: {e}"
        ))),
    }
}
