//! Offices and their ed25519 signing keys: key pairs made on the author's machine, public
//! keys registered by a provincial admin, revocation (later publishes fail; earlier versions
//! keep their recorded verification).

use std::path::Path;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::datasets::region;
use crate::store::{Store, audit, now_ms};

use super::{Actor, Office, RegistryError};

/// A registered key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct KeyInfo {
    /// First 16 hex digits of the public key's sha256.
    pub fingerprint: String,
    /// The office it belongs to.
    pub office: String,
    /// `active` or `revoked`.
    pub status: String,
}

/// The fingerprint of a public key.
pub fn fingerprint(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// Writes a new key pair: the private key to `path` (mode 0600) and the public key to
/// `path.pub`, both hex. Refuses to overwrite.
pub fn generate(path: &Path) -> Result<VerifyingKey, RegistryError> {
    let err = |p: &Path, reason: String| RegistryError::KeyFile {
        path: p.display().to_string(),
        reason,
    };
    let public = path.with_extension("pub");
    for p in [path, public.as_path()] {
        if p.exists() {
            return Err(err(p, "already exists; choose another name".into()));
        }
    }
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| err(path, format!("no randomness: {e}")))?;
    let key = SigningKey::from_bytes(&secret);
    let mut f = crate::store::files::private_writer()
        .create_new(true)
        .open(path)
        .map_err(|e| err(path, e.to_string()))?;
    std::io::Write::write_all(&mut f, hex::encode(secret).as_bytes())
        .map_err(|e| err(path, e.to_string()))?;
    std::fs::write(&public, hex::encode(key.verifying_key().as_bytes()))
        .map_err(|e| err(&public, e.to_string()))?;
    Ok(key.verifying_key())
}

/// Decodes `N` bytes of hex (surrounding whitespace ignored).
fn decode_hex<const N: usize>(text: &str) -> Result<[u8; N], String> {
    let bytes = hex::decode(text.trim()).map_err(|_| "is not hex".to_string())?;
    bytes
        .try_into()
        .map_err(|_| format!("is not a {N}-byte key"))
}

fn read_hex<const N: usize>(path: &Path) -> Result<[u8; N], RegistryError> {
    let err = |reason: String| RegistryError::KeyFile {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    decode_hex(&text).map_err(err)
}

/// Reads a private key file.
pub fn read_signing_key(path: &Path) -> Result<SigningKey, RegistryError> {
    Ok(SigningKey::from_bytes(&read_hex::<32>(path)?))
}

/// Parses a public key written as hex (the content of a `.pub` file); says what is wrong.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    VerifyingKey::from_bytes(&decode_hex::<32>(text)?)
        .map_err(|e| format!("not an ed25519 public key: {e}"))
}

