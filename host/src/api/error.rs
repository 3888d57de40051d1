//! The API's one error type: `{"error": {"code", "message", "details"}}` with the right status.
//! 4xx say what was wrong; 5xx log the cause and say only that the server failed.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::auth::AuthError;
use crate::clues::ClueError;
use crate::registry::RegistryError;
use crate::runs::RunError;
use crate::store::StoreError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// What was wrong, for people.
    pub message: String,
    /// More, when there is more.
    pub details: serde_json::Value,
}

/// The body of every error answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// `bad_request`, `unauthenticated`, `forbidden`, `not_found`, `conflict`,
    /// `payload_too_large`, `unsupported_media_type`, `unprocessable`, `too_many_requests`,
    /// `internal`.
    pub code: String,
    /// For people.
    pub message: String,
    /// More, when there is more (null otherwise).
    #[schema(value_type = Option<Object>)]
    pub details: serde_json::Value,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: serde_json::Value::Null,
        }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 413: an upload over its limit.
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// 422: well-formed, but its content was refused (details say where).
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", message)
    }

    /// 409: not allowed in the current state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 500: the cause is logged, not shown.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!("request failed: {cause}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed; the cause is in its log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                details: self.details,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(&e)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::internal(&e)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthenticated => ApiError::unauthenticated(e.to_string()),
            AuthError::RateLimited(_) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                e.to_string(),
            ),
            AuthError::Forbidden(_) => ApiError::forbidden(e.to_string()),
            AuthError::Invalid(_) => ApiError::bad_request(e.to_string()),
            AuthError::NotFound(_) => ApiError::not_found(e.to_string()),
            AuthError::Conflict(_) => ApiError::conflict(e.to_string()),
            AuthError::Store(s) => s.into(),
        }
    }
}

impl From<ClueError> for ApiError {
    fn from(e: ClueError) -> Self {
        match e {
            ClueError::NotFound(_) => ApiError::not_found(e.to_string()),
            ClueError::Forbidden(_) => ApiError::forbidden(e.to_string()),
            ClueError::Refused(m) => ApiError::conflict(m),
            ClueError::Invalid(m) => ApiError::bad_request(m),
            ClueError::Store(s) => s.into(),
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::NotFound(_) => ApiError::not_found(e.to_string()),
            RegistryError::Forbidden(_) => ApiError::forbidden(e.to_string()),
            RegistryError::Conflict(_) => ApiError::conflict(e.to_string()),
            RegistryError::Store(s) => s.into(),
            other => ApiError::bad_request(other.to_string()),
        }
    }
}

impl From<RunError> for ApiError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::NotFound(_) => ApiError::not_found(e.to_string()),
            RunError::Conflict(_) | RunError::Quarantined { .. } | RunError::LeaseLost(_) => {
                ApiError::conflict(e.to_string())
            }
            RunError::Invalid(_) => ApiError::bad_request(e.to_string()),
            RunError::Registry(r) => r.into(),
            RunError::Store(s) => s.into(),
            other => ApiError::internal(&other),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        let status = e.status();
        let mut err = ApiError::bad_request(e.body_text());
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            err = ApiError::new(status, "payload_too_large", e.body_text());
        } else if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            err = ApiError::new(status, "unsupported_media_type", e.body_text());
        }
        err
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        ApiError::bad_request(e.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        ApiError::bad_request(e.body_text())
    }
}
