//! Users and API tokens over HTTP. Admins list, add and disable users (auditors may list);
//! everyone lists, makes and revokes their own tokens (admins also for others). A token's
//! secret is in the answer that creates it and never again.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Role;
use crate::auth::tokens::{self, TokenInfo};
use crate::auth::users::{self, NewUser, UserInfo};

use super::auth::Authed;
use super::error::{ApiError, ErrorBody};
use super::{ApiJson, ApiPath, AppState, require_admin};

/// Every user (admins and auditors).
#[utoipa::path(get, path = "/users", tag = "users",
    responses((status = 200, body = [UserInfo]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list(
    State(s): State<AppState>,
    Authed(p): Authed,
) -> Result<Json<Vec<UserInfo>>, ApiError> {
    if !matches!(p.role, Role::Admin | Role::Auditor) {
        return Err(ApiError::forbidden("only admins and auditors list users"));
    }
    Ok(Json(users::list(&s.store).await?))
}

/// A user to add.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    /// 2 to 64 of `a-z 0-9 . _ @ -`.
    pub username: String,
    /// At least 12 characters.
    pub password: String,
    /// author, admin, reviewer or auditor.
    pub role: Role,
    /// The office they act for (admins and auditors: a provincial office).
    pub office: String,
}

/// Adds a user (admins).
#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUserRequest,
    responses((status = 201, body = UserInfo), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn add(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiJson(n): ApiJson<NewUserRequest>,
) -> Result<(StatusCode, Json<UserInfo>), ApiError> {
    require_admin(&p)?;
    let new = NewUser {
        username: n.username,
        password: n.password,
        role: n.role,
        office: n.office,
    };
    users::create(&s.store, Some(&p), &new).await?;
    Ok((
        StatusCode::CREATED,
        Json(UserInfo {
            username: new.username,
            role: new.role.as_str().to_string(),
            office: new.office,
            status: "active".into(),
        }),
    ))
}

/// Why a user is disabled.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Disable {
    /// Why.
    pub reason: String,
}

/// Disables a user (admins): their sessions end and their tokens stop working.
#[utoipa::path(post, path = "/users/{username}/disable", tag = "users", request_body = Disable,
    params(("username" = String, Path, description = "User name")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn disable(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiPath(username): ApiPath<String>,
    ApiJson(d): ApiJson<Disable>,
) -> Result<StatusCode, ApiError> {
    require_admin(&p)?;
    users::disable(&s.store, &p, &username, &d.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Your tokens (admins: everyone's).
#[utoipa::path(get, path = "/tokens", tag = "users",
    responses((status = 200, body = [TokenInfo]), (status = 401, body = ErrorBody)))]
async fn tokens_list(
    State(s): State<AppState>,
    Authed(p): Authed,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    Ok(Json(tokens::list(&s.store, &p).await?))
}

/// A token to make.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What it is for, e.g. `nightly export`.
    pub name: String,
    /// Days it lives, 1 to 365 (90 by default).
    pub days: Option<i64>,
    /// Another user's name (admins only).
    pub for_user: Option<String>,
}

/// A new token: the secret is shown this once.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// Token id (to list or revoke it).
    pub id: i64,
    /// The secret to send as `Authorization: Bearer …`.
    pub token: String,
}

/// Makes an API token (for yourself; admins also for others).
#[utoipa::path(post, path = "/tokens", tag = "users", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn create(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiJson(n): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let days = n.days.unwrap_or(tokens::DEFAULT_DAYS);
    let (id, token) = tokens::create(&s.store, &p, n.for_user.as_deref(), &n.name, days).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { id, token })))
}

/// Revokes a token (its owner, or an admin).
#[utoipa::path(delete, path = "/tokens/{id}", tag = "users",
    params(("id" = i64, Path, description = "Token id")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    tokens::revoke(&s.store, &p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// User and token routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(disable))
        .routes(routes!(tokens_list, create))
        .routes(routes!(revoke))
}
