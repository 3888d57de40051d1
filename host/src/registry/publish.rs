//! Publishing: a component signed by a registered office key is verified, checked against
//! the contract versions this host binds, described in the sandbox and stored by content hash
//! with status `submitted`.

use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::runtime::{Manifest, Runtime, SUPPORTED_WIT_VERSIONS};
use crate::store::{Store, audit, now_ms};

use super::keys::fingerprint;
use super::{Actor, RegistryError, VersionRef};

/// What a publish did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Published {
    /// A new version, now awaiting review.
    Submitted {
        /// Registry id of the version.
        id: i64,
        /// `model@version`.
        version: String,
    },
    /// These exact bytes were published before: nothing changed.
    Unchanged {
        /// Registry id of the version.
        id: i64,
        /// `model@version`.
        version: String,
    },
}

impl Published {
    /// `model@version`, new or published before.
    pub fn version(&self) -> &str {
        match self {
            Published::Submitted { version, .. } | Published::Unchanged { version, .. } => version,
        }
    }
}

/// A signed component to publish.
pub struct Submission<'a> {
    /// The component bytes.
    pub bytes: &'a [u8],
    /// ed25519 signature of the bytes' sha256.
    pub signature: [u8; 64],
    /// The signer's public key.
    pub public_key: VerifyingKey,
}

/// Verifies and stores a component. Rejections: unknown or revoked key, a signature that does
/// not match the bytes (tampered), a component the sandbox refuses (not a component, wrong
/// contract version, malformed manifest), a model id owned by another office, an author office
/// that is not the signer's, a version not above the latest, other bytes under an existing
/// version.
pub async fn publish(
    store: &Store,
    runtime: &Runtime,
    actor: &Actor,
    sub: &Submission<'_>,
) -> Result<Published, RegistryError> {
    let sha = hex::encode(Sha256::digest(sub.bytes));
    let fp = fingerprint(&sub.public_key);
    let key = sqlx::query("SELECT office, status FROM office_keys WHERE public_key = $1")
        .bind(hex::encode(sub.public_key.as_bytes()))
        .fetch_optional(store.pool())
        .await?
        .ok_or_else(|| {
            RegistryError::Signature(format!("key {fp} is not registered to any office"))
        })?;
    let (office, status): (String, String) = (key.try_get(0)?, key.try_get(1)?);
    if status != "active" {
        return Err(RegistryError::Signature(format!(
            "key {fp} of office `{office}` was revoked"
        )));
    }
    sub.public_key
        .verify_strict(&Sha256::digest(sub.bytes), &Signature::from_bytes(&sub.signature))
        .map_err(|_| RegistryError::Signature("the component does not match its signature (altered after signing, or signed with another key)".into()))?;

    let model = runtime.load(sub.bytes)?;
    let m: &Manifest = &model.manifest;
    if !m.author_office.is_empty() && m.author_office != office {
        return Err(RegistryError::Forbidden(format!(
            "the manifest names author office `{}` but the key belongs to office `{office}`",
            m.author_office
        )));
    }
    let vref = VersionRef {
        model: m.id.clone(),
        version: m.version.clone(),
    };
    let new_version =
        semver::Version::parse(&m.version).map_err(|e| RegistryError::Invalid(e.to_string()))?;

    let mut tx = store.begin().await?;
    let existing =
        sqlx::query("SELECT id, version, sha256, office FROM model_versions WHERE model_id = $1")
            .bind(&m.id)
            .fetch_all(&mut *tx)
            .await?;
    let mut latest: Option<semver::Version> = None;
    for r in &existing {
        let (id, version, their_sha, their_office): (i64, String, String, String) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
        if their_office != office {
            return Err(RegistryError::Forbidden(format!(
                "model `{}` belongs to office `{their_office}`; choose another model id",
                m.id
            )));
        }
        if version == m.version {
            if their_sha == sha {
                return Ok(Published::Unchanged {
                    id,
                    version: vref.to_string(),
                });
            }
            return Err(RegistryError::Conflict(format!(
                "{vref} was already published with different bytes; bump the version"
            )));
        }
        if let Ok(v) = semver::Version::parse(&version) {
            latest = latest.max(Some(v));
        }
    }
    if let Some(latest) = latest.filter(|l| *l > new_version) {
        return Err(RegistryError::Conflict(format!(
            "version {} of `{}` is lower than the latest published, {latest}",
            m.version, m.id
        )));
    }
    sqlx::query("INSERT INTO blobs (sha256, size, bytes, stored_at_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (sha256) DO NOTHING")
        .bind(&sha)
        .bind(sub.bytes.len() as i64)
        .bind(sub.bytes.to_vec())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    let manifest_json =
        serde_json::to_string(m).map_err(|e| RegistryError::Invalid(e.to_string()))?;
    let id: i64 = sqlx::query(
        "INSERT INTO model_versions (model_id, version, sha256, office, key_fingerprint, signature, manifest_json, \
         wit_version, status, submitted_by, submitted_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'submitted', $9, $10) RETURNING id",
    )
    .bind(&m.id)
    .bind(&m.version)
    .bind(&sha)
    .bind(&office)
    .bind(&fp)
    .bind(hex::encode(sub.signature))
    .bind(&manifest_json)
    .bind(SUPPORTED_WIT_VERSIONS.join(","))
    .bind(&actor.user)
    .bind(now_ms())
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    let detail = serde_json::json!({"sha256": sha, "office": office, "key": fp});
    audit(
        &mut tx,
        &actor.user,
        "model.publish",
        &vref.to_string(),
        &detail,
    )
    .await?;
    tx.commit().await?;
    Ok(Published::Submitted {
        id,
        version: vref.to_string(),
    })
}
