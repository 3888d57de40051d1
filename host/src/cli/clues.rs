//! `supervise clues …` and `supervise suggestions …`: triage from the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::clues::query::{self, ClueFilter, ClueRow, Sort};
use crate::clues::report::{self, Report};
use crate::clues::settings::{self, days_ms};
use crate::clues::stats::{self, Level};
use crate::clues::suggestions::{self, Step};
use crate::clues::triage;
use crate::clues::{Action, ClueError, DismissReason, Status, actor_region};
use crate::store::{Store, now_ms};

use super::registry::actor;
use super::{Cli, CliError, block_on, print};

impl From<ClueError> for CliError {
    fn from(e: ClueError) -> Self {
        CliError::Usage(e.to_string())
    }
}

/// Filters shared by `clues list` and `clues export`.
#[derive(Debug, Args, Clone)]
pub struct FilterArgs {
    /// Only this model.
    #[arg(long)]
    pub model: Option<String>,
    /// Only this source: model, grid_member, agency.
    #[arg(long)]
    pub source: Option<String>,
    /// Only regions under this one.
    #[arg(long)]
    pub region: Option<String>,
    /// Only these statuses (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub status: Vec<String>,
    /// Score at least.
    #[arg(long)]
    pub min_score: Option<f64>,
    /// Score at most.
    #[arg(long)]
    pub max_score: Option<f64>,
    /// Last found on or after this date (YYYY-MM-DD).
    #[arg(long)]
    pub seen_from: Option<String>,
    /// Last found before this date (YYYY-MM-DD).
    #[arg(long)]
    pub seen_to: Option<String>,
    /// Only open clues past their handling deadline.
    #[arg(long)]
    pub overdue: bool,
    /// Only this assignee.
    #[arg(long)]
    pub assignee: Option<String>,
    /// Only clues whose reason or subject name contains this.
    #[arg(long)]
    pub text: Option<String>,
    /// last-seen, score, first-seen or due.
    #[arg(long, default_value = "last-seen")]
    pub sort: String,
}

pub(super) fn date_ms(s: &str) -> Result<i64, CliError> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| {
            d.and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc()
                .timestamp_millis()
        })
        .map_err(|_| CliError::Usage(format!("`{s}` is not a date (YYYY-MM-DD)")))
}

impl FilterArgs {
    fn filter(&self, limit: i64, offset: i64) -> Result<ClueFilter, CliError> {
        Ok(ClueFilter {
            model: self.model.clone(),
            source: self.source.clone(),
            region: self.region.clone(),
            statuses: self
                .status
                .iter()
                .map(|s| s.parse::<Status>())
                .collect::<Result<_, _>>()
                .map_err(CliError::Usage)?,
            min_score: self.min_score,
            max_score: self.max_score,
            seen_from_ms: self.seen_from.as_deref().map(date_ms).transpose()?,
            seen_to_ms: self.seen_to.as_deref().map(date_ms).transpose()?,
            overdue: self.overdue,
            assignee: self.assignee.clone(),
            text: self.text.clone(),
            sort: self.sort.parse::<Sort>().map_err(CliError::Usage)?,
            limit,
            offset,
        })
    }
}

