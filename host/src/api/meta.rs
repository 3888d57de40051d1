//! Regions and the audit trail's check.

use axum::Json;
use axum::extract::State;
use sqlx::Row;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Role;
use crate::datasets::region;
use crate::store::audit::{self, Verification};

use super::AppState;
use super::auth::Authed;
use super::error::{ApiError, ErrorBody};

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

/// Walks the audit log's hash chain (admins and auditors).
#[utoipa::path(get, path = "/audit/verify", tag = "audit", responses((status = 200, body = Verification), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn verify(
    State(s): State<AppState>,
    Authed(p): Authed,
) -> Result<Json<Verification>, ApiError> {
    if !matches!(p.role, Role::Admin | Role::Auditor) {
        return Err(ApiError::forbidden(
            "only admins and auditors check the audit trail",
        ));
    }
    Ok(Json(audit::verify(&s.store).await?))
}

/// Regions and audit routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(regions))
        .routes(routes!(verify))
}
