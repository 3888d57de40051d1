//! Clues over HTTP: the filtered queue and its CSV export, one clue's detail, triage actions
//! (one clue or a bulk of them), comments, clues reported by people, the province's deadline
//! settings, and the feedback statistics. Reviewers and admins act; auditors read; authors
//! have no access to clues. Clues outside the caller's region do not exist.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Role;
use crate::auth::users::Principal;
use crate::clues::identity::{self, SubjectIdentity};
use crate::clues::overview::{self, Overview};
use crate::clues::query::{self, ClueFilter, ClueRow, Sort};
use crate::clues::report::{self, Report};
use crate::clues::settings::{self, Settings};
use crate::clues::stats::{self, Feedback, Level};
use crate::clues::suggestions::{self, Step, Suggestion};
use crate::clues::triage::{self, Detail};
use crate::clues::{Action, DismissReason, Status};
use crate::store::now_ms;

use super::auth::Authed;
use super::error::{ApiError, ErrorBody};
use super::{ApiJson, ApiPath, ApiQuery, AppState, require_admin};

fn may_read(p: &Principal) -> Result<(), ApiError> {
    if p.role == Role::Author {
        return Err(ApiError::forbidden("authors have no access to clues"));
    }
    Ok(())
}

fn may_write(p: &Principal) -> Result<(), ApiError> {
    if !matches!(p.role, Role::Reviewer | Role::Admin) {
        return Err(ApiError::forbidden(format!(
            "the {} role cannot change clues",
            p.role.as_str()
        )));
    }
    Ok(())
}

/// Filters of the clue queue.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only this model.
    pub model: Option<String>,
    /// Only this source: model, grid_member, agency.
    pub source: Option<String>,
    /// Only regions under this one.
    pub region: Option<String>,
    /// Statuses, comma-separated.
    pub status: Option<String>,
    /// Score at least.
    pub min_score: Option<f64>,
    /// Score at most.
    pub max_score: Option<f64>,
    /// Last seen at or after (ms since the epoch).
    pub seen_from_ms: Option<i64>,
    /// Last seen before (ms since the epoch).
    pub seen_to_ms: Option<i64>,
    /// Only open clues past their handling deadline.
    pub overdue: Option<bool>,
    /// Only this assignee.
    pub assignee: Option<String>,
    /// Reason or subject name contains this.
    pub text: Option<String>,
    /// last-seen (default), score, first-seen, due.
    pub sort: Option<String>,
    /// Page size, 1 to 1000 (default 50).
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
}

impl ListParams {
    fn filter(&self) -> Result<ClueFilter, ApiError> {
        let statuses = match &self.status {
            None => Vec::new(),
            Some(s) => s
                .split(',')
                .filter(|x| !x.is_empty())
                .map(|x| x.parse::<Status>())
                .collect::<Result<_, _>>()
                .map_err(ApiError::bad_request)?,
        };
        let limit = self.limit.unwrap_or(50);
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::bad_request(format!(
                "limit must be from 1 to 1000, not {limit}"
            )));
        }
        let offset = self.offset.unwrap_or(0);
        if offset < 0 {
            return Err(ApiError::bad_request("offset must not be negative"));
        }
        for v in [self.min_score, self.max_score].into_iter().flatten() {
            if !v.is_finite() {
                return Err(ApiError::bad_request("scores must be finite numbers"));
            }
        }
        if let Some(r) = &self.region {
            crate::datasets::region::level(r).map_err(ApiError::bad_request)?;
        }
        Ok(ClueFilter {
            model: self.model.clone(),
            source: self.source.clone(),
            region: self.region.clone(),
            statuses,
            min_score: self.min_score,
            max_score: self.max_score,
            seen_from_ms: self.seen_from_ms,
            seen_to_ms: self.seen_to_ms,
            overdue: self.overdue.unwrap_or(false),
            assignee: self.assignee.clone(),
            text: self.text.clone(),
            sort: self
                .sort
                .as_deref()
                .map(str::parse::<Sort>)
                .transpose()
                .map_err(ApiError::bad_request)?
                .unwrap_or_default(),
            limit,
            offset,
        })
    }
}

/// A page of clues.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CluePage {
    /// Clues that match, in all (at least this many when `total_exact` is false).
    pub total: i64,
    /// False when more than `total` clues match: counts past 10,000 stop for filters on
    /// score, dates, assignee, text or overdue.
    pub total_exact: bool,
    /// This page.
    pub clues: Vec<ClueRow>,
}