/// Reads a public key file.
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, RegistryError> {
    let text = std::fs::read_to_string(path).map_err(|e| RegistryError::KeyFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    parse_public_key(&text).map_err(|reason| RegistryError::KeyFile {
        path: path.display().to_string(),
        reason,
    })
}

/// Signs a component: the signature covers its sha256.
pub fn sign(key: &SigningKey, component: &[u8]) -> [u8; 64] {
    key.sign(&Sha256::digest(component)).to_bytes()
}

/// An office by id.
pub async fn office(store: &Store, id: &str) -> Result<Office, RegistryError> {
    let row = sqlx::query("SELECT id, name, region FROM offices WHERE id = $1")
        .bind(id)
        .fetch_optional(store.pool())
        .await?
        .ok_or_else(|| RegistryError::NotFound(format!("office `{id}`")))?;
    Ok(Office {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        region: row.try_get(2)?,
    })
}

/// The acting office, which must be provincial.
pub async fn require_admin(store: &Store, actor: &Actor) -> Result<Office, RegistryError> {
    let office = office(store, &actor.office).await?;
    if !office.is_provincial() {
        return Err(RegistryError::Forbidden(format!(
            "office `{}` is not a provincial office; only provincial admins may do this",
            office.id
        )));
    }
    Ok(office)
}

/// Adds an office bound to a region. The first office needs no admin (it bootstraps the
/// province); later ones are added by a provincial admin.
pub async fn add_office(
    store: &Store,
    actor: &Actor,
    office: &Office,
) -> Result<(), RegistryError> {
    let existing: i64 = sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) FROM offices")
        .fetch_one(store.pool())
        .await?
        .try_get(0)?;
    if existing > 0 {
        require_admin(store, actor).await?;
    } else if !office.is_provincial() {
        return Err(RegistryError::Invalid(
            "the first office must be the provincial one".into(),
        ));
    }
    region::level(&office.region).map_err(RegistryError::Invalid)?;
    if office.id.trim().is_empty() || office.name.trim().is_empty() {
        return Err(RegistryError::Invalid(
            "an office needs an id and a name".into(),
        ));
    }
    let mut tx = store.begin().await?;
    let known: Option<String> = sqlx::query("SELECT code FROM regions WHERE code = $1")
        .bind(&office.region)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    if known.is_none() {
        return Err(RegistryError::NotFound(format!(
            "region {} (load regions first)",
            office.region
        )));
    }
    let inserted = sqlx::query("INSERT INTO offices (id, name, region, created_at_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING")
        .bind(&office.id)
        .bind(&office.name)
        .bind(&office.region)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    if inserted.rows_affected() == 0 {
        return Err(RegistryError::Conflict(format!(
            "office `{}` already exists",
            office.id
        )));
    }
    let detail = serde_json::json!({"name": office.name, "region": office.region});
    audit(&mut tx, &actor.user, "office.add", &office.id, &detail).await?;
    tx.commit().await?;
    Ok(())
}

/// Registers a public key for an office (provincial admins only).
pub async fn register(
    store: &Store,
    actor: &Actor,
    office_id: &str,
    key: &VerifyingKey,
) -> Result<String, RegistryError> {
    require_admin(store, actor).await?;
    office(store, office_id).await?;
    let fp = fingerprint(key);
    let mut tx = store.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO office_keys (fingerprint, office, public_key, status, registered_by, registered_at_ms) \
         VALUES ($1, $2, $3, 'active', $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(&fp)
    .bind(office_id)
    .bind(hex::encode(key.as_bytes()))
    .bind(&actor.user)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(RegistryError::Conflict(format!(
            "key {fp} is already registered"
        )));
    }
    audit(
        &mut tx,
        &actor.user,
        "key.register",
        &fp,
        &serde_json::json!({"office": office_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(fp)
}

/// Revokes a key (provincial admins only): later publishes signed with it fail.
pub async fn revoke(
    store: &Store,
    actor: &Actor,
    fingerprint: &str,
    reason: &str,
) -> Result<(), RegistryError> {
    require_admin(store, actor).await?;
    if reason.trim().is_empty() {
        return Err(RegistryError::Invalid(
            "say why the key is revoked (--reason)".into(),
        ));
    }
    let mut tx = store.begin().await?;
    let done = sqlx::query(
        "UPDATE office_keys SET status = 'revoked', revoked_by = $1, revoked_at_ms = $2, revoked_reason = $3 \
         WHERE fingerprint = $4 AND status = 'active'",
    )
    .bind(&actor.user)
    .bind(now_ms())
    .bind(reason)
    .bind(fingerprint)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(RegistryError::NotFound(format!("active key {fingerprint}")));
    }
    audit(
        &mut tx,
        &actor.user,
        "key.revoke",
        fingerprint,
        &serde_json::json!({"reason": reason}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Every office, by region.
pub async fn offices(store: &Store) -> Result<Vec<Office>, RegistryError> {
    let rows = sqlx::query("SELECT id, name, region FROM offices ORDER BY region, id")
        .fetch_all(store.pool())
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Office {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                region: r.try_get(2)?,
            })
        })
        .collect()
}

/// Every registered key.
pub async fn list(store: &Store) -> Result<Vec<KeyInfo>, RegistryError> {
    let rows = sqlx::query(
        "SELECT fingerprint, office, status FROM office_keys ORDER BY office, fingerprint",
    )
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(KeyInfo {
                fingerprint: r.try_get(0)?,
                office: r.try_get(1)?,
                status: r.try_get(2)?,
            })
        })
        .collect()
}
