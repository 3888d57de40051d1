//! The model registry over HTTP: the catalogue of versions and enablements (authors see their
//! office's models; everyone else the province's shared catalogue), and the admins' actions:
//! approve or reject, deprecate, enable for regions, upgrade, roll back, disable. Publishing
//! takes a component signed on the author's machine: the office's private key never travels.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Role;
use crate::registry::VersionRef;
use crate::registry::enable::{self, EnableRequest, Enablement};
use crate::registry::keys;
use crate::registry::publish::{self, Published, Submission};
use crate::registry::review::{self, VersionRecord};

use super::auth::Authed;
use super::error::{ApiError, ErrorBody};
use super::upload::{form, multipart_error, read, text};
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

/// What a reviewing admin sees: the version, and how its data scope changed.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ReviewSheet {
    /// The version.
    pub version: VersionItem,
    /// The version before it, if any.
    pub previous: Option<String>,
    /// `dataset.column` entries it reads that the previous version did not.
    pub scope_added: Vec<String>,
    /// Entries the previous version read that it no longer does.
    pub scope_removed: Vec<String>,
}

/// One version's review sheet (authors: their office's versions only).
#[utoipa::path(get, path = "/versions/{model}/{version}", tag = "registry",
    params(("model" = String, Path, description = "Model id"), ("version" = String, Path, description = "Version")),
    responses((status = 200, body = ReviewSheet), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn sheet(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiPath((model, version)): ApiPath<(String, String)>,
) -> Result<Json<ReviewSheet>, ApiError> {
    let v: VersionRef = format!("{model}@{version}").parse()?;
    let r = review::review(&s.store, &v).await?;
    if p.role == Role::Author && r.version.office != p.office {
        return Err(ApiError::not_found(format!("{v} not found")));
    }
    Ok(Json(ReviewSheet {
        version: r.version.into(),
        previous: r.previous,
        scope_added: r.scope_added,
        scope_removed: r.scope_removed,
    }))
}

/// Why a version is deprecated.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Deprecation {
    /// Why.
    pub reason: String,
}

/// Deprecates a version so it can no longer be enabled (admins).
#[utoipa::path(post, path = "/versions/{model}/{version}/deprecation", tag = "registry", request_body = Deprecation,
    params(("model" = String, Path, description = "Model id"), ("version" = String, Path, description = "Version")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn deprecate(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiPath((model, version)): ApiPath<(String, String)>,
    ApiJson(d): ApiJson<Deprecation>,
) -> Result<StatusCode, ApiError> {
    require_admin(&p)?;
    let v: VersionRef = format!("{model}@{version}").parse()?;
    review::deprecate(&s.store, &p.actor(), &v, &d.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Largest component accepted.
const MAX_COMPONENT_BYTES: usize = 64 << 20;

/// The form of a publish (`multipart/form-data`): the component and its signature, made on
/// the author's machine with the office key (`supervise keys sign COMPONENT --key KEY`), so
/// that the private key never reaches the server.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct PublishForm {
    /// The component (`.wasm`).
    #[schema(value_type = String, format = Binary)]
    pub component: Vec<u8>,
    /// The ed25519 signature of the component's sha256: 128 hex digits.
    pub signature: String,
    /// The signer's public key: 64 hex digits (registered to the publishing office).
    pub public_key: String,
}

/// Publishes a signed component for review (authors for their office, admins for the
/// province's). The signature, the key's office and the component's contract are checked
/// as on the command line; 201 for a new version, 200 for bytes published before.
#[utoipa::path(post, path = "/versions", tag = "registry",
    request_body(content = PublishForm, content_type = "multipart/form-data"),
    responses((status = 201, body = Published), (status = 200, body = Published), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
async fn publish_version(
    State(s): State<AppState>,
    Authed(p): Authed,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    if !matches!(p.role, Role::Author | Role::Admin) {
        return Err(ApiError::forbidden(
            "only authors and admins publish models",
        ));
    }
    let mut multipart = form(multipart)?;
    let (mut component, mut signature, mut public_key) = (None, None, None);
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name().unwrap_or("") {
            "component" => component = Some(read(&mut field, MAX_COMPONENT_BYTES).await?),
            "signature" => signature = Some(text(field).await?),
            "public_key" => public_key = Some(text(field).await?),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown form field `{other}` (component, signature, public_key)"
                )));
            }
        }
    }
    let missing = |what: &str| ApiError::bad_request(format!("the form has no `{what}` field"));
    let bytes = component.ok_or_else(|| missing("component"))?;
    let signature: [u8; 64] = hex::decode(signature.ok_or_else(|| missing("signature"))?.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ApiError::bad_request("signature must be 128 hex digits"))?;
    let public_key = keys::parse_public_key(&public_key.ok_or_else(|| missing("public_key"))?)
        .map_err(|e| ApiError::bad_request(format!("public_key {e}")))?;
    let Some(runtime) = s.runtime.clone() else {
        return Err(ApiError::internal(
            &"this server was started without a sandbox",
        ));
    };
    // Reading the manifest compiles the component: keep it off the async workers.
    let (store, actor) = (s.store.clone(), p.actor());
    let handle = tokio::runtime::Handle::current();
    let published = tokio::task::spawn_blocking(move || {
        let sub = Submission {
            bytes: &bytes,
            signature,
            public_key,
        };
        handle.block_on(publish::publish(&store, &runtime, &actor, &sub))
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    let status = match published {
        Published::Submitted { .. } => StatusCode::CREATED,
        Published::Unchanged { .. } => StatusCode::OK,
    };
    Ok((status, Json(published)))
}

/// Registry routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sheet))
        .routes(routes!(deprecate))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(publish_version))
                .layer(DefaultBodyLimit::max(MAX_COMPONENT_BYTES + (64 << 10))),
        )
        .routes(routes!(versions))
        .routes(routes!(decide))
        .routes(routes!(enablements, create))
        .routes(routes!(change))
}