/// The clue queue: filtered, sorted, paged, within the caller's region.
#[utoipa::path(get, path = "/clues", tag = "clues", params(ListParams),
    responses((status = 200, body = CluePage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiQuery(q): ApiQuery<ListParams>,
) -> Result<Json<CluePage>, ApiError> {
    may_read(&p)?;
    let (clues, total) = query::list(&s.store, &p.region, &q.filter()?, now_ms()).await?;
    Ok(Json(CluePage {
        total: total.count,
        total_exact: total.exact,
        clues,
    }))
}

/// One clue: reason, evidence, timeline, comments and the actions allowed next.
#[utoipa::path(get, path = "/clues/{id}", tag = "clues", params(("id" = i64, Path, description = "Clue id")),
    responses((status = 200, body = Detail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn detail(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Detail>, ApiError> {
    may_read(&p)?;
    Ok(Json(triage::detail(&s.store, &p.actor(), id).await?))
}

/// A triage action on one or more clues (all or nothing).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// The clues (1 to 1000).
    pub ids: Vec<i64>,
    /// assign, verify, confirm, file-case, transfer, dismiss.
    pub action: String,
    /// The assignee (assign).
    pub to: Option<String>,
    /// A note (confirm, file-case: the case number, dismiss: required for `other`).
    pub note: Option<String>,
    /// The dismissal reason: data_error, already_handled, no_violation, duplicate, other.
    pub reason: Option<String>,
    /// The agency (transfer).
    pub agency: Option<String>,
}

/// The clues' status after an action.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ActionResult {
    /// The status they are in now.
    pub status: Status,
    /// How many changed.
    pub changed: usize,
}

impl ActionRequest {
    fn action(&self) -> Result<Action, ApiError> {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        Ok(match self.action.as_str() {
            "assign" => Action::Assign { to: text(&self.to) },
            "verify" => Action::Verify,
            "confirm" => Action::Confirm {
                note: text(&self.note),
            },
            "file-case" => Action::FileCase {
                note: text(&self.note),
            },
            "transfer" => Action::Transfer {
                agency: text(&self.agency),
            },
            "dismiss" => Action::Dismiss {
                reason: self
                    .reason
                    .as_deref()
                    .unwrap_or("")
                    .parse::<DismissReason>()
                    .map_err(ApiError::bad_request)?,
                note: text(&self.note),
            },
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown action `{other}` (one of: assign, verify, confirm, file-case, transfer, dismiss; suggestions are issued under /suggestions)"
                )));
            }
        })
    }
}

