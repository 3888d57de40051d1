//! Offices and their signing keys over HTTP. Everyone sees the offices of their own region's
//! line (above and below it); provincial admins add offices and register or revoke keys;
//! keys are listed to admins and auditors, and to an author for their own office.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Role;
use crate::datasets::region;
use crate::registry::Office;
use crate::registry::keys::{self, KeyInfo};

use super::auth::Authed;
use super::error::{ApiError, ErrorBody};
use super::{ApiJson, ApiPath, AppState, require_admin};

/// Offices in the caller's line: their region's, those under it and those above it.
#[utoipa::path(get, path = "/offices", tag = "offices",
    responses((status = 200, body = [Office]), (status = 401, body = ErrorBody)))]
async fn list(State(s): State<AppState>, Authed(p): Authed) -> Result<Json<Vec<Office>>, ApiError> {
    Ok(Json(
        keys::offices(&s.store)
            .await?
            .into_iter()
            .filter(|o| {
                region::covers(&p.region, &o.region) || region::covers(&o.region, &p.region)
            })
            .collect(),
    ))
}

/// Adds an office bound to a region (admins).
#[utoipa::path(post, path = "/offices", tag = "offices", request_body = Office,
    responses((status = 201, body = Office), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn add(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiJson(o): ApiJson<Office>,
) -> Result<(StatusCode, Json<Office>), ApiError> {
    require_admin(&p)?;
    keys::add_office(&s.store, &p.actor(), &o).await?;
    Ok((StatusCode::CREATED, Json(o)))
}

/// Registered keys: all of them for admins and auditors, their office's for authors.
#[utoipa::path(get, path = "/keys", tag = "offices",
    responses((status = 200, body = [KeyInfo]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn keys_list(
    State(s): State<AppState>,
    Authed(p): Authed,
) -> Result<Json<Vec<KeyInfo>>, ApiError> {
    if p.role == Role::Reviewer {
        return Err(ApiError::forbidden(
            "reviewers have no use for signing keys",
        ));
    }
    Ok(Json(
        keys::list(&s.store)
            .await?
            .into_iter()
            .filter(|k| p.role != Role::Author || k.office == p.office)
            .collect(),
    ))
}

/// A public key to register for an office.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// The office the key signs for.
    pub office: String,
    /// The ed25519 public key: 64 hex digits (the `.pub` file `supervise keys new` writes).
    pub public_key: String,
}

/// Registers an office's public key (admins); answers the key as listed.
#[utoipa::path(post, path = "/keys", tag = "offices", request_body = NewKey,
    responses((status = 201, body = KeyInfo), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn register(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiJson(k): ApiJson<NewKey>,
) -> Result<(StatusCode, Json<KeyInfo>), ApiError> {
    require_admin(&p)?;
    let key = keys::parse_public_key(&k.public_key)
        .map_err(|reason| ApiError::bad_request(format!("public_key {reason}")))?;
    let fingerprint = keys::register(&s.store, &p.actor(), &k.office, &key).await?;
    Ok((
        StatusCode::CREATED,
        Json(KeyInfo {
            fingerprint,
            office: k.office,
            status: "active".into(),
        }),
    ))
}

/// Why a key is revoked.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    /// Why.
    pub reason: String,
}

/// Revokes a key (admins): later publishes signed with it fail.
#[utoipa::path(post, path = "/keys/{fingerprint}/revocation", tag = "offices", request_body = Revocation,
    params(("fingerprint" = String, Path, description = "Key fingerprint")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn revoke(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiPath(fingerprint): ApiPath<String>,
    ApiJson(r): ApiJson<Revocation>,
) -> Result<StatusCode, ApiError> {
    require_admin(&p)?;
    keys::revoke(&s.store, &p.actor(), &fingerprint, &r.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Office and key routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(keys_list, register))
        .routes(routes!(revoke))
}
