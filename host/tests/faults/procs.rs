//! Worker processes, a private PostgreSQL cluster, and waiting for the store to settle.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use supervise::store::Store;

use crate::support::TestDb;

/// The PostgreSQL test database, or `None` to skip (a failure under `CI=true`).
pub async fn pg_or_skip() -> Option<TestDb> {
    match crate::support::postgres().await {
        Some(db) => Some(db),
        None if std::env::var("CI").as_deref() == Ok("true") => {
            panic!(
                "CI=true but DATABASE_URL names no PostgreSQL database: the fault tests must run"
            )
        }
        None => {
            eprintln!("skipped: DATABASE_URL does not name a PostgreSQL database");
            None
        }
    }
}

/// A `supervise worker` process, killed when dropped.
pub struct WorkerProc {
    pub child: Child,
    pub log: PathBuf,
}

impl WorkerProc {
    pub fn start(
        url: &str,
        home: &Path,
        name: &str,
        concurrency: u32,
        lease_secs: u32,
    ) -> WorkerProc {
        let log = home.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("worker log");
        let err = out.try_clone().expect("log handle");
        let child = Command::new(env!("CARGO_BIN_EXE_supervise"))
            .args(["--home"])
            .arg(home)
            .args(["--database-url", url, "worker", "--listen", "127.0.0.1:0"])
            .args([
                "--concurrency",
                &concurrency.to_string(),
                "--lease-secs",
                &lease_secs.to_string(),
            ])
            .args(["--no-scheduler"])
            .env("SUPERVISE_LOG", "supervise=info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start supervise worker");
        WorkerProc { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for WorkerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` until it is true; panics with `what` after `limit`.
pub async fn until<F, Fut>(limit: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !f().await {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A scalar, or `None` while the database is unreachable.
pub async fn try_scalar(store: &Store, sql: &str) -> Option<i64> {
    use sqlx::Row;
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(store.pool())
        .await
        .ok()?
        .try_get(0)
        .ok()
}

/// A PostgreSQL cluster of this test's own, on a free port; stopped when dropped.
pub struct PrivatePg {
    pub dir: tempfile::TempDir,
    pub port: u16,
    bin: PathBuf,
    as_postgres: bool,
}

fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("pg_ctl").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

impl PrivatePg {
    /// initdb + start. `None` when PostgreSQL's server binaries are not installed.
    pub fn start() -> Option<PrivatePg> {
        let bin = pg_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("supervise-pg")
            .tempdir()
            .expect("tempdir");
        // initdb refuses to run as root: run the server as the `postgres` user then.
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0\n"))
            .unwrap_or(false);
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "cannot hand the cluster directory to the postgres user");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let pg = PrivatePg {
            dir,
            port,
            bin,
            as_postgres,
        };
        let data = pg.data();
        pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        pg.ctl("start");
        Some(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `pg_ctl start|restart|stop`.
    pub fn ctl(&self, action: &str) {
        let data = self.data();
        let log = self.dir.path().join("server.log").display().to_string();
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.dir.path().display()
        );
        let mut args = vec![
            "-D", &data, "-l", &log, "-w", "-t", "60", "-m", "fast", action,
        ];
        if action != "stop" {
            args.extend(["-o", &opts]);
        }
        self.run("pg_ctl", &args);
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let data = self.data();
        let exe = self.bin.join("pg_ctl");
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let _ = cmd.args(["-D", &data, "-m", "immediate", "stop"]).output();
    }
}
