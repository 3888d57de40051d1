//! `supervise demo-data`: writes the synthetic province (datasets, regions, schemas, ground
//! truth) to a directory. `supervise demo`: loads it into a fresh store with every model
//! published, approved, enabled and run, makes one user per role, and serves.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::datasets::pseudonym::Pseudonymizer;
use crate::demo::{self, Options, setup};
use crate::runtime::{Runtime, RuntimeConfig};

use super::runs::ServeArgs;
use super::{Cli, CliError, block_on};

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

/// Arguments of `supervise demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Residents in the generated province.
    #[arg(long, default_value_t = 20_000)]
    pub scale: u64,
    /// Seed of the generated province.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where the built model components are.
    #[arg(long, default_value = "target/plugins/wasm32-wasip2/release")]
    pub models: PathBuf,
    /// Start over even if a demo was loaded before.
    #[arg(long)]
    pub fresh: bool,
    /// Load (or reuse) the demo, print the users, and exit without serving.
    #[arg(long)]
    pub no_serve: bool,
}

/// What a loaded demo remembers: its users, so that a second start can print them again.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Marker {
    seed: u64,
    scale: u64,
    as_of: String,
    users: Vec<(String, String, String, String)>,
}

fn password() -> Result<String, CliError> {
    const CHARS: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut b = [0u8; 14];
    getrandom::fill(&mut b).map_err(|e| CliError::Usage(format!("no randomness: {e}")))?;
    Ok(b.iter()
        .map(|x| char::from(CHARS[*x as usize % CHARS.len()]))
        .collect())
}

fn print_users(m: &Marker) {
    println!("demo users (one per role; also in the demo marker file, readable only by you):");
    for (name, role, office, pass) in &m.users {
        println!("  {name:<10} {role:<9} office {office}  password {pass}");
    }
}

/// Runs `supervise demo`.
pub fn demo(cli: &Cli, a: &DemoArgs) -> Result<ExitCode, CliError> {
    if cli.database_url.is_some() {
        return Err(CliError::Usage(
            "the demo runs on the embedded SQLite file in --home; drop --database-url".into(),
        ));
    }
    let marker_path = cli.home.join("demo.json");
    let marker: Option<Marker> = std::fs::read_to_string(&marker_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let marker = match marker {
        Some(m) if !a.fresh => {
            println!(
                "demo: reusing the province loaded before in {} (--fresh starts over)",
                cli.home.display()
            );
            m
        }
        _ => load(cli, a, &marker_path)?,
    };
    print_users(&marker);
    if a.no_serve {
        return Ok(ExitCode::SUCCESS);
    }
    let serve = ServeArgs {
        listen: a.listen,
        concurrency: 2,
        no_scheduler: false,
        lease_secs: 30,
        batch: crate::runs::worker::DEFAULT_BATCH,
    };
    super::runs::serve(cli, &serve, false)
}

/// Loads a fresh demo into `cli.home`; on failure nothing half-made is reused later.
fn load(cli: &Cli, a: &DemoArgs, marker_path: &std::path::Path) -> Result<Marker, CliError> {
    let started = std::time::Instant::now();
    // Nothing is removed before the models are known to be there.
    setup::components(&a.models).map_err(|e| CliError::Usage(format!("demo: {e}")))?;
    let _ = std::fs::remove_file(marker_path);
    for name in ["supervise.db", "supervise.db-wal", "supervise.db-shm"] {
        let _ = std::fs::remove_file(cli.home.join(name));
    }
    let work = cli.home.join("demo");
    let _ = std::fs::remove_dir_all(&work);
    // The home made here (before the store) is the owner's alone, as the store would make it.
    crate::store::files::make_dir(&work).map_err(|source| CliError::Write {
        path: work.clone(),
        source,
    })?;
    let as_of = chrono::Local::now().date_naive();
    let passwords = (0..setup::USERS.len())
        .map(|_| password())
        .collect::<Result<Vec<_>, _>>()?;
    let loaded = block_on(async {
        let store = cli.store().await?;
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: Some(cli.cache_dir()),
            ..RuntimeConfig::default()
        })
        .map_err(CliError::Setup)?;
        let pseudonymizer = Pseudonymizer::from_secret_file(&cli.secret_file(), true)?;
        let s = setup::Setup {
            store: &store,
            runtime: std::sync::Arc::new(runtime),
            pseudonymizer: &pseudonymizer,
            work_dir: work.clone(),
            models_dir: a.models.clone(),
            options: Options {
                seed: a.seed,
                scale: a.scale,
                as_of,
                out: work.join("province"),
                progress: true,
            },
            progress: true,
        };
        let loaded = s
            .load(&passwords)
            .await
            .map_err(|e| CliError::Usage(format!("demo: {e}")))?;
        store.optimize().await?;
        Ok(loaded)
    })?;
    println!(
        "demo: {} runs ended, {} clues in the queue; loaded in {:.1} s",
        loaded.runs,
        loaded.clues,
        started.elapsed().as_secs_f64()
    );
    let marker = Marker {
        seed: a.seed,
        scale: a.scale,
        as_of: as_of.to_string(),
        users: loaded.users,
    };
    write_private(
        marker_path,
        &serde_json::to_string_pretty(&marker).unwrap_or_default(),
    )?;
    Ok(marker)
}

/// Writes a file only its owner can read (it holds the demo users' passwords).
fn write_private(path: &std::path::Path, text: &str) -> Result<(), CliError> {
    let err = |source| CliError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut f = crate::store::files::private_writer()
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(err)?;
    std::io::Write::write_all(&mut f, text.as_bytes()).map_err(err)
}
