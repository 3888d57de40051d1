//! The fail-closed load: before a stored component runs, its bytes are read again, re-hashed
//! and its signature re-verified against the key that signed it at publish time (even if that
//! key was revoked since: the recorded verification stands); bytes, signature and key found
//! identical to those this process last verified for the version are not hashed and verified
//! again (the check is a function of them alone), any change is. The datasets its version
//! record names are checked to be the ones the component declares (a run fixes its snapshot
//! from the record while the component is verified). Any mismatch refuses the run. Verified
//! bytes already compiled and linked in this process are not loaded again.

use std::sync::Arc;

use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::runtime::{LoadedModel, Runtime};
use crate::store::Store;

use super::RegistryError;
use super::review::{self, VersionRecord};

/// The store's memo (see [`Store::recall`]) of the last inputs a version's check passed with.
const VERIFIED: &str = "verified component";

/// A stored component with the signature and key it is checked against.
#[derive(PartialEq, Eq)]
struct Inputs {
    bytes: Vec<u8>,
    signature: String,
    public_key: String,
}

/// Inputs that passed the check, with their sha256 (hex). The check is a function of the
/// inputs alone: the same inputs would pass again. (Comparing 170 KB costs a tenth of
/// hashing it, and the signature is not verified again.)
struct Verified {
    inputs: Inputs,
    sha256: String,
}

/// Hashes the component's bytes, checks the hash is the `published` one, and verifies the
/// signature over it with the key: the inputs with their sha256, or what is wrong.
fn verify(inputs: Inputs, published: &str) -> Result<Verified, String> {
    let digest = Sha256::digest(&inputs.bytes);
    let sha256 = hex::encode(digest);
    if sha256 != published {
        return Err(not_published(&sha256, published));
    }
    let sig: [u8; 64] = hex::decode(&inputs.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the recorded signature is malformed")?;
    let key: [u8; 32] = hex::decode(&inputs.public_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the signer's key is malformed")?;
    let key =
        VerifyingKey::from_bytes(&key).map_err(|_| "the signer's key is not an ed25519 key")?;
    key.verify_strict(&digest, &Signature::from_bytes(&sig))
        .map_err(|_| "the signature no longer verifies")?;
    Ok(Verified { inputs, sha256 })
}

/// What is wrong with a component whose sha256 is not the `published` one.
fn not_published(sha256: &str, published: &str) -> String {
    format!("the stored component's sha256 is {sha256}, not the published {published}")
}

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
    let stored = Inputs {
        bytes: row.try_get(0)?,
        signature: row.try_get(1)?,
        public_key: row.try_get(2)?,
    };
    let verified = match store.recall::<Verified>(VERIFIED, version_id) {
        // The same bytes, signature and key as verified before: the same verdict, but for
        // the published hash, which is the record's.
        Some(before) if before.inputs == stored => {
            if before.sha256 != v.sha256 {
                return Err(tampered(not_published(&before.sha256, &v.sha256)));
            }
            before
        }
        _ => {
            let verified = Arc::new(verify(stored, &v.sha256).map_err(tampered)?);
            store.remember(VERIFIED, version_id, verified.clone());
            verified
        }
    };
    let model = runtime.load_shared(&verified.inputs.bytes, &verified.sha256)?;
    let declared = model.manifest.datasets.iter().map(|d| &d.name);
    if !declared.eq(v.manifest.datasets.iter().map(|d| &d.name)) {
        return Err(tampered(
            "its recorded manifest names other datasets than the component declares".into(),
        ));
    }
    Ok(model)
}
