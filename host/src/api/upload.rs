//! Multipart uploads: the form itself, files streamed to a private scratch directory (removed
//! with it) or read into memory, each under a size limit checked while the bytes arrive.

use std::path::{Path, PathBuf};

use axum::extract::multipart::{Field, Multipart, MultipartRejection};
use tokio::io::AsyncWriteExt;

use super::error::ApiError;

/// The form, or a 400 that says how to send one.
pub(super) fn form(m: Result<Multipart, MultipartRejection>) -> Result<Multipart, ApiError> {
    m.map_err(|e| {
        ApiError::bad_request(format!(
            "send the file as multipart/form-data: {}",
            e.body_text()
        ))
    })
}

/// A private directory for one upload, removed when dropped (after the import, or on any
/// failure), so that no uploaded personal data stays on disk.
pub(super) struct Scratch(PathBuf);

impl Scratch {
    /// A new directory under `parent`.
    pub(super) fn new(parent: &Path) -> Result<Scratch, ApiError> {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b).map_err(|e| ApiError::internal(&e))?;
        let dir = parent.join(format!("upload-{}", hex::encode(b)));
        // The owner's alone, as the file in it: an upload is personal data in the clear.
        crate::store::files::make_dir(&dir).map_err(|e| ApiError::internal(&e))?;
        Ok(Scratch(dir))
    }

    /// The directory.
    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!("cannot remove upload directory {}: {e}", self.0.display());
        }
    }
}

/// The uploaded file's name with anything but letters, digits, `.`, `-` and `_` replaced, so
/// that it names a file inside the scratch directory and nothing else.
pub(super) fn safe_name(given: Option<&str>) -> String {
    let base = given.unwrap_or("").rsplit(['/', '\\']).next().unwrap_or("");
    let name: String = base
        .chars()
        .take(120)
        .map(|c| {
            if c.is_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    match name.trim_start_matches('.') {
        "" => "upload".to_string(),
        n => n.to_string(),
    }
}

/// A new file at `path`, the owner's alone.
async fn private_file(path: &Path) -> std::io::Result<tokio::fs::File> {
    tokio::fs::OpenOptions::from(crate::store::files::private_writer())
        .create_new(true)
        .open(path)
        .await
}

/// Streams a field to `path`, refusing it past `max` bytes (413).
pub(super) async fn save(field: &mut Field<'_>, path: &Path, max: u64) -> Result<u64, ApiError> {
    let mut out = private_file(path)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let mut n = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        n += chunk.len() as u64;
        if n > max {
            return Err(ApiError::payload_too_large(format!(
                "the file is larger than the upload limit of {max} bytes"
            )));
        }
        out.write_all(&chunk)
            .await
            .map_err(|e| ApiError::internal(&e))?;
    }
    out.flush().await.map_err(|e| ApiError::internal(&e))?;
    Ok(n)
}

/// A malformed form as a 400.
pub(super) fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::bad_request(format!("malformed multipart body: {}", e.body_text()))
}

/// What a rejected upload is read of before the answer: enough for a small file, so that a
/// client still sending it reads the answer instead of finding the connection closed.
const DRAIN_BYTES: usize = 1 << 20;

/// Reads and discards up to [`DRAIN_BYTES`] of an upload rejected before its file was read.
pub(super) async fn drain(multipart: Result<Multipart, MultipartRejection>) {
    let Ok(mut multipart) = multipart else {
        return;
    };
    let mut left = DRAIN_BYTES;
    while let Ok(Some(mut field)) = multipart.next_field().await {
        while let Ok(Some(chunk)) = field.chunk().await {
            left = left.saturating_sub(chunk.len());
            if left == 0 {
                return;
            }
        }
    }
}

/// A text field.
pub(super) async fn text(field: Field<'_>) -> Result<String, ApiError> {
    field.text().await.map_err(multipart_error)
}

/// Reads a field into memory, refusing it past `max` bytes (413).
pub(super) async fn read(field: &mut Field<'_>, max: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if out.len() + chunk.len() > max {
            return Err(ApiError::payload_too_large(format!(
                "the file is larger than the limit of {max} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(unix)]
    use crate::store::files::mode_of;

    #[cfg(unix)]
    #[tokio::test]
    async fn an_upload_waits_where_only_the_server_can_read_it() {
        let root = tempfile::tempdir().expect("dir");
        let uploads = root.path().join("uploads");
        let scratch = Scratch::new(&uploads).expect("scratch");
        assert_eq!(
            (mode_of(&uploads), mode_of(scratch.path())),
            (Some(0o700), Some(0o700))
        );
        let file = scratch.path().join("a.csv");
        private_file(&file).await.expect("file");
        assert_eq!(mode_of(&file), Some(0o600));
        assert!(private_file(&file).await.is_err(), "never an existing file");
        let dir = scratch.path().to_path_buf();
        drop(scratch);
        assert!(!dir.exists(), "removed with its file");
    }
}