/// Applies a triage action to clues in the caller's region.
#[utoipa::path(post, path = "/clues/actions", tag = "clues", request_body = ActionRequest,
    responses((status = 200, body = ActionResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn act(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiJson(r): ApiJson<ActionRequest>,
) -> Result<Json<ActionResult>, ApiError> {
    may_write(&p)?;
    let action = r.action()?;
    let status = triage::apply(&s.store, &p.actor(), &r.ids, &action).await?;
    Ok(Json(ActionResult {
        status,
        changed: r.ids.len(),
    }))
}

/// A comment.
/// Who a clue is about: the identifiers behind its subject's pseudonym. Reviewers of the
/// clue's region only; every call is recorded in the audit trail and the clue's timeline.
#[utoipa::path(post, path = "/clues/{id}/identity", tag = "clues", params(("id" = i64, Path, description = "Clue id")),
    responses((status = 200, body = SubjectIdentity), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn identity(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<SubjectIdentity>, ApiError> {
    may_read(&p)?;
    Ok(Json(
        identity::identify(&s.store, &p.actor(), p.role, id).await?,
    ))
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    /// 1 to 4000 bytes.
    pub text: String,
}

/// Comments on a clue.
#[utoipa::path(post, path = "/clues/{id}/comments", tag = "clues", request_body = NewComment, params(("id" = i64, Path, description = "Clue id")),
    responses((status = 201), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn comment(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiPath(id): ApiPath<i64>,
    ApiJson(c): ApiJson<NewComment>,
) -> Result<StatusCode, ApiError> {
    may_write(&p)?;
    triage::comment(&s.store, &p.actor(), id, &c.text).await?;
    Ok(StatusCode::CREATED)
}

/// Streams every clue the filters match as CSV (sort applies; limit and offset do not),
/// read a thousand at a time so that memory stays flat however many there are.
#[utoipa::path(get, path = "/clues/export", tag = "clues", params(ListParams),
    responses((status = 200, description = "CSV with a header row", content_type = "text/csv", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn export(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiQuery(q): ApiQuery<ListParams>,
) -> Result<Response, ApiError> {
    may_read(&p)?;
    let mut f = q.filter()?;
    f.limit = query::EXPORT_PAGE;
    f.offset = 0;
    let now = now_ms();
    let pages = futures_util::stream::unfold(
        Some((s.store.clone(), p.region.clone(), f, true)),
        move |state| async move {
            let (store, scope, mut f, first) = state?;
            let page = query::list(&store, &scope, &f, now).await;
            let mut w = csv::Writer::from_writer(Vec::new());
            let written = page.map_err(|e| e.to_string()).and_then(|(rows, _)| {
                if first {
                    w.write_record(query::CSV_HEADER)
                        .map_err(|e| e.to_string())?;
                }
                for c in &rows {
                    w.write_record(query::csv_record(c))
                        .map_err(|e| e.to_string())?;
                }
                Ok(rows.len() as i64)
            });
            match (written, w.into_inner()) {
                (Ok(n), Ok(bytes)) => {
                    f.offset += query::EXPORT_PAGE;
                    let next = (n == query::EXPORT_PAGE).then_some((store, scope, f, false));
                    Some((Ok(axum::body::Bytes::from(bytes)), next))
                }
                (Err(e), _) => {
                    tracing::error!("clue export stopped: {e}");
                    Some((Err(std::io::Error::other(e)), None))
                }
                (_, Err(e)) => Some((Err(std::io::Error::other(e.to_string())), None)),
            }
        },
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"clues.csv\"",
            ),
        ],
        Body::from_stream(pages),
    )
        .into_response())
}

/// A clue reported by a person (a grid member or a partner agency).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    /// `grid_member` or `agency`.
    pub source: String,
    /// The person or agency reporting.
    pub reporter: String,
    /// The county it concerns (within the caller's region).
    pub region: String,
    /// Kind of clue (default `report`).
    pub kind: Option<String>,
    /// Subject type: person, company, licence…
    pub subject_type: String,
    /// Subject identifier.
    pub subject_id: String,
    /// Subject name.
    #[serde(default)]
    pub subject_name: String,
    /// What was seen, in one line.
    pub reason: String,
    /// Confidence 0..1 (default 0.5).
    pub score: Option<f64>,
}

/// The new clue.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ReportedClue {
    /// Its id.
    pub id: i64,
}

/// Records a clue reported by a person; it joins the queue like a model's.
#[utoipa::path(post, path = "/clues/reports", tag = "clues", request_body = NewReport,
    responses((status = 201, body = ReportedClue), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn report_clue(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiJson(n): ApiJson<NewReport>,
) -> Result<(StatusCode, Json<ReportedClue>), ApiError> {
    may_write(&p)?;
    let r = Report {
        source: n.source,
        reporter: n.reporter,
        region: n.region,
        kind: n.kind.unwrap_or_else(|| "report".into()),
        subject_type: n.subject_type,
        subject_id: n.subject_id,
        subject_name: n.subject_name,
        reason: n.reason,
        score: n.score.unwrap_or(0.5),
    };
    let id = report::report(&s.store, &p.actor(), &r).await?;
    Ok((StatusCode::CREATED, Json(ReportedClue { id })))
}

/// The province's deadlines: handling days, feedback months, the due-soon window.
#[utoipa::path(get, path = "/settings", tag = "clues",
    responses((status = 200, body = Settings), (status = 401, body = ErrorBody)))]
async fn get_settings(
    State(s): State<AppState>,
    Authed(_p): Authed,
) -> Result<Json<Settings>, ApiError> {
    Ok(Json(settings::get(&s.store).await?))
}

/// Changes the province's deadlines (admins); each from 1 to 365.
#[utoipa::path(put, path = "/settings", tag = "clues", request_body = Settings,
    responses((status = 200, body = Settings), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn put_settings(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiJson(new): ApiJson<Settings>,
) -> Result<Json<Settings>, ApiError> {
    require_admin(&p)?;
    settings::set(&s.store, &p.actor(), new).await?;
    Ok(Json(settings::get(&s.store).await?))
}

/// Which region's overview.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OverviewParams {
    /// The region (the caller's own by default).
    pub region: Option<String>,
    /// Weeks of trend, 1 to 104 (default 12).
    pub weeks: Option<i64>,
}

/// The dashboard's overview of a region: clues by city or county, the weekly trend, the
/// triage funnel, the overdue count and the models whose clues get confirmed.
#[utoipa::path(get, path = "/stats/overview", tag = "stats", params(OverviewParams),
    responses((status = 200, body = Overview), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn overview_stats(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiQuery(q): ApiQuery<OverviewParams>,
) -> Result<Json<Overview>, ApiError> {
    may_read(&p)?;
    let weeks = q.weeks.unwrap_or(12);
    if !(1..=104).contains(&weeks) {
        return Err(ApiError::bad_request(format!(
            "weeks must be from 1 to 104, not {weeks}"
        )));
    }
    Ok(Json(
        overview::overview(&s.store, &p.region, q.region.as_deref(), now_ms(), weeks).await?,
    ))
}

/// Filters of the feedback statistics.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// Only this model.
    pub model: Option<String>,
    /// county (default), city or province.
    pub level: Option<String>,
}

/// Feedback per model (or source) and region, within the caller's region.
#[utoipa::path(get, path = "/stats/feedback", tag = "stats", params(StatsParams),
    responses((status = 200, body = [Feedback]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn feedback(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiQuery(q): ApiQuery<StatsParams>,
) -> Result<Json<Vec<Feedback>>, ApiError> {
    may_read(&p)?;
    let level = q
        .level
        .as_deref()
        .map(str::parse::<Level>)
        .transpose()
        .map_err(ApiError::bad_request)?
        .unwrap_or_default();
    Ok(Json(
        stats::feedback(&s.store, &p.region, q.model.as_deref(), level).await?,
    ))
}

/// Clue routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(detail))
        .routes(routes!(identity))
        .routes(routes!(act))
        .routes(routes!(comment))
        .routes(routes!(feedback))
        .routes(routes!(export))
        .routes(routes!(report_clue))
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(overview_stats))
}

/// Filters of the suggestion list.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SuggestionParams {
    /// Only those past their feedback deadline without a reply.
    pub overdue: Option<bool>,
}

