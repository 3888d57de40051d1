//! `supervise offices|keys|audit …` and the registry's `supervise model …` commands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::registry::enable::{self, EnableRequest};
use crate::registry::publish::{self, Published, Submission};
use crate::registry::review;
use crate::registry::{Actor, Office, VersionRef, keys};
use crate::runtime::{Runtime, RuntimeConfig};

use super::{Cli, CliError, block_on, print};

/// `supervise offices …`
#[derive(Debug, Subcommand)]
pub enum OfficesCommand {
    /// Add an office bound to a region (the first must be the provincial office).
    Add {
        /// Office id, e.g. `330102`.
        id: String,
        /// Region code it is bound to.
        #[arg(long)]
        region: String,
        /// Its name.
        #[arg(long)]
        name: String,
    },
    /// List offices.
    List,
}

/// `supervise keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make an ed25519 key pair: PATH (private, mode 0600) and PATH.pub.
    New {
        /// Where to write the private key.
        path: PathBuf,
    },
    /// Sign a component for publishing through the API or the dashboard: writes
    /// COMPONENT.sig (the signature, hex) and prints it with the public key to send along.
    Sign {
        /// The component.
        component: PathBuf,
        /// The private key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Register an office's public key (provincial admins).
    Register {
        /// The office.
        #[arg(value_name = "OFFICE")]
        office_id: String,
        /// The `.pub` file.
        public_key: PathBuf,
    },
    /// Revoke a key (provincial admins): later publishes with it fail.
    Revoke {
        /// Key fingerprint.
        fingerprint: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// List registered keys.
    List,
}

/// The registry's `supervise model …` commands.
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Sign a component with an office key and submit it for review.
    Publish {
        /// The component.
        file: PathBuf,
        /// The private key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// List published versions.
    Versions {
        /// Only this model.
        model: Option<String>,
    },
    /// Show what a version asks for: manifest, data scope and its changes, parameters, signer.
    Review {
        /// `model@version`.
        version: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a submitted version (provincial admins, not their own models).
    Approve(Decision),
    /// Reject a submitted version.
    Reject(Decision),
    /// Deprecate a version so it can no longer be enabled.
    Deprecate(Decision),
    /// Enable an approved version for regions.
    Enable(EnableArgs),
    /// Move an enablement to another approved version.
    Upgrade {
        /// Enablement id.
        enablement: i64,
        /// Version to run.
        #[arg(long)]
        to: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Return an enablement to the version it ran before.
    Rollback {
        /// Enablement id.
        enablement: i64,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Turn an enablement off.
    Disable {
        /// Enablement id.
        enablement: i64,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// List enablements.
    Enablements {
        /// Only this model.
        model: Option<String>,
    },
}

/// `model@version` and a reason.
#[derive(Debug, Args)]
pub struct Decision {
    /// `model@version`.
    pub version: String,
    /// Why.
    #[arg(long)]
    pub reason: String,
}

/// Arguments of `supervise model enable`.
#[derive(Debug, Args)]
pub struct EnableArgs {
    /// `model@version`.
    pub version: String,
    /// Region codes; repeatable or comma-separated.
    #[arg(long = "region", value_delimiter = ',', required = true)]
    pub regions: Vec<String>,
    /// Parameter value `name=value`; repeatable.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Cron schedule, e.g. `0 2 * * *`.
    #[arg(long)]
    pub schedule: Option<String>,
    /// Approved `dataset.column`s, when narrower than requested; repeatable or comma-separated.
    #[arg(long = "scope", value_delimiter = ',')]
    pub scope: Option<Vec<String>>,
    /// Why.
    #[arg(long)]
    pub reason: String,
}

/// Arguments of `supervise audit`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    /// `verify`: check the hash chain; lists events when omitted.
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    /// Only events about this subject (e.g. `pension-after-death@1.0.0`, `enablement 3`).
    #[arg(long)]
    pub subject: Option<String>,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `supervise audit verify`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain and report the first missing or altered event (exit 1 if any).
    Verify,
}

pub(crate) fn actor(cli: &Cli) -> Result<Actor, CliError> {
    let office = cli.office.clone().ok_or_else(|| {
        CliError::Usage("say which office you act for: --office ID (or SUPERVISE_OFFICE)".into())
    })?;
    Ok(Actor {
        user: cli.actor.clone(),
        office,
    })
}

/// Runs `supervise offices …`.
pub fn offices(cli: &Cli, cmd: &OfficesCommand) -> Result<ExitCode, CliError> {
    block_on(async {
        let store = cli.store().await?;
        match cmd {
            OfficesCommand::Add { id, region, name } => {
                let who = Actor {
                    user: cli.actor.clone(),
                    office: cli.office.clone().unwrap_or_default(),
                };
                keys::add_office(
                    &store,
                    &who,
                    &Office {
                        id: id.clone(),
                        name: name.clone(),
                        region: region.clone(),
                    },
                )
                .await?;
                println!("added office {id} ({name}) for region {region}");
            }
            OfficesCommand::List => {
                for o in keys::offices(&store).await? {
                    println!("{:<12} {}  {}", o.id, o.region, o.name);
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `supervise keys …`.
pub fn keys_cmd(cli: &Cli, cmd: &KeysCommand) -> Result<ExitCode, CliError> {
    if let KeysCommand::New { path } = cmd {
        let public = keys::generate(path)?;
        println!(
            "wrote {} (keep it secret) and {}.pub; fingerprint {}",
            path.display(),
            path.with_extension("").display(),
            keys::fingerprint(&public)
        );
        println!(
            "next: a provincial admin runs `supervise keys register OFFICE {}`",
            path.with_extension("pub").display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let KeysCommand::Sign { component, key } = cmd {
        let signing = keys::read_signing_key(key)?;
        let bytes = std::fs::read(component).map_err(|source| CliError::Read {
            path: component.clone(),
            source,
        })?;
        let signature = hex::encode(keys::sign(&signing, &bytes));
        let out = component.with_extension("wasm.sig");
        std::fs::write(&out, &signature).map_err(|source| CliError::Write {
            path: out.clone(),
            source,
        })?;
        println!("wrote {}", out.display());
        println!("signature  {signature}");
        println!(
            "public_key {}",
            hex::encode(signing.verifying_key().as_bytes())
        );
        return Ok(ExitCode::SUCCESS);
    }
    block_on(async {
        let store = cli.store().await?;
        match cmd {
            KeysCommand::New { .. } | KeysCommand::Sign { .. } => {}
            KeysCommand::Register {
                office_id,
                public_key,
            } => {
                let key = keys::read_public_key(public_key)?;
                let fp = keys::register(&store, &actor(cli)?, office_id, &key).await?;
                println!("registered key {fp} for office {office_id}");
            }
            KeysCommand::Revoke {
                fingerprint,
                reason,
            } => {
                keys::revoke(&store, &actor(cli)?, fingerprint, reason).await?;
                println!("revoked key {fingerprint}");
            }
            KeysCommand::List => {
                for k in keys::list(&store).await? {
                    println!("{}  {:<12} {}", k.fingerprint, k.office, k.status);
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn vref(s: &str) -> Result<VersionRef, CliError> {
    Ok(s.parse()?)
}

fn name_values(raw: &[String]) -> Result<Vec<(String, String)>, CliError> {
    raw.iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| CliError::Usage(format!("--param `{p}` must look like name=value")))
        })
        .collect()
}

/// Runs the registry's `supervise model …` commands.
pub fn model(cli: &Cli, cmd: &RegistryCommand) -> Result<ExitCode, CliError> {
    block_on(async {
        let store = cli.store().await?;
        match cmd {
            RegistryCommand::Publish { file, key } => {
                let bytes = std::fs::read(file).map_err(|source| CliError::Read {
                    path: file.clone(),
                    source,
                })?;
                let signing = keys::read_signing_key(key)?;
                let runtime = Runtime::new(RuntimeConfig {
                    cache_dir: Some(cli.cache_dir()),
                    max_concurrent_runs: 2,
                    ..RuntimeConfig::default()
                })
                .map_err(CliError::Setup)?;
                let sub = Submission {
                    bytes: &bytes,
                    signature: keys::sign(&signing, &bytes),
                    public_key: signing.verifying_key(),
                };
                let who = Actor {
                    user: cli.actor.clone(),
                    office: cli.office.clone().unwrap_or_default(),
                };
                match publish::publish(&store, &runtime, &who, &sub).await? {
                    Published::Submitted { version, .. } => {
                        println!("submitted {version} for review")
                    }
                    Published::Unchanged { version, .. } => println!(
                        "{version} was already published with these bytes: nothing changed"
                    ),
                }
            }
            RegistryCommand::Versions { model } => {
                for v in review::list(&store, model.as_deref()).await? {
                    println!(
                        "{}@{:<10} {:<10} office {:<8} sha256 {}",
                        v.model,
                        v.version,
                        v.status,
                        v.office,
                        &v.sha256[..16]
                    );
                }
            }
            RegistryCommand::Review { version, json } => {
                let sheet = review::review(&store, &vref(version)?).await?;
                if *json {
                    print::json(&serde_json::to_value(&sheet).unwrap_or_default());
                } else {
                    print::review(&sheet);
                }
            }
            RegistryCommand::Approve(d) | RegistryCommand::Reject(d) => {
                let approve = matches!(cmd, RegistryCommand::Approve(_));
                review::decide(&store, &actor(cli)?, &vref(&d.version)?, approve, &d.reason)
                    .await?;
                println!(
                    "{} {}",
                    if approve { "approved" } else { "rejected" },
                    d.version
                );
            }
            RegistryCommand::Deprecate(d) => {
                review::deprecate(&store, &actor(cli)?, &vref(&d.version)?, &d.reason).await?;
                println!("deprecated {}", d.version);
            }
            RegistryCommand::Enable(a) => {
                let req = EnableRequest {
                    version: vref(&a.version)?,
                    regions: a.regions.clone(),
                    params: name_values(&a.params)?,
                    schedule: a.schedule.clone(),
                    scope: a.scope.clone(),
                    reason: a.reason.clone(),
                };
                let id = enable::enable(&store, &actor(cli)?, &req).await?;
                println!(
                    "enabled {} as enablement {id} for {}",
                    a.version,
                    a.regions.join(", ")
                );
            }
            RegistryCommand::Upgrade {
                enablement,
                to,
                reason,
            } => {
                enable::upgrade(&store, &actor(cli)?, *enablement, to, reason).await?;
                println!("enablement {enablement} now runs version {to}");
            }
            RegistryCommand::Rollback { enablement, reason } => {
                enable::rollback(&store, &actor(cli)?, *enablement, reason).await?;
                let e = enable::get(&store, *enablement).await?;
                println!(
                    "enablement {enablement} rolled back to {}@{}",
                    e.model, e.version
                );
            }
            RegistryCommand::Disable { enablement, reason } => {
                enable::disable(&store, &actor(cli)?, *enablement, reason).await?;
                println!("disabled enablement {enablement}");
            }
            RegistryCommand::Enablements { model } => {
                for e in enable::list(&store, model.as_deref()).await? {
                    let params: Vec<String> =
                        e.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    println!(
                        "{:>4}  {}@{:<8} {:<9} regions {}  schedule {}  params {}",
                        e.id,
                        e.model,
                        e.version,
                        e.status,
                        e.regions.join(","),
                        e.schedule.as_deref().unwrap_or("-"),
                        if params.is_empty() {
                            "-".into()
                        } else {
                            params.join(" ")
                        }
                    );
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `supervise audit`.
pub fn audit(cli: &Cli, a: &AuditArgs) -> Result<ExitCode, CliError> {
    block_on(async {
        let store = cli.store().await?;
        if let Some(AuditCommand::Verify) = a.command {
            let v = crate::store::audit::verify(&store).await?;
            return Ok(match &v.problem {
                None => {
                    println!(
                        "the audit chain is intact: {} event(s) verified{}",
                        v.events,
                        if v.unchained > 0 {
                            format!(" ({} older event(s) predate the chain)", v.unchained)
                        } else {
                            String::new()
                        }
                    );
                    ExitCode::SUCCESS
                }
                Some(p) => {
                    println!(
                        "the audit chain is broken after {} good event(s): {p}",
                        v.events
                    );
                    ExitCode::from(1)
                }
            });
        }
        let events = crate::store::audit::list(
            &store,
            &crate::store::audit::EventFilter {
                subject: a.subject.clone(),
                limit: a.limit,
                ..Default::default()
            },
        )
        .await?;
        if a.json {
            print::json(&serde_json::to_value(&events).unwrap_or_default());
        } else {
            for e in events {
                let when = chrono::DateTime::from_timestamp_millis(e.at_ms)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default();
                println!(
                    "{:>5} {when} {:<18} {:<22} {:<30} {}",
                    e.id, e.actor, e.action, e.subject, e.detail
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
