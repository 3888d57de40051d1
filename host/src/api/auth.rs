//! Who is asking: a bearer API token (`Authorization: Bearer svt_…`) or a dashboard session
//! cookie; with a cookie, every request that changes something must also carry the session's
//! CSRF token in `X-CSRF-Token`. Also the session endpoints: log in, log out, who am I.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::users::Principal;
use crate::auth::{sessions, tokens};

use super::error::{ApiError, ErrorBody};
use super::{ApiJson, AppState};

/// The session cookie's name.
pub const COOKIE: &str = "supervise_session";

/// An authenticated request.
#[derive(Debug, Clone)]
pub struct Authed(pub Principal);

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == COOKIE).then(|| v.to_string())
        })
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(v) = parts.headers.get(header::AUTHORIZATION) {
            let token = v
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    ApiError::unauthenticated("the Authorization header must be `Bearer <token>`")
                })?;
            return Ok(Authed(
                tokens::authenticate(&state.store, token.trim()).await?,
            ));
        }
        let Some(secret) = cookie(&parts.headers) else {
            return Err(ApiError::unauthenticated(
                "log in (POST /api/v1/session) or send an API token",
            ));
        };
        let (p, csrf) = sessions::authenticate(&state.store, &secret).await?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe
            && parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                != Some(csrf.as_str())
        {
            return Err(ApiError::forbidden(
                "missing or wrong X-CSRF-Token header for a session request",
            ));
        }
        Ok(Authed(p))
    }
}

/// A login.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// Who is logged in, and the CSRF token to send back.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The user.
    pub user: Principal,
    /// The session's CSRF token (only in the answer to a login).
    pub csrf: Option<String>,
}

/// Log in: sets the session cookie and returns the CSRF token.
#[utoipa::path(post, path = "/session", tag = "session", request_body = Login,
    responses((status = 200, body = Me), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login(State(s): State<AppState>, body: ApiJson<Login>) -> Result<Response, ApiError> {
    let ApiJson(l) = body;
    let session = sessions::login(&s.store, &s.limiter, &l.username, &l.password).await?;
    let secure = if s.secure_cookies { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        session.secret,
        sessions::SESSION_MS / 1000
    );
    let value = HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal(&e))?;
    let me = Me {
        user: session.principal,
        csrf: Some(session.csrf),
    };
    Ok(([(header::SET_COOKIE, value)], Json(me)).into_response())
}

/// Log out: ends the session and clears the cookie.
#[utoipa::path(delete, path = "/session", tag = "session",
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn logout(
    State(s): State<AppState>,
    _who: Authed,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(secret) = cookie(&headers) {
        sessions::logout(&s.store, &secret).await?;
    }
    let clear = HeaderValue::from_static(
        "supervise_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
    );
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}

/// The user behind this request.
#[utoipa::path(get, path = "/me", tag = "session", responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn me(Authed(p): Authed) -> Json<Me> {
    Json(Me {
        user: p,
        csrf: None,
    })
}

/// A language choice.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocaleChoice {
    /// `zh-CN` (the default) or `en`.
    pub locale: String,
}

/// Sets the caller's dashboard language.
#[utoipa::path(put, path = "/me/locale", tag = "session", request_body = LocaleChoice,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn set_locale(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiJson(c): ApiJson<LocaleChoice>,
) -> Result<StatusCode, ApiError> {
    crate::auth::users::set_locale(&s.store, &p, &c.locale).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The session routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login, logout))
        .routes(routes!(me))
        .routes(routes!(set_locale))
}