/// Suggestions issued in the caller's region, newest first.
#[utoipa::path(get, path = "/suggestions", tag = "suggestions", params(SuggestionParams),
    responses((status = 200, body = [Suggestion]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn suggestion_list(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiQuery(q): ApiQuery<SuggestionParams>,
) -> Result<Json<Vec<Suggestion>>, ApiError> {
    may_read(&p)?;
    let overdue = q.overdue.unwrap_or(false).then(now_ms);
    Ok(Json(
        suggestions::list(&s.store, &p.actor(), overdue).await?,
    ))
}

/// A new suggestion over confirmed clues.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSuggestion {
    /// The agency.
    pub agency: String,
    /// Title.
    pub title: String,
    /// Confirmed clues.
    pub clues: Vec<i64>,
}

/// Issues a suggestion to one agency over confirmed clues.
#[utoipa::path(post, path = "/suggestions", tag = "suggestions", request_body = NewSuggestion,
    responses((status = 201, body = Suggestion), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn suggestion_issue(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiJson(n): ApiJson<NewSuggestion>,
) -> Result<(StatusCode, Json<Suggestion>), ApiError> {
    may_write(&p)?;
    let id = suggestions::issue(&s.store, &p.actor(), &n.agency, &n.title, &n.clues).await?;
    Ok((
        StatusCode::CREATED,
        Json(suggestions::get(&s.store, &p.actor(), id).await?),
    ))
}

/// One suggestion with its clues.
#[utoipa::path(get, path = "/suggestions/{id}", tag = "suggestions", params(("id" = i64, Path, description = "Suggestion id")),
    responses((status = 200, body = Suggestion), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn suggestion_get(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Suggestion>, ApiError> {
    may_read(&p)?;
    Ok(Json(suggestions::get(&s.store, &p.actor(), id).await?))
}

/// What the agency did.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuggestionStep {
    /// reply, adopt or decline.
    pub step: String,
    /// What it said (required for reply).
    #[serde(default)]
    pub note: String,
}

/// Records the agency's reply, adoption or non-adoption.
#[utoipa::path(post, path = "/suggestions/{id}/steps", tag = "suggestions", request_body = SuggestionStep, params(("id" = i64, Path, description = "Suggestion id")),
    responses((status = 200, body = Suggestion), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn suggestion_step(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<SuggestionStep>,
) -> Result<Json<Suggestion>, ApiError> {
    may_write(&p)?;
    let step = match b.step.as_str() {
        "reply" => Step::Reply,
        "adopt" => Step::Adopt,
        "decline" => Step::Decline,
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown step `{other}` (one of: reply, adopt, decline)"
            )));
        }
    };
    suggestions::step(&s.store, &p.actor(), id, step, &b.note).await?;
    Ok(Json(suggestions::get(&s.store, &p.actor(), id).await?))
}

/// Suggestion routes.
pub fn suggestion_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(suggestion_list, suggestion_issue))
        .routes(routes!(suggestion_get))
        .routes(routes!(suggestion_step))
}