/// `supervise clues …`
#[derive(Debug, Subcommand)]
pub enum CluesCommand {
    /// A filtered, sorted page of clues in your office's region.
    List {
        /// Filters.
        #[command(flatten)]
        filter: FilterArgs,
        /// Page size (at most 1000).
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Rows to skip.
        #[arg(long, default_value_t = 0)]
        offset: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One clue: reason, evidence, timeline, comments, next actions.
    Show {
        /// Clue id.
        id: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Assign clues to a prosecutor (starts the handling deadline).
    Assign {
        /// Clue ids.
        #[arg(required = true)]
        ids: Vec<i64>,
        /// Who.
        #[arg(long)]
        to: String,
    },
    /// Start verifying assigned clues.
    Verify {
        /// Clue ids.
        #[arg(required = true)]
        ids: Vec<i64>,
    },
    /// Verification found a real problem.
    Confirm {
        /// Clue ids.
        #[arg(required = true)]
        ids: Vec<i64>,
        /// What verification found.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// A case was filed on confirmed clues.
    FileCase {
        /// Clue ids.
        #[arg(required = true)]
        ids: Vec<i64>,
        /// Case number or note.
        #[arg(long)]
        note: String,
    },
    /// Confirmed clues handed to another agency.
    Transfer {
        /// Clue ids.
        #[arg(required = true)]
        ids: Vec<i64>,
        /// The agency.
        #[arg(long)]
        agency: String,
    },
    /// Dismiss clues with a reason: data_error, already_handled, no_violation, duplicate, other.
    Dismiss {
        /// Clue ids.
        #[arg(required = true)]
        ids: Vec<i64>,
        /// The reason.
        #[arg(long)]
        reason: String,
        /// A note (required for `other`).
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Comment on a clue.
    Comment {
        /// Clue id.
        id: i64,
        /// The comment.
        #[arg(long)]
        text: String,
    },
    /// Write matching clues to a CSV file.
    Export {
        /// Filters.
        #[command(flatten)]
        filter: FilterArgs,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Record a clue reported by a grid member or a partner agency.
    Report {
        /// grid_member or agency.
        #[arg(long)]
        source: String,
        /// The person or agency reporting.
        #[arg(long)]
        reporter: String,
        /// The county it concerns.
        #[arg(long)]
        region: String,
        /// Kind of clue.
        #[arg(long, default_value = "report")]
        kind: String,
        /// Subject type (person, company, licence…).
        #[arg(long)]
        subject_type: String,
        /// Subject identifier.
        #[arg(long)]
        subject_id: String,
        /// Subject name.
        #[arg(long, default_value = "")]
        subject_name: String,
        /// What was seen, in one line.
        #[arg(long)]
        reason: String,
        /// Confidence 0..1.
        #[arg(long, default_value_t = 0.5)]
        score: f64,
    },
    /// Clues due soon and overdue, and suggestions past their feedback deadline.
    Due,
    /// Feedback per model and region: verified, confirmed rate, dismissals, adoption.
    Stats {
        /// Only this model.
        #[arg(long)]
        model: Option<String>,
        /// county, city or province.
        #[arg(long, default_value = "county")]
        level: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show or change the province's deadlines (changes: provincial admins).
    Settings {
        /// Days from assignment to the handling deadline.
        #[arg(long)]
        handling_days: Option<i64>,
        /// Months from a suggestion to its feedback deadline.
        #[arg(long)]
        feedback_months: Option<i64>,
        /// Days before a deadline when it is due soon.
        #[arg(long)]
        due_soon_days: Option<i64>,
    },
}

/// `supervise suggestions …`
#[derive(Debug, Subcommand)]
pub enum SuggestionsCommand {
    /// Bundle confirmed clues into one suggestion to one agency.
    Issue {
        /// The agency.
        #[arg(long)]
        agency: String,
        /// Title.
        #[arg(long)]
        title: String,
        /// Confirmed clue ids.
        #[arg(required = true)]
        clues: Vec<i64>,
    },
    /// Suggestions in your region (`--overdue`: past the feedback deadline without reply).
    List {
        /// Only overdue ones.
        #[arg(long)]
        overdue: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One suggestion with its clues.
    Show {
        /// Id.
        id: i64,
    },
    /// The agency replied.
    Reply {
        /// Id.
        id: i64,
        /// What it said.
        #[arg(long)]
        note: String,
    },
    /// The agency adopted it.
    Adopt {
        /// Id.
        id: i64,
        /// A note.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// The agency did not adopt it.
    Decline {
        /// Id.
        id: i64,
        /// A note.
        #[arg(long, default_value = "")]
        note: String,
    },
}

fn when(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| "-".into())
}

pub(super) fn line(c: &ClueRow) -> String {
    format!(
        "{:>7}  {:<22} {:<7} {:<17} {:.2}  {:<12} due {:<16} {}",
        c.id,
        c.model.clone().unwrap_or_else(|| format!("({})", c.source)),
        c.region,
        c.status.as_str(),
        c.score,
        c.assignee.clone().unwrap_or_else(|| "-".into()),
        when(c.handling_due_ms),
        c.reason
    )
}

/// A page of the queue, one clue a line, then how many of how many.
pub(super) fn print_page(rows: &[ClueRow], total: &str) {
    for c in rows {
        println!("{}", line(c));
    }
    println!("{} of {total} clue(s)", rows.len());
}

pub(super) fn done(verb: &str, ids: &[i64], status: Status) {
    println!("{verb} {} clue(s); now {status}", ids.len());
}

/// Runs `supervise clues …`.
pub fn clues(cli: &Cli, cmd: &CluesCommand) -> Result<ExitCode, CliError> {
    block_on(async {
        let store = cli.store().await?;
        let who = actor(cli)?;
        let act = |ids: &[i64], a: Action| {
            let (store, who, ids) = (store.clone(), who.clone(), ids.to_vec());
            async move { triage::apply(&store, &who, &ids, &a).await }
        };
        match cmd {
            CluesCommand::List {
                filter,
                limit,
                offset,
                json,
            } => {
                let scope = actor_region(&store, &who).await?;
                let (rows, total) =
                    query::list(&store, &scope, &filter.filter(*limit, *offset)?, now_ms()).await?;
                if *json {
                    print::json(
                        &serde_json::json!({"total": total.count, "total_exact": total.exact, "clues": rows}),
                    );
                } else {
                    print_page(&rows, &total.to_string());
                }
            }
            CluesCommand::Show { id, json } => {
                let d = triage::detail(&store, &who, *id).await?;
                if *json {
                    print::json(&serde_json::to_value(&d).unwrap_or_default());
                } else {
                    show(&d);
                }
            }
            CluesCommand::Assign { ids, to } => done(
                "assigned",
                ids,
                act(ids, Action::Assign { to: to.clone() }).await?,
            ),
            CluesCommand::Verify { ids } => done("verifying", ids, act(ids, Action::Verify).await?),
            CluesCommand::Confirm { ids, note } => done(
                "confirmed",
                ids,
                act(ids, Action::Confirm { note: note.clone() }).await?,
            ),
            CluesCommand::FileCase { ids, note } => done(
                "filed a case on",
                ids,
                act(ids, Action::FileCase { note: note.clone() }).await?,
            ),
            CluesCommand::Transfer { ids, agency } => done(
                "transferred",
                ids,
                act(
                    ids,
                    Action::Transfer {
                        agency: agency.clone(),
                    },
                )
                .await?,
            ),
            CluesCommand::Dismiss { ids, reason, note } => {
                let reason: DismissReason = reason.parse().map_err(CliError::Usage)?;
                done(
                    "dismissed",
                    ids,
                    act(
                        ids,
                        Action::Dismiss {
                            reason,
                            note: note.clone(),
                        },
                    )
                    .await?,
                )
            }
            CluesCommand::Comment { id, text } => {
                triage::comment(&store, &who, *id, text).await?;
                println!("comment added to clue {id}");
            }
            CluesCommand::Export { filter, out } => {
                let scope = actor_region(&store, &who).await?;
                let tmp = out.with_extension("csv.partial");
                let file = std::fs::File::create(&tmp).map_err(|source| CliError::Write {
                    path: tmp.clone(),
                    source,
                })?;
                let n = query::export(
                    &store,
                    &scope,
                    &filter.filter(0, 0)?,
                    now_ms(),
                    std::io::BufWriter::new(file),
                )
                .await;
                let n = match n {
                    Ok(n) => n,
                    Err(e) => {
                        let _ = std::fs::remove_file(&tmp);
                        return Err(e.into());
                    }
                };
                std::fs::rename(&tmp, out).map_err(|source| CliError::Write {
                    path: out.clone(),
                    source,
                })?;
                println!("wrote {n} clue(s) to {}", out.display());
            }
            CluesCommand::Report {
                source,
                reporter,
                region,
                kind,
                subject_type,
                subject_id,
                subject_name,
                reason,
                score,
            } => {
                let r = Report {
                    source: source.clone(),
                    reporter: reporter.clone(),
                    region: region.clone(),
                    kind: kind.clone(),
                    subject_type: subject_type.clone(),
                    subject_id: subject_id.clone(),
                    subject_name: subject_name.clone(),
                    reason: reason.clone(),
                    score: *score,
                };
                let id = report::report(&store, &who, &r).await?;
                println!("recorded clue {id} from {source} {reporter}");
            }
            CluesCommand::Due => due(&store, &who).await?,
            CluesCommand::Stats { model, level, json } => {
                let scope = actor_region(&store, &who).await?;
                let level: Level = level.parse().map_err(CliError::Usage)?;
                let rows = stats::feedback(&store, &scope, model.as_deref(), level).await?;
                if *json {
                    print::json(&serde_json::to_value(&rows).unwrap_or_default());
                } else {
                    print_stats(&rows);
                }
            }
            CluesCommand::Settings {
                handling_days,
                feedback_months,
                due_soon_days,
            } => {
                let mut s = settings::get(&store).await?;
                if handling_days.is_some() || feedback_months.is_some() || due_soon_days.is_some() {
                    s.handling_days = handling_days.unwrap_or(s.handling_days);
                    s.feedback_months = feedback_months.unwrap_or(s.feedback_months);
                    s.due_soon_days = due_soon_days.unwrap_or(s.due_soon_days);
                    settings::set(&store, &who, s).await?;
                }
                println!(
                    "handling deadline {} day(s) after assignment; feedback deadline {} month(s) after a suggestion; due soon {} day(s) before",
                    s.handling_days, s.feedback_months, s.due_soon_days
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn show(d: &triage::Detail) {
    let c = &d.clue;
    println!("clue {} — {} ({})", c.id, c.status, c.kind);
    println!(
        "from      {}",
        c.model.clone().unwrap_or_else(|| format!(
            "{} {}",
            c.source,
            c.source_detail.clone().unwrap_or_default()
        ))
    );
    println!("region    {}", c.region);
    println!(
        "subject   {} {} {}",
        c.subject_type, c.subject_id, c.subject_name
    );
    println!("score     {:.2}", c.score);
    println!("reason    {}", c.reason);
    println!(
        "seen      {} time(s), first {}, last {}",
        c.occurrences,
        when(Some(c.first_seen_ms)),
        when(Some(c.last_seen_ms))
    );
    if c.evidence_changed {
        println!("note      found again with changed evidence after it was dismissed");
    }
    println!(
        "assignee  {}   handling due {}",
        c.assignee.clone().unwrap_or_else(|| "-".into()),
        when(c.handling_due_ms)
    );
    if let Some(r) = &c.dismiss_reason {
        println!("dismissed {r}");
    }
    if let Some(s) = c.suggestion_id {
        println!("suggestion {s}");
    }
    println!("evidence  {}", d.evidence);
    for e in &d.timeline {
        println!(
            "  {}  {:<18} {:<22} {}",
            when(Some(e.at_ms)),
            e.actor,
            e.action,
            e.detail
        );
    }
    for c in &d.comments {
        println!("  comment {} {}: {}", when(Some(c.at_ms)), c.actor, c.text);
    }
    println!(
        "next      {}",
        if d.next.is_empty() {
            "(closed)".to_string()
        } else {
            d.next.join(", ")
        }
    );
}

async fn due(store: &Store, who: &crate::registry::Actor) -> Result<(), CliError> {
    let scope = actor_region(store, who).await?;
    let s = settings::get(store).await?;
    let now = now_ms();
    let mut f = ClueFilter {
        overdue: true,
        sort: Sort::Due,
        limit: 1000,
        ..ClueFilter::default()
    };
    let (overdue, n) = query::list(store, &scope, &f, now).await?;
    println!("overdue: {n} clue(s)");
    for c in &overdue {
        println!("{}", line(c));
    }
    // Due soon: open and due within the window, not yet overdue.
    f.overdue = false;
    f.statuses = vec![Status::Assigned, Status::Verifying];
    let (open, _) = query::list(store, &scope, &f, now).await?;
    let soon: Vec<&ClueRow> = open
        .iter()
        .filter(|c| {
            c.handling_due_ms
                .is_some_and(|d| d >= now && d < now + days_ms(s.due_soon_days))
        })
        .collect();
    println!(
        "due within {} day(s): {} clue(s)",
        s.due_soon_days,
        soon.len()
    );
    for c in soon {
        println!("{}", line(c));
    }
    let late = suggestions::list(store, who, Some(now)).await?;
    println!("suggestions past their feedback deadline: {}", late.len());
    for x in late {
        println!(
            "{:>5}  {:<30} due {}  clues {:?}",
            x.id,
            x.agency,
            when(Some(x.feedback_due_ms)),
            x.clues
        );
    }
    Ok(())
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.0}%", v * 100.0))
}

fn print_stats(rows: &[stats::Feedback]) {
    println!(
        "{:<24} {:<12} {:<7} {:>6} {:>8} {:>9} {:>6} {:>11} {:>7} {:>7} {:>7} {:>9}  dismissed",
        "model",
        "source",
        "region",
        "clues",
        "verified",
        "confirmed",
        "rate",
        "suggestions",
        "adopted",
        "rate",
        "",
        "days"
    );
    for r in rows {
        let dismissed: Vec<String> = r
            .dismissed
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!(
            "{:<24} {:<12} {:<7} {:>6} {:>8} {:>9} {:>6} {:>11} {:>7} {:>7} {:>7} {:>9}  {}",
            r.model,
            r.source,
            r.region,
            r.clues,
            r.verified,
            r.confirmed,
            pct(r.confirmed_rate),
            r.suggestions,
            r.adopted,
            pct(r.adoption_rate),
            "",
            r.median_days_to_close
                .map_or_else(|| "-".into(), |d| format!("{d:.1}")),
            dismissed.join(", ")
        );
    }
}

/// Runs `supervise suggestions …`.
pub fn suggestions_cmd(cli: &Cli, cmd: &SuggestionsCommand) -> Result<ExitCode, CliError> {
    block_on(async {
        let store = cli.store().await?;
        let who = actor(cli)?;
        match cmd {
            SuggestionsCommand::Issue {
                agency,
                title,
                clues,
            } => {
                let id = suggestions::issue(&store, &who, agency, title, clues).await?;
                let s = suggestions::get(&store, &who, id).await?;
                println!(
                    "issued suggestion {id} to {agency} over {} clue(s); feedback due {}",
                    s.clues.len(),
                    when(Some(s.feedback_due_ms))
                );
            }
            SuggestionsCommand::List { overdue, json } => {
                let rows = suggestions::list(&store, &who, overdue.then(now_ms)).await?;
                if *json {
                    print::json(&serde_json::to_value(&rows).unwrap_or_default());
                } else {
                    for s in rows {
                        println!(
                            "{:>5}  {:<12} {:<30} issued {}  due {}  clues {:?}  {}",
                            s.id,
                            s.status,
                            s.agency,
                            when(Some(s.issued_at_ms)),
                            when(Some(s.feedback_due_ms)),
                            s.clues,
                            s.title
                        );
                    }
                }
            }
            SuggestionsCommand::Show { id } => {
                print::json(
                    &serde_json::to_value(suggestions::get(&store, &who, *id).await?)
                        .unwrap_or_default(),
                );
            }
            SuggestionsCommand::Reply { id, note } => println!(
                "suggestion {id} is now {}",
                suggestions::step(&store, &who, *id, Step::Reply, note).await?
            ),
            SuggestionsCommand::Adopt { id, note } => println!(
                "suggestion {id} is now {}",
                suggestions::step(&store, &who, *id, Step::Adopt, note).await?
            ),
            SuggestionsCommand::Decline { id, note } => println!(
                "suggestion {id} is now {}",
                suggestions::step(&store, &who, *id, Step::Decline, note).await?
            ),
        }
        Ok(ExitCode::SUCCESS)
    })
}
