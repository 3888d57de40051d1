//! Run records over HTTP, within the caller's region. Authors have no access yet (runs of
//! their own models come with the model catalogue).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Role;
use crate::datasets::region;
use crate::runs::quarantine::{self, Quarantine};
use crate::runs::record::{self, RunFilter, RunRecord};
use crate::runs::replay::{self, Comparison};
use crate::runs::{Status, queue};

use super::auth::Authed;
use super::error::{ApiError, ErrorBody};
use super::{ApiJson, ApiPath, ApiQuery, AppState, require_admin};

/// Filters of the run list.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunParams {
    /// Only this model.
    pub model: Option<String>,
    /// Only regions under this one.
    pub region: Option<String>,
    /// queued, running, succeeded, failed, timed_out, cancelled.
    pub status: Option<String>,
    /// run, replay, backtest.
    pub kind: Option<String>,
    /// At most this many, newest first (1 to 1000, default 50).
    pub limit: Option<i64>,
}

fn readable(role: Role) -> Result<(), ApiError> {
    if role == Role::Author {
        return Err(ApiError::forbidden(
            "authors have no access to run records yet",
        ));
    }
    Ok(())
}

/// Runs, newest first.
#[utoipa::path(get, path = "/runs", tag = "runs", params(RunParams),
    responses((status = 200, body = [RunRecord]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiQuery(q): ApiQuery<RunParams>,
) -> Result<Json<Vec<RunRecord>>, ApiError> {
    readable(p.role)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be from 1 to 1000, not {limit}"
        )));
    }
    let within = match q.region.as_deref() {
        None => p.region.clone(),
        Some(r) => {
            region::level(r).map_err(ApiError::bad_request)?;
            if region::covers(&p.region, r) {
                r.to_string()
            } else if region::covers(r, &p.region) {
                p.region.clone()
            } else {
                return Ok(Json(Vec::new()));
            }
        }
    };
    let f = RunFilter {
        model: q.model,
        region: Some(within),
        status: q
            .status
            .as_deref()
            .map(str::parse::<Status>)
            .transpose()
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
        kind: q.kind,
        backtest_group: None,
        limit,
    };
    Ok(Json(record::list(&s.store, &f).await?))
}

/// One run.
#[utoipa::path(get, path = "/runs/{id}", tag = "runs", params(("id" = i64, Path, description = "Run id")),
    responses((status = 200, body = RunRecord), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<RunRecord>, ApiError> {
    readable(p.role)?;
    let r = record::get(&s.store, id).await?;
    if !region::covers(&p.region, &r.region) {
        return Err(ApiError::not_found(format!("run {id} not found")));
    }
    Ok(Json(r))
}

/// Run routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get))
}

/// Runs by hand.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRuns {
    /// The enabled model.
    pub model: String,
    /// A county, or a city or the province for one run per county under it.
    pub region: String,
}

/// The queued runs.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Queued {
    /// Their ids.
    pub runs: Vec<i64>,
}

/// Queues runs of an enabled model by hand (reviewers for their region, admins anywhere).
#[utoipa::path(post, path = "/runs", tag = "runs", request_body = NewRuns,
    responses((status = 202, body = Queued), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn queue_runs(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiJson(n): ApiJson<NewRuns>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    writer(p.role)?;
    let runs = queue::by_hand(&s.store, &p.actor(), &n.model, &n.region).await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { runs })))
}

/// Why a run is cancelled.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRun {
    /// Why.
    pub reason: String,
}

/// Cancels a queued or running run in the caller's region.
#[utoipa::path(post, path = "/runs/{id}/cancel", tag = "runs", request_body = CancelRun, params(("id" = i64, Path, description = "Run id")),
    responses((status = 200, body = RunRecord), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiPath(id): ApiPath<i64>,
    ApiJson(c): ApiJson<CancelRun>,
) -> Result<Json<RunRecord>, ApiError> {
    writer(p.role)?;
    let r = record::get(&s.store, id).await?;
    if !region::covers(&p.region, &r.region) {
        return Err(ApiError::not_found(format!("run {id} not found")));
    }
    queue::cancel(&s.store, &p.actor(), id, &c.reason).await?;
    Ok(Json(record::get(&s.store, id).await?))
}

fn writer(role: Role) -> Result<(), ApiError> {
    if !matches!(role, Role::Reviewer | Role::Admin) {
        return Err(ApiError::forbidden(format!(
            "the {} role cannot queue or cancel runs",
            role.as_str()
        )));
    }
    Ok(())
}

/// A run of the caller's region, or "not found".
async fn own_run(s: &AppState, p: &crate::auth::Principal, id: i64) -> Result<RunRecord, ApiError> {
    let r = record::get(&s.store, id).await?;
    if !region::covers(&p.region, &r.region) {
        return Err(ApiError::not_found(format!("run {id} not found")));
    }
    Ok(r)
}

/// Queues a replay of a succeeded run: same component, parameters, as-of date and snapshot;
/// its clues are kept apart from the queue and compared with the original's.
#[utoipa::path(post, path = "/runs/{id}/replay", tag = "runs", params(("id" = i64, Path, description = "Run id")),
    responses((status = 202, body = Queued), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn replay_run(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    writer(p.role)?;
    own_run(&s, &p, id).await?;
    let run = replay::queue(&s.store, &p.actor(), id).await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { runs: vec![run] })))
}

/// How a replay's clues compare with its original's (once the replay has ended).
#[utoipa::path(get, path = "/runs/{id}/comparison", tag = "runs", params(("id" = i64, Path, description = "The replay's run id")),
    responses((status = 200, body = Comparison), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn comparison(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Comparison>, ApiError> {
    readable(p.role)?;
    own_run(&s, &p, id).await?;
    Ok(Json(replay::compare(&s.store, id).await?))
}

/// Models quarantined after repeated failures (their runs wait until released).
#[utoipa::path(get, path = "/quarantines", tag = "runs",
    responses((status = 200, body = [Quarantine]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn quarantines(
    State(s): State<AppState>,
    Authed(p): Authed,
) -> Result<Json<Vec<Quarantine>>, ApiError> {
    readable(p.role)?;
    Ok(Json(quarantine::list(&s.store).await?))
}

/// Why a quarantined model is released.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// Why it may run again.
    pub reason: String,
}

/// Releases a quarantined model (admins); its waiting runs resume.
#[utoipa::path(post, path = "/quarantines/{model}/release", tag = "runs", request_body = Release,
    params(("model" = String, Path, description = "Model id")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn release(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiPath(model): ApiPath<String>,
    ApiJson(r): ApiJson<Release>,
) -> Result<StatusCode, ApiError> {
    require_admin(&p)?;
    quarantine::release(&s.store, &p.actor(), &model, &r.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Run actions.
pub fn action_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(queue_runs))
        .routes(routes!(cancel))
        .routes(routes!(replay_run))
        .routes(routes!(comparison))
        .routes(routes!(quarantines))
        .routes(routes!(release))
}
