//! The fail-closed load: before a stored component runs, its bytes are re-hashed and its
//! signature re-verified against the key that signed it at publish time (even if that key was
//! revoked since: the recorded verification stands), and the datasets its version record names
//! are checked to be the ones the component declares (a run fixes its snapshot from the
//! record while the component is verified). Any mismatch refuses the run. Verified bytes
//! already compiled and linked in this process are not loaded again.

use std::sync::Arc;

use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::runtime::{LoadedModel, Runtime};
use crate::store::Store;

use super::RegistryError;
use super::review::{self, VersionRecord};

/// Loads a registered version for running, after re-checking hash and signature.
pub async fn load_verified(
    store: &Store,
    runtime: &Runtime,
    version_id: i64,
) -> Result<(VersionRecord, Arc<LoadedModel>), RegistryError> {
    let v = review::get_by_id(store, version_id).await?;
    let model = verify_and_load(store, runtime, &v).await?;
    Ok((v, model))
}

/// Loads the component of version record `v` for running, after re-checking its hash and
/// signature, and that it declares the datasets its record says (so that a caller may fix a
/// run's snapshot from the record while this runs).
pub async fn verify_and_load(
    store: &Store,
    runtime: &Runtime,
    v: &VersionRecord,
) -> Result<Arc<LoadedModel>, RegistryError> {
    let version_id = v.id;
    let tampered = |reason: String| RegistryError::Tampered {
        model: v.model.clone(),
        version: v.version.clone(),
        reason,
    };
    let row = sqlx::query(
        "SELECT b.bytes, m.signature, k.public_key FROM model_versions m \
         JOIN blobs b ON b.sha256 = m.sha256 JOIN office_keys k ON k.fingerprint = m.key_fingerprint WHERE m.id = $1",
    )
    .bind(version_id)
    .fetch_optional(store.pool())
    .await?
    .ok_or_else(|| tampered("its stored component is missing".into()))?;
    let (bytes, signature, public): (Vec<u8>, String, String) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    let digest = Sha256::digest(&bytes);
    let sha256 = hex::encode(digest);
    if sha256 != v.sha256 {
        return Err(tampered(format!(
            "the stored component's sha256 is {sha256}, not the published {}",
            v.sha256
        )));
    }
    let sig: [u8; 64] = hex::decode(&signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| tampered("the recorded signature is malformed".into()))?;
    let key: [u8; 32] = hex::decode(&public)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| tampered("the signer's key is malformed".into()))?;
    let key = VerifyingKey::from_bytes(&key)
        .map_err(|_| tampered("the signer's key is not an ed25519 key".into()))?;
    key.verify_strict(&digest, &Signature::from_bytes(&sig))
        .map_err(|_| tampered("the signature no longer verifies".into()))?;
    let model = runtime.load_shared(&bytes, &sha256)?;
    let declared = model.manifest.datasets.iter().map(|d| &d.name);
    if !declared.eq(v.manifest.datasets.iter().map(|d| &d.name)) {
        return Err(tampered(
            "its recorded manifest names other datasets than the component declares".into(),
        ));
    }
    Ok(model)
}
