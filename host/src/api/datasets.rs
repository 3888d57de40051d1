//! Datasets and imports over HTTP: the catalogue (every role: authors write models against
//! it), a dataset's schema, defining a schema (admins), the import history (admins and
//! auditors), and uploading a file to import (admins). An upload is streamed to a private
//! directory under the platform's home, size-capped while it arrives, imported all or nothing
//! with the same validation as `supervise data import`, and removed afterwards whatever
//! happened; a refused file answers 422 with the problems by line, column and value.

use std::path::PathBuf;

use axum::Json;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Role;
use crate::auth::users::Principal;
use crate::datasets::catalog::{self, CatalogError, DatasetSummary, Defined, ImportRecord};
use crate::datasets::failures::{self, ImportFailure};
use crate::datasets::import::{self, Format, ImportError, ImportReport, ImportRequest, Mode};
use crate::datasets::schema::DatasetSchema;

use super::auth::Authed;
use super::error::{ApiError, ErrorBody};
use super::upload::{Scratch, drain, form, multipart_error, safe_name, save, text};
use super::{ApiJson, ApiPath, ApiQuery, AppState, require_admin};

/// The dataset catalogue.
#[utoipa::path(get, path = "/datasets", tag = "datasets",
    responses((status = 200, body = [DatasetSummary]), (status = 401, body = ErrorBody)))]
async fn list(
    State(s): State<AppState>,
    Authed(_p): Authed,
) -> Result<Json<Vec<DatasetSummary>>, ApiError> {
    Ok(Json(catalog::list(&s.store).await?))
}

/// A dataset's schema.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SchemaItem {
    /// Dataset.
    pub name: String,
    /// Schema version.
    pub version: i64,
    /// The schema: columns with their types, which holds the region, which are personal.
    #[schema(value_type = Object)]
    pub schema: serde_json::Value,
}

/// Which schema version.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VersionParams {
    /// The version (the current one by default).
    pub version: Option<i64>,
}

/// A dataset's schema (the current version, or the one asked for).
#[utoipa::path(get, path = "/datasets/{name}", tag = "datasets", params(("name" = String, Path, description = "Dataset"), VersionParams),
    responses((status = 200, body = SchemaItem), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn schema(
    State(s): State<AppState>,
    Authed(_p): Authed,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<VersionParams>,
) -> Result<Json<SchemaItem>, ApiError> {
    let (version, schema) = catalog::schema(&s.store, &name, q.version).await?;
    Ok(Json(SchemaItem {
        name,
        version,
        schema: serde_json::to_value(&schema).map_err(|e| ApiError::internal(&e))?,
    }))
}

/// A schema to define, as the TOML text `supervise data define` reads.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSchema {
    /// The schema file's text (see `schemas/` for the province's standard datasets).
    pub toml: String,
}

/// What defining did.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct DefinedItem {
    /// Dataset.
    pub name: String,
    /// Its schema version now.
    pub version: i64,
    /// `created`, `new_version` or `unchanged`.
    pub outcome: String,
}

/// Defines a dataset, or a new version of its schema (admins).
#[utoipa::path(post, path = "/datasets", tag = "datasets", request_body = NewSchema,
    responses((status = 200, body = DefinedItem), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn define(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiJson(n): ApiJson<NewSchema>,
) -> Result<Json<DefinedItem>, ApiError> {
    require_admin(&p)?;
    let schema = DatasetSchema::from_toml(&n.toml)
        .map_err(|e| ApiError::bad_request(format!("toml: {e}")))?;
    let (version, outcome) = match catalog::define(&s.store, &schema, &p.username).await? {
        Defined::Created(v) => (v, "created"),
        Defined::NewVersion(v) => (v, "new_version"),
        Defined::Unchanged(v) => (v, "unchanged"),
    };
    Ok(Json(DefinedItem {
        name: schema.name,
        version,
        outcome: outcome.into(),
    }))
}

/// Which imports.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// Only this dataset.
    pub dataset: Option<String>,
    /// At most this many, newest first (1 to 1000, default 50).
    pub limit: Option<i64>,
}

/// Who may read the import history, and the page size asked for.
fn history_limit(p: &Principal, q: &ImportParams) -> Result<i64, ApiError> {
    if !matches!(p.role, Role::Admin | Role::Auditor) {
        return Err(ApiError::forbidden(
            "only admins and auditors see the import history",
        ));
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be from 1 to 1000, not {limit}"
        )));
    }
    Ok(limit)
}

