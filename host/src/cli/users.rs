//! `supervise admin create`, `supervise users …` and `supervise tokens …`. The command line
//! runs next to the store, so it acts as the user named by `--as` without a password; the
//! HTTP API asks for credentials.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::auth::users::{self, NewUser, Principal};
use crate::auth::{AuthError, Role, tokens};
use crate::store::Store;

use super::{Cli, CliError, block_on, print};

impl From<AuthError> for CliError {
    fn from(e: AuthError) -> Self {
        CliError::Usage(e.to_string())
    }
}

/// Where a new user's password comes from.
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Read the password from this file (first line); otherwise from `SUPERVISE_PASSWORD`,
    /// otherwise one is generated and printed once.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
}

/// `supervise admin …`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Make the first user, an admin of the provincial office (only while there are no users).
    Create {
        /// User name.
        #[arg(long)]
        username: String,
        /// The provincial office.
        #[arg(long = "for-office")]
        for_office: String,
        /// Password source.
        #[command(flatten)]
        password: PasswordArgs,
    },
}

/// `supervise users …`
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a user (admins; `--as` names the admin).
    Add {
        /// User name.
        username: String,
        /// author, admin, reviewer or auditor.
        #[arg(long)]
        role: String,
        /// The office they act for.
        #[arg(long = "for-office")]
        for_office: String,
        /// Password source.
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// List users.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: sessions end, tokens stop working.
    Disable {
        /// User name.
        username: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// `supervise tokens …` (as the user named by `--as`)
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Make an API token; the secret is printed once.
    Create {
        /// What it is for.
        #[arg(long)]
        name: String,
        /// Days it lives (1–365).
        #[arg(long, default_value_t = tokens::DEFAULT_DAYS)]
        days: i64,
        /// For another user (admins).
        #[arg(long = "for-user")]
        for_user: Option<String>,
    },
    /// List tokens (your own; admins see all).
    List,
    /// Revoke a token.
    Revoke {
        /// Token id.
        id: i64,
    },
}

fn password(a: &PasswordArgs) -> Result<(String, bool), CliError> {
    if let Some(f) = &a.password_file {
        let text = std::fs::read_to_string(f).map_err(|source| CliError::Read {
            path: f.clone(),
            source,
        })?;
        return Ok((text.lines().next().unwrap_or("").to_string(), false));
    }
    if let Ok(p) = std::env::var("SUPERVISE_PASSWORD") {
        return Ok((p, false));
    }
    let mut b = [0u8; 15];
    getrandom::fill(&mut b).map_err(|e| CliError::Usage(format!("no randomness: {e}")))?;
    Ok((hex::encode(b), true))
}

async fn me(cli: &Cli, store: &Store) -> Result<Principal, CliError> {
    users::by_name(store, &cli.actor)
        .await?
        .map(|(p, _)| p)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "`--as {}` names no active user (`supervise users list` shows them)",
                cli.actor
            ))
        })
}

fn made(username: &str, pass: &str, generated: bool) {
    if generated {
        println!("user {username} created; password (shown once): {pass}");
    } else {
        println!("user {username} created");
    }
}

/// Runs `supervise admin …`.
pub fn admin(cli: &Cli, cmd: &AdminCommand) -> Result<ExitCode, CliError> {
    block_on(async {
        let store = cli.store().await?;
        let AdminCommand::Create {
            username,
            for_office,
            password: p,
        } = cmd;
        let (pass, generated) = password(p)?;
        let new = NewUser {
            username: username.clone(),
            password: pass.clone(),
            role: Role::Admin,
            office: for_office.clone(),
        };
        users::create(&store, None, &new).await?;
        made(username, &pass, generated);
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `supervise users …`.
pub fn users_cmd(cli: &Cli, cmd: &UsersCommand) -> Result<ExitCode, CliError> {
    block_on(async {
        let store = cli.store().await?;
        match cmd {
            UsersCommand::Add {
                username,
                role,
                for_office,
                password: p,
            } => {
                let by = me(cli, &store).await?;
                let (pass, generated) = password(p)?;
                let new = NewUser {
                    username: username.clone(),
                    password: pass.clone(),
                    role: role.parse()?,
                    office: for_office.clone(),
                };
                users::create(&store, Some(&by), &new).await?;
                made(username, &pass, generated);
            }
            UsersCommand::List { json } => {
                let all = users::list(&store).await?;
                if *json {
                    print::json(&serde_json::to_value(&all).unwrap_or_default());
                } else {
                    for u in all {
                        println!(
                            "{:<24} {:<9} {:<8} {}",
                            u.username, u.role, u.office, u.status
                        );
                    }
                }
            }
            UsersCommand::Disable { username, reason } => {
                users::disable(&store, &me(cli, &store).await?, username, reason).await?;
                println!("user {username} disabled");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `supervise tokens …`.
pub fn tokens_cmd(cli: &Cli, cmd: &TokensCommand) -> Result<ExitCode, CliError> {
    block_on(async {
        let store = cli.store().await?;
        let by = me(cli, &store).await?;
        match cmd {
            TokensCommand::Create {
                name,
                days,
                for_user,
            } => {
                let (id, secret) =
                    tokens::create(&store, &by, for_user.as_deref(), name, *days).await?;
                println!("token {id} (shown once, keep it secret): {secret}");
            }
            TokensCommand::List => {
                for t in tokens::list(&store, &by).await? {
                    let state = if t.revoked_at_ms.is_some() {
                        "revoked"
                    } else {
                        "live"
                    };
                    println!("{:>4}  {:<20} {:<30} {state}", t.id, t.username, t.name);
                }
            }
            TokensCommand::Revoke { id } => {
                tokens::revoke(&store, &by, *id).await?;
                println!("token {id} revoked");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
