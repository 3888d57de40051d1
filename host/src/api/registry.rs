//! The model registry over HTTP: the catalogue of versions and enablements (authors see their
//! office's models; everyone else the province's shared catalogue), and the admins' actions:
//! approve or reject, enable for regions, upgrade, roll back, disable. Publishing stays on the
//! command line, where the office's signing key is.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Role;
use crate::registry::VersionRef;
use crate::registry::enable::{self, EnableRequest, Enablement};
use crate::registry::review::{self, VersionRecord};

use super::auth::Authed;
use super::error::{ApiError, ErrorBody};
use super::{ApiJson, ApiPath, ApiQuery, AppState, require_admin};

/// A published version.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct VersionItem {
    /// Registry id.
    pub id: i64,
    /// Model id.
    pub model: String,
    /// Version.
    pub version: String,
    /// sha256 of the component.
    pub sha256: String,
    /// Publishing office.
    pub office: String,
    /// submitted, approved, rejected, deprecated.
    pub status: String,
    /// Who submitted it.
    pub submitted_by: String,
    /// Who reviewed it.
    pub reviewed_by: Option<String>,
    /// Why.
    pub review_reason: Option<String>,
    /// The manifest: datasets and columns it reads, parameters, clue kinds.
    #[schema(value_type = Object)]
    pub manifest: serde_json::Value,
}

impl From<VersionRecord> for VersionItem {
    fn from(v: VersionRecord) -> Self {
        let manifest = serde_json::to_value(&v.manifest).unwrap_or_default();
        let (reviewed_by, review_reason) =
            v.review.map_or((None, None), |(a, b)| (Some(a), Some(b)));
        VersionItem {
            id: v.id,
            model: v.model,
            version: v.version,
            sha256: v.sha256,
            office: v.office,
            status: v.status,
            submitted_by: v.submitted_by,
            reviewed_by,
            review_reason,
            manifest,
        }
    }
}

/// Which versions.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ModelParams {
    /// Only this model.
    pub model: Option<String>,
}

/// Published versions (authors: their office's).
#[utoipa::path(get, path = "/versions", tag = "registry", params(ModelParams),
    responses((status = 200, body = [VersionItem]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn versions(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiQuery(q): ApiQuery<ModelParams>,
) -> Result<Json<Vec<VersionItem>>, ApiError> {
    let all = review::list(&s.store, q.model.as_deref()).await?;
    Ok(Json(
        all.into_iter()
            .filter(|v| p.role != Role::Author || v.office == p.office)
            .map(VersionItem::from)
            .collect(),
    ))
}

/// An approval or rejection.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Approve (true) or reject (false).
    pub approve: bool,
    /// Why.
    pub reason: String,
}

/// Approves or rejects a submitted version (admins; never their own office's model).
#[utoipa::path(post, path = "/versions/{model}/{version}/decision", tag = "registry", request_body = Decision,
    params(("model" = String, Path, description = "Model id"), ("version" = String, Path, description = "Version")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn decide(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiPath((model, version)): ApiPath<(String, String)>,
    ApiJson(d): ApiJson<Decision>,
) -> Result<StatusCode, ApiError> {
    require_admin(&p)?;
    let v: VersionRef = format!("{model}@{version}").parse()?;
    review::decide(&s.store, &p.actor(), &v, d.approve, &d.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An enablement.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct EnablementItem {
    /// Id.
    pub id: i64,
    /// Model id.
    pub model: String,
    /// Version it runs.
    pub version: String,
    /// Regions.
    pub regions: Vec<String>,
    /// Parameter values.
    pub params: BTreeMap<String, String>,
    /// Cron schedule.
    pub schedule: Option<String>,
    /// Approved `dataset.column` entries.
    pub scope: Vec<String>,
    /// enabled or disabled.
    pub status: String,
}

impl From<Enablement> for EnablementItem {
    fn from(e: Enablement) -> Self {
        EnablementItem {
            id: e.id,
            model: e.model,
            version: e.version,
            regions: e.regions,
            params: e.params,
            schedule: e.schedule,
            scope: e.scope,
            status: e.status,
        }
    }
}

/// Enablements (of one model or all).
#[utoipa::path(get, path = "/enablements", tag = "registry", params(ModelParams),
    responses((status = 200, body = [EnablementItem]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn enablements(
    State(s): State<AppState>,
    Authed(_p): Authed,
    ApiQuery(q): ApiQuery<ModelParams>,
) -> Result<Json<Vec<EnablementItem>>, ApiError> {
    Ok(Json(
        enable::list(&s.store, q.model.as_deref())
            .await?
            .into_iter()
            .map(EnablementItem::from)
            .collect(),
    ))
}

/// Turning a version on for regions.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEnablement {
    /// `model@version`, approved.
    pub version: String,
    /// Region codes.
    pub regions: Vec<String>,
    /// Parameter values as text.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Cron schedule.
    pub schedule: Option<String>,
    /// Approved `dataset.column` entries when narrower than requested.
    pub scope: Option<Vec<String>>,
    /// Why.
    pub reason: String,
}

/// The new enablement's id.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Created {
    /// Id.
    pub id: i64,
}

/// Enables an approved version for regions (admins).
#[utoipa::path(post, path = "/enablements", tag = "registry", request_body = NewEnablement,
    responses((status = 201, body = Created), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiJson(n): ApiJson<NewEnablement>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    require_admin(&p)?;
    let req = EnableRequest {
        version: n.version.parse()?,
        regions: n.regions,
        params: n.params.into_iter().collect(),
        schedule: n.schedule,
        scope: n.scope,
        reason: n.reason,
    };
    let id = enable::enable(&s.store, &p.actor(), &req).await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

/// A change to an enablement.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// upgrade, rollback or disable.
    pub action: String,
    /// The version to upgrade to.
    pub to: Option<String>,
    /// Why.
    pub reason: String,
}

/// Upgrades, rolls back or disables an enablement (admins).
#[utoipa::path(post, path = "/enablements/{id}/changes", tag = "registry", request_body = Change, params(("id" = i64, Path, description = "Enablement id")),
    responses((status = 200, body = EnablementItem), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn change(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiPath(id): ApiPath<i64>,
    ApiJson(c): ApiJson<Change>,
) -> Result<Json<EnablementItem>, ApiError> {
    require_admin(&p)?;
    let who = p.actor();
    match c.action.as_str() {
        "upgrade" => {
            let to =
                c.to.as_deref()
                    .ok_or_else(|| ApiError::bad_request("upgrade needs `to`: the version"))?;
            enable::upgrade(&s.store, &who, id, to, &c.reason).await?
        }
        "rollback" => enable::rollback(&s.store, &who, id, &c.reason).await?,
        "disable" => enable::disable(&s.store, &who, id, &c.reason).await?,
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown change `{other}` (one of: upgrade, rollback, disable)"
            )));
        }
    }
    Ok(Json(enable::get(&s.store, id).await?.into()))
}

/// Registry routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(versions))
        .routes(routes!(decide))
        .routes(routes!(enablements, create))
        .routes(routes!(change))
}