/// Imports, newest first (admins and auditors).
#[utoipa::path(get, path = "/imports", tag = "datasets", params(ImportParams),
    responses((status = 200, body = [ImportRecord]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn imports(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiQuery(q): ApiQuery<ImportParams>,
) -> Result<Json<Vec<ImportRecord>>, ApiError> {
    let limit = history_limit(&p, &q)?;
    Ok(Json(
        catalog::imports(&s.store, q.dataset.as_deref(), limit).await?,
    ))
}

/// Imports that failed, newest first, with their first problems (admins and auditors).
#[utoipa::path(get, path = "/imports/failures", tag = "datasets", params(ImportParams),
    responses((status = 200, body = [ImportFailure]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn import_failures(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiQuery(q): ApiQuery<ImportParams>,
) -> Result<Json<Vec<ImportFailure>>, ApiError> {
    let limit = history_limit(&p, &q)?;
    Ok(Json(
        failures::list(&s.store, q.dataset.as_deref(), limit).await?,
    ))
}

/// The form of an upload (`multipart/form-data`).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file: `.csv` (header row) or `.jsonl` (one object per line).
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// `append` (default) adds rows; `replace` supersedes earlier imports.
    pub mode: Option<String>,
    /// The schema version the file follows (the current one by default).
    pub schema_version: Option<i64>,
    /// `csv` or `jsonl`, when the file name does not tell.
    pub format: Option<String>,
}

/// An import's failure as an answer; messages name the uploaded file, never server paths.
fn import_error(e: ImportError, file: &str) -> ApiError {
    match e {
        ImportError::Invalid { errors, total, .. } => {
            let mut err =
                ApiError::unprocessable(format!("{file}: {total} problem(s), nothing imported"));
            err.details = serde_json::json!({ "total": total, "problems": errors });
            err
        }
        ImportError::File { reason, .. } => ApiError::bad_request(format!("{file}: {reason}")),
        ImportError::AlreadyImported { dataset, id, .. } => ApiError::conflict(format!(
            "{file} was already imported into `{dataset}` as import {id}; nothing imported"
        )),
        ImportError::Catalog(c) => c.into(),
        other => ApiError::internal(&other),
    }
}

/// Uploads a file and imports it into a dataset (admins): validated row by row, all or
/// nothing. 422 lists the first 100 problems by line, column and value.
#[utoipa::path(post, path = "/datasets/{name}/imports", tag = "datasets",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    params(("name" = String, Path, description = "Dataset")),
    responses((status = 201, body = ImportReport), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn upload(
    State(s): State<AppState>,
    Authed(p): Authed,
    ApiPath(name): ApiPath<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<ImportReport>), ApiError> {
    if let Err(e) = require_admin(&p) {
        drain(multipart).await;
        return Err(e);
    }
    let Some(imports) = s.imports.clone() else {
        return Err(ApiError::internal(
            &"this server was started without a pseudonym key and upload directory",
        ));
    };
    // Unknown datasets answer before a byte of the file is stored.
    catalog::schema(&s.store, &name, None).await?;
    let mut multipart = form(multipart)?;
    let scratch = Scratch::new(&imports.upload_dir)?;
    let mut request = ImportRequest::new(&name, PathBuf::new(), &p.username);
    let mut file_name = None;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name().unwrap_or("") {
            "file" if file_name.is_none() => {
                let safe = safe_name(field.file_name());
                request.path = scratch.path().join(&safe);
                save(&mut field, &request.path, imports.max_upload_bytes).await?;
                file_name = Some(safe);
            }
            "file" => return Err(ApiError::bad_request("one file per upload")),
            "mode" => {
                request.mode = match text(field).await?.as_str() {
                    "append" => Mode::Append,
                    "replace" => Mode::Replace,
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "mode `{other}`: use append or replace"
                        )));
                    }
                }
            }
            "schema_version" => {
                let v = text(field).await?;
                request.schema_version = Some(v.trim().parse().map_err(|_| {
                    ApiError::bad_request(format!("schema_version `{v}` is not a number"))
                })?);
            }
            "format" => {
                request.format = match text(field).await?.as_str() {
                    "csv" => Some(Format::Csv),
                    "jsonl" | "ndjson" => Some(Format::JsonLines),
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "format `{other}`: use csv or jsonl"
                        )));
                    }
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown form field `{other}` (file, mode, schema_version, format)"
                )));
            }
        }
    }
    let Some(file_name) = file_name else {
        return Err(ApiError::bad_request("the form has no `file` field"));
    };
    // The import reads and hashes the file synchronously: keep it off the async workers.
    let store = s.store.clone();
    let pseudo = imports.pseudonymizer.clone();
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::spawn_blocking(move || {
        handle.block_on(import::import(&store, &pseudo, &request))
    })
    .await
    .map_err(|e| ApiError::internal(&e))?;
    drop(scratch);
    let report = result.map_err(|e| import_error(e, &file_name))?;
    Ok((StatusCode::CREATED, Json(report)))
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::UnknownDataset(_) => ApiError::not_found(e.to_string()),
            CatalogError::UnknownVersion { .. } => ApiError::bad_request(e.to_string()),
            other => ApiError::internal(&other),
        }
    }
}

/// Dataset and import routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, define))
        .routes(routes!(schema))
        .routes(routes!(imports))
        .routes(routes!(import_failures))
        .merge(
            // Uploads have their own size limit, checked while the file streams in.
            OpenApiRouter::new()
                .routes(routes!(upload))
                .layer(DefaultBodyLimit::disable()),
        )
}
