//! The HTTP API under `/api/v1`: JSON in and out, authenticated by session cookie (with CSRF
//! token) or bearer token, every answer scoped to the caller's role and region. Each area has
//! its own router; the OpenAPI document is collected from the same route declarations, so it
//! cannot drift from what is served (`/api/v1/openapi.json`).

pub mod auth;
pub mod clues;
pub mod datasets;
pub mod error;
pub mod meta;
pub mod offices;
pub mod registry;
pub mod runs;
mod upload;
pub mod users;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::routing::get;
use serde::de::DeserializeOwned;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::sessions::LoginLimiter;
use crate::datasets::pseudonym::Pseudonymizer;
use crate::runtime::Runtime;
use crate::store::Store;

pub use error::ApiError;

/// Largest JSON body accepted.
pub const MAX_JSON_BYTES: usize = 1 << 20;

/// Largest uploaded import by default (larger files are imported on the server with
/// `supervise data import`).
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 1 << 30;

/// What uploads of imports need: the pseudonym key and a directory for files in transit.
#[derive(Clone)]
pub struct ImportSetup {
    /// Pseudonymises personal identifiers of uploaded rows.
    pub pseudonymizer: Arc<Pseudonymizer>,
    /// Where uploads wait while they are imported (each in its own directory, removed after).
    pub upload_dir: PathBuf,
    /// Largest upload accepted.
    pub max_upload_bytes: u64,
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// Failed logins per account.
    pub limiter: Arc<LoginLimiter>,
    /// Mark cookies `Secure` (when served over TLS).
    pub secure_cookies: bool,
    /// Uploads of imports; without it they answer 500 (a server set up for reading only).
    pub imports: Option<ImportSetup>,
    /// The sandbox, for reading a published component's manifest; without it publishing
    /// over HTTP answers 500.
    pub runtime: Option<Arc<Runtime>>,
}

impl AppState {
    /// State over a store, cookies not marked Secure (plain HTTP on an intranet host).
    pub fn new(store: Store) -> Self {
        AppState {
            store,
            limiter: Arc::new(LoginLimiter::default()),
            secure_cookies: false,
            imports: None,
            runtime: None,
        }
    }

    /// Accepts published components, inspected in `runtime`'s sandbox.
    pub fn with_runtime(mut self, runtime: Arc<Runtime>) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Accepts uploads of imports, pseudonymised with `pseudonymizer`, staged in `upload_dir`.
    pub fn with_imports(mut self, pseudonymizer: Pseudonymizer, upload_dir: PathBuf) -> Self {
        self.imports = Some(ImportSetup {
            pseudonymizer: Arc::new(pseudonymizer),
            upload_dir,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
        });
        self
    }
}

/// Refuses anyone but a provincial admin (403).
pub(crate) fn require_admin(p: &crate::auth::Principal) -> Result<(), ApiError> {
    if p.role != crate::auth::Role::Admin {
        return Err(ApiError::forbidden("only provincial admins do this"));
    }
    Ok(())
}

/// A JSON body; malformed or unknown fields answer 400 in the API's error format.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(v) = axum::Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(v))
    }
}

/// Query parameters; malformed ones answer 400 in the API's error format.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Query(v) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(v))
    }
}

/// A path parameter; malformed ones answer 400 in the API's error format.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(v) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(ApiPath(v))
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Supervise API",
        description = "Digital supervision models: runs, clues and triage, scoped by role and region."
    ),
    components(schemas(error::ErrorBody))
)]
struct Doc;

fn routers() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(Doc::openapi())
        .merge(auth::router())
        .merge(clues::router())
        .merge(clues::suggestion_router())
        .merge(runs::router())
        .merge(runs::action_router())
        .merge(meta::router())
        .merge(registry::router())
        .merge(offices::router())
        .merge(datasets::router())
        .merge(users::router())
}

/// The error answers every operation can give besides its own: 400 (malformed input), 401
/// (no or bad credentials; not for logging in), 500; with a body, 404 (a named thing missing
/// or not yours), 413 and 415; with path parameters, 404.
fn document_common_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = |what: &str| {
        ResponseBuilder::new()
            .description(what)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let has_params = path.contains('{');
        let ops = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in ops.into_iter().flatten() {
            let has_body = op.request_body.is_some();
            let login = path == "/session" && has_body;
            let mut codes = vec![("400", "malformed input"), ("500", "the server failed")];
            if !login {
                codes.push(("401", "no or bad credentials"));
            }
            if has_body || has_params {
                codes.push(("404", "not found, or not in the caller's region"));
            }
            if has_body {
                codes.push(("413", "body too large"));
                codes.push(("415", "body is not application/json"));
            }
            for (code, what) in codes {
                op.responses
                    .responses
                    .entry(code.to_string())
                    .or_insert_with(|| error(what).into());
            }
        }
    }
}

/// The OpenAPI document of `/api/v1`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = routers().split_for_parts();
    doc.servers = Some(vec![utoipa::openapi::Server::new("/api/v1")]);
    document_common_errors(&mut doc);
    doc
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such API route (see /api/v1/openapi.json)")
}

/// The API as a router with its state: `/api/v1/…`, the OpenAPI document, a JSON 404.
pub fn app(state: AppState) -> Router {
    let (api, _) = routers().split_for_parts();
    let doc = serde_json::to_value(openapi()).unwrap_or_default();
    let api = api
        .route(
            "/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc) }
            }),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        .with_state(state);
    Router::new().nest("/api/v1", api).fallback(not_found)
}
