//! The fail-closed load: before a stored component runs, its bytes are read again, re-hashed
//! and its signature re-verified against the key that signed it at publish time (even if that
//! key was revoked since: the recorded verification stands); bytes, signature and key found
//! identical to those this process last verified for the version are not hashed and verified
//! again (the check is a function of them alone), any change is. They are not even read again
//! when the store's count of changes to them ([`CHANGES`], kept by triggers that only let it
//! go up) is the one this process read with them when it last checked them: a worker reads
//! that count with each batch's runs. The datasets its version record names are checked to be
//! the ones the component declares (a run fixes its snapshot from the record while the
//! component is verified). Any mismatch refuses the run. Verified bytes already compiled and
//! linked in this process are not loaded again.
//!
//! What runs is always bytes this process verified: a change to the store is found at the
//! next batch by the count, and without the count's triggers (dropping them takes the rights
//! to change the schema) at the next process's first load.

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

/// The store's count of changes to what a component's check reads (bytes, a version's hash,
/// signature and key, a key's fingerprint and public key; migration 0014), as a column of a
/// query: read in the same statement as a version record, it lets [`verify_and_load`] skip
/// reading inputs that have not changed since this process checked them.
pub const CHANGES: &str = "(SELECT n FROM component_changes WHERE id = 1)";

/// A stored component with the signature and key it is checked against.
#[derive(PartialEq, Eq)]
struct Inputs {
    bytes: Vec<u8>,
    signature: String,
    public_key: String,
}

/// Inputs that passed the check, with their sha256 (hex) and the store's count of changes
/// ([`CHANGES`]) when they were last read. The check is a function of the inputs alone: the
/// same inputs would pass again. (Comparing 170 KB costs a tenth of hashing it, and the
/// signature is not verified again.)
struct Verified {
    inputs: Arc<Inputs>,
    sha256: String,
    changes: i64,
}

/// Hashes the component's bytes, checks the hash is the `published` one, and verifies the
/// signature over it with the key: the inputs with their sha256, or what is wrong.
fn verify(inputs: Inputs, published: &str, changes: i64) -> Result<Verified, String> {
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
    Ok(Verified {
        inputs: Arc::new(inputs),
        sha256,
        changes,
    })
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
    let model = verify_and_load(store, runtime, &v, None).await?;
    Ok((v, model))
}

/// Loads the component of version record `v` for running, after re-checking its hash and
/// signature, and that it declares the datasets its record says (so that a caller may fix a
/// run's snapshot from the record while this runs). `changes` is the store's count of
/// changes ([`CHANGES`]) when read in the same statement as `v`: if this process checked the
/// version's inputs at that count, they are not read again.
pub async fn verify_and_load(
    store: &Store,
    runtime: &Runtime,
    v: &VersionRecord,
    changes: Option<i64>,
) -> Result<Arc<LoadedModel>, RegistryError> {
    let version_id = v.id;
    let tampered = |reason: String| RegistryError::Tampered {
        model: v.model.clone(),
        version: v.version.clone(),
        reason,
    };
    let before = store.recall::<Verified>(VERIFIED, version_id);
    let verified = match before {
        // Nothing the check reads has changed since this process checked it.
        Some(before) if Some(before.changes) == changes && before.sha256 == v.sha256 => before,
        before => {
            let (stored, changes) = read_inputs(store, version_id)
                .await?
                .ok_or_else(|| tampered("its stored component is missing".into()))?;
            match before {
                // The same bytes, signature and key as verified before: the same verdict, but
                // for the published hash, which is the record's.
                Some(before) if *before.inputs == stored => {
                    if before.sha256 != v.sha256 {
                        return Err(tampered(not_published(&before.sha256, &v.sha256)));
                    }
                    // Seen unchanged at this count: the next batch need not read them.
                    let seen = Arc::new(Verified {
                        inputs: before.inputs.clone(),
                        sha256: before.sha256.clone(),
                        changes,
                    });
                    store.remember(VERIFIED, version_id, seen.clone());
                    seen
                }
                _ => {
                    let verified = Arc::new(verify(stored, &v.sha256, changes).map_err(tampered)?);
                    store.remember(VERIFIED, version_id, verified.clone());
                    verified
                }
            }
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

/// The stored inputs of version `version_id`'s check, with the store's count of changes
/// ([`CHANGES`]) in the same statement; `None` when its component, or the key that signed it,
/// is missing.
async fn read_inputs(
    store: &Store,
    version_id: i64,
) -> Result<Option<(Inputs, i64)>, RegistryError> {
    let sql = format!(
        "SELECT b.bytes, m.signature, k.public_key, {CHANGES} FROM model_versions m \
         JOIN blobs b ON b.sha256 = m.sha256 JOIN office_keys k ON k.fingerprint = m.key_fingerprint \
         WHERE m.id = $1"
    );
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(version_id)
        .fetch_optional(store.pool())
        .await?
    else {
        return Ok(None);
    };
    let inputs = Inputs {
        bytes: row.try_get(0)?,
        signature: row.try_get(1)?,
        public_key: row.try_get(2)?,
    };
    Ok(Some((inputs, row.try_get(3)?)))
}
