//! Regions, the audit trail and its check.

use axum::Json;
use axum::extract::State;
use sqlx::Row;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Role;
use crate::datasets::region;
use crate::datasets::regions::{self, RegionError};
use crate::store::audit::{self, Event, EventFilter, Verification};

use super::auth::Authed;
use super::error::{ApiError, ErrorBody};
use super::{ApiJson, ApiQuery, AppState, require_admin};

/// A region.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RegionItem {
    /// 6-digit code.
    pub code: String,
    /// Name.
    pub name: String,
    /// province, city or county.
    pub level: String,
    /// Parent code.
    pub parent: Option<String>,
}

/// The regions the caller may see: their region, what lies under it, and its parents.
#[utoipa::path(get, path = "/regions", tag = "regions", responses((status = 200, body = [RegionItem]), (status = 401, body = ErrorBody)))]
async fn regions(
    State(s): State<AppState>,
    Authed(p): Authed,
) -> Result<Json<Vec<RegionItem>>, ApiError> {
    let rows = sqlx::query("SELECT code, name, level, parent FROM regions ORDER BY code")
        .fetch_all(s.store.pool())
        .await?;
    let mut out = Vec::new();
    for r in rows {
        let code: String = r.try_get(0)?;
        if region::covers(&p.region, &code) || region::covers(&code, &p.region) {
            out.push(RegionItem {
                code,
                name: r.try_get(1)?,
                level: r.try_get(2)?,
                parent: r.try_get(3)?,
            });
        }
    }
    Ok(Json(out))
}

fn may_audit(role: Role) -> Result<(), ApiError> {
    if !matches!(role, Role::Admin | Role::Auditor) {
        return Err(ApiError::forbidden(
            "only admins and auditors read the audit trail",
        ));
    }
    Ok(())
}

/// Which audit events.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only events about this subject (`clue 12`, `pension-after-death@1.0.0`, `enablement 3`).
    pub subject: Option<String>,
    /// Only events by this user.
    pub actor: Option<String>,
    /// Only actions starting with this (`clue.`, `model.approve`).
    pub action: Option<String>,
    /// Only events older than this id (the next page: the last id of this one).
    pub before: Option<i64>,
    /// At most this many, newest first (1 to 1000, default 50).
    pub limit: Option<i64>,
}

/// The audit trail, newest first (admins and auditors).
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = [Event]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn events(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiQuery(q): ApiQuery<AuditParams>,
) -> Result<Json<Vec<Event>>, ApiError> {
    may_audit(p.role)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be from 1 to 1000, not {limit}"
        )));
    }
    let f = EventFilter {
        subject: q.subject,
        actor: q.actor,
        action_prefix: q.action,
        before_id: q.before,
        limit,
    };
    Ok(Json(audit::list(&s.store, &f).await?))
}

/// Regions to load, as the CSV `supervise regions load` reads.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionsCsv {
    /// `code,name` (and optionally `level,parent`) with a header row.
    pub csv: String,
}

/// How many regions were loaded.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Loaded {
    /// Regions added or renamed.
    pub loaded: usize,
}

/// Loads or renames regions (admins): every row checked first, all or nothing.
#[utoipa::path(post, path = "/regions", tag = "regions", request_body = RegionsCsv,
    responses((status = 200, body = Loaded), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn load_regions(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiJson(r): ApiJson<RegionsCsv>,
) -> Result<Json<Loaded>, ApiError> {
    require_admin(&p)?;
    match regions::load_csv_text(&s.store, &r.csv, "csv", &p.username).await {
        Ok(loaded) => Ok(Json(Loaded { loaded })),
        Err(RegionError::Store(e)) => Err(e.into()),
        Err(RegionError::Invalid { problems, .. }) => {
            let mut e =
                ApiError::bad_request(format!("{} problem(s), nothing loaded", problems.len()));
            e.details = serde_json::json!({ "problems": problems });
            Err(e)
        }
        Err(other) => Err(ApiError::bad_request(other.to_string())),
    }
}

/// Walks the audit log's hash chain (admins and auditors).
#[utoipa::path(get, path = "/audit/verify", tag = "audit", responses((status = 200, body = Verification), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn verify(
    State(s): State<AppState>,
    Authed(p): Authed,
) -> Result<Json<Verification>, ApiError> {
    may_audit(p.role)?;
    Ok(Json(audit::verify(&s.store).await?))
}

/// Regions and audit routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(regions, load_regions))
        .routes(routes!(events))
        .routes(routes!(verify))
}
