//! Loads the demo province into a store, the way a provincial team would: regions, the
//! standard datasets and their imports, offices and a signing key, the five models published
//! by a county office, reviewed and enabled by the province, every county run once, and one
//! user per role. Each step goes through the same library calls as the command line, so the
//! demo exercises the real paths (signatures, scope checks, the sandbox, the run queue).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;

use crate::auth::Role;
use crate::auth::users::{self, NewUser};
use crate::datasets::import::{self, ImportRequest};
use crate::datasets::pseudonym::Pseudonymizer;
use crate::datasets::schema::DatasetSchema;
use crate::datasets::{catalog, regions};
use crate::registry::enable::{self, EnableRequest};
use crate::registry::publish::{self, Submission};
use crate::registry::{Actor, Office, VersionRef, keys, review};
use crate::runs::{Executor, ExecutorConfig, Metrics, Worker, WorkerConfig, queue};
use crate::runtime::Runtime;
use crate::store::Store;

use super::generate::{self, Options, SCHEMAS};

/// The five models: crate file stem of the component and model id.
pub const MODELS: [(&str, &str); 5] = [
    ("pension_after_death", "pension-after-death"),
    ("shell_company", "shell-company"),
    ("professional_lender", "professional-lender"),
    ("drunk_driving_licence", "drunk-driving-licence"),
    ("correction_travel", "correction-travel"),
];

/// The demo's users: name, role, office.
pub const USERS: [(&str, Role, &str); 5] = [
    ("admin", Role::Admin, "330000"),
    ("auditor", Role::Auditor, "330000"),
    ("reviewer", Role::Reviewer, "330102"),
    ("hangzhou", Role::Reviewer, "330100"),
    ("author", Role::Author, "330102"),
];

/// Why loading the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A step failed; says which.
    #[error("{step}: {reason}")]
    Step {
        /// What was being done.
        step: String,
        /// Why it failed.
        reason: String,
    },
}

fn step<E: std::fmt::Display>(what: impl Into<String>) -> impl FnOnce(E) -> SetupError {
    let step = what.into();
    move |e| SetupError::Step {
        step,
        reason: e.to_string(),
    }
}

/// What the demo made.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// (user, role, office, password).
    pub users: Vec<(String, String, String, String)>,
    /// Runs that ended, and clues in the queue.
    pub runs: u64,
    /// Clues found.
    pub clues: i64,
}

/// Everything the loader needs.
pub struct Setup<'a> {
    /// The store (empty).
    pub store: &'a Store,
    /// The sandbox.
    pub runtime: Arc<Runtime>,
    /// The pseudonym key.
    pub pseudonymizer: &'a Pseudonymizer,
    /// Where the province's files and the office key go.
    pub work_dir: PathBuf,
    /// Where the model components are (`NAME.wasm`).
    pub models_dir: PathBuf,
    /// The province to generate.
    pub options: Options,
    /// Say what is happening.
    pub progress: bool,
}

impl Setup<'_> {
    fn say(&self, what: &str) {
        if self.progress {
            println!("demo: {what}");
        }
    }

    /// Loads the demo; `passwords` gives each of [`USERS`] its password.
    pub async fn load(&self, passwords: &[String]) -> Result<Loaded, SetupError> {
        let store = self.store;
        let components = components(&self.models_dir)?;
        let data = self.options.out.clone();
        self.say(&format!(
            "generating the province ({} residents, seed {}, as of {})",
            self.options.scale, self.options.seed, self.options.as_of
        ));
        generate::generate(&self.options).map_err(step("generating the province"))?;
        let admin = Actor {
            user: "admin".into(),
            office: "330000".into(),
        };
        regions::load_csv(store, &data.join("regions.csv"), &admin.user)
            .await
            .map_err(step("loading regions"))?;
        self.say("defining and importing 13 datasets");
        for (name, text) in SCHEMAS {
            let schema = DatasetSchema::from_toml(text).map_err(step(format!("schema {name}")))?;
            catalog::define(store, &schema, &admin.user)
                .await
                .map_err(step(format!("defining {name}")))?;
            let req = ImportRequest::new(name, data.join(format!("{name}.csv")), "importer");
            import::import(store, self.pseudonymizer, &req)
                .await
                .map_err(step(format!("importing {name}")))?;
        }
        for (id, name, region) in [
            ("330000", "浙江省人民检察院", "330000"),
            ("330100", "杭州市人民检察院", "330100"),
            ("330102", "杭州市上城区人民检察院", "330102"),
        ] {
            let office = Office {
                id: id.into(),
                name: name.into(),
                region: region.into(),
            };
            keys::add_office(store, &admin, &office)
                .await
                .map_err(step(format!("adding office {id}")))?;
        }
        let key_path = self.work_dir.join("shangcheng.key");
        if !key_path.exists() {
            keys::generate(&key_path).map_err(step("making the office key"))?;
        }
        let signing = keys::read_signing_key(&key_path).map_err(step("reading the office key"))?;
        let public = signing.verifying_key();
        keys::register(store, &admin, "330102", &public)
            .await
            .map_err(step("registering the office key"))?;
        let author = Actor {
            user: "author".into(),
            office: "330102".into(),
        };
        self.say("publishing, reviewing and enabling the five models");
        for ((_, model), path) in MODELS.iter().zip(&components) {
            let bytes = std::fs::read(path).map_err(step(format!("reading {}", path.display())))?;
            let sub = Submission {
                bytes: &bytes,
                signature: keys::sign(&signing, &bytes),
                public_key: public,
            };
            let published = publish::publish(store, &self.runtime, &author, &sub)
                .await
                .map_err(step(format!("publishing {model}")))?;
            let v: VersionRef = published.version().parse().map_err(step(format!(
                "reading the version {model} was published as"
            )))?;
            review::decide(
                store,
                &admin,
                &v,
                true,
                "reviewed: scope, parameters, tests",
            )
            .await
            .map_err(step(format!("approving {model}")))?;
            let req = EnableRequest {
                version: v,
                regions: vec!["330000".into()],
                params: vec![],
                schedule: Some("0 2 * * *".into()),
                scope: None,
                reason: "the province's demo".into(),
            };
            enable::enable(store, &admin, &req)
                .await
                .map_err(step(format!("enabling {model}")))?;
            queue::by_hand(store, &admin, model, "330000")
                .await
                .map_err(step(format!("queueing {model}")))?;
        }
        self.say("running every model once per county (450 runs)");
        let ex = Arc::new(Executor::new(
            store.clone(),
            self.runtime.clone(),
            ExecutorConfig::default(),
            Arc::new(Metrics::default()),
        ));
        let mut config = WorkerConfig::new(2);
        config.scheduler = false;
        let (_stop, stopped) = watch::channel(false);
        let runs = Worker::new(ex, config).run(stopped, true).await;
        let clues: i64 = sqlx::Row::try_get(
            &sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM clues")
                .fetch_one(store.pool())
                .await
                .map_err(step("counting clues"))?,
            0,
        )
        .map_err(step("counting clues"))?;
        let mut made = Vec::new();
        let mut first = None;
        for ((name, role, office), password) in USERS.iter().zip(passwords) {
            let new = NewUser {
                username: name.to_string(),
                password: password.clone(),
                role: *role,
                office: office.to_string(),
            };
            users::create(store, first.as_ref(), &new)
                .await
                .map_err(step(format!("creating user {name}")))?;
            if first.is_none() {
                first = users::by_name(store, name)
                    .await
                    .map_err(step("reading the admin"))?
                    .map(|(p, _)| p);
            }
            made.push((
                name.to_string(),
                role.as_str().to_string(),
                office.to_string(),
                password.clone(),
            ));
        }
        Ok(Loaded {
            users: made,
            runs,
            clues,
        })
    }
}

/// The five components in `dir`, each checked to exist.
pub fn components(dir: &Path) -> Result<Vec<PathBuf>, SetupError> {
    MODELS
        .iter()
        .map(|(file, _)| {
            let path = dir.join(format!("{file}.wasm"));
            if path.is_file() {
                Ok(path)
            } else {
                Err(SetupError::Step {
                    step: format!("finding the model {}", path.display()),
                    reason: missing_models_hint(dir),
                })
            }
        })
        .collect()
}

/// What to do when the components are not built.
pub fn missing_models_hint(dir: &Path) -> String {
    format!(
        "not built; build them with `cargo build --release --manifest-path plugins/Cargo.toml \
         --target wasm32-wasip2 --target-dir target/plugins` (scripts/demo does), or point \
         --models at the directory that holds them (now {})",
        dir.display()
    )
}
