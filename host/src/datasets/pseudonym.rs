//! Pseudonyms: personal identifiers turned into 128-bit keyed hashes (HMAC-SHA256, first 16
//! bytes) before they enter the sandbox. The same identifier gives the same pseudonym in every
//! dataset, so models can still join on it; without the key nobody can reverse or forge one.

use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The pseudonym key file is missing or unusable.
#[derive(Debug, thiserror::Error)]
#[error("pseudonym key {path}: {reason}")]
pub struct SecretError {
    /// The key file.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

/// The key used by `supervise model test` on fixture data. Public, so never a production key.
pub const FIXTURE_KEY: &[u8] = b"supervise fixture pseudonym key - not a production secret";

/// Computes pseudonyms with one secret key.
#[derive(Clone)]
pub struct Pseudonymizer {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymizer(<secret>)")
    }
}

/// Normalises an identifier before hashing: trims whitespace and upper-cases ASCII letters
/// (the `x` check character of resident ID numbers), so exports from different agencies join.
pub fn normalise(identifier: &str) -> String {
    identifier.trim().to_ascii_uppercase()
}

impl Pseudonymizer {
    /// A pseudonymiser with `key` (at least 16 bytes for production use).
    pub fn new(key: &[u8]) -> Self {
        // HMAC accepts keys of any length.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
        Pseudonymizer { mac }
    }

    /// The platform's pseudonymiser, with the secret key kept in `path`, outside the
    /// database: 32 random bytes, hex-encoded. When the file does not exist and `create` is
    /// set, a new key is generated and written with mode 0600. Losing the key changes every
    /// pseudonym (and so every dedup key): back it up with the database.
    pub fn from_secret_file(path: &Path, create: bool) -> Result<Self, SecretError> {
        let err = |reason: String| SecretError {
            path: path.display().to_string(),
            reason,
        };
        if !path.exists() {
            if !create {
                return Err(err("no such file".into()));
            }
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).map_err(|e| err(format!("no randomness: {e}")))?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                crate::store::files::make_dir(dir).map_err(|e| err(e.to_string()))?;
            }
            let mut f = crate::store::files::private_writer()
                .create_new(true)
                .open(path)
                .map_err(|e| err(e.to_string()))?;
            std::io::Write::write_all(&mut f, hex::encode(key).as_bytes())
                .map_err(|e| err(e.to_string()))?;
            tracing::warn!(path = %path.display(), "generated a new pseudonym key: back it up with the database");
        }
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let key = hex::decode(text.trim()).map_err(|_| err("is not a hex-encoded key".into()))?;
        if key.len() < 16 {
            return Err(err(format!(
                "key is {} bytes; at least 16 are needed",
                key.len()
            )));
        }
        Ok(Pseudonymizer::new(&key))
    }

    /// The pseudonym of an identifier, as (high, low) words.
    pub fn pseudonym(&self, identifier: &str) -> [u64; 2] {
        let mut mac = self.mac.clone();
        mac.update(normalise(identifier).as_bytes());
        let out = mac.finalize().into_bytes();
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&out[i..i + 8]);
            u64::from_be_bytes(b)
        };
        [word(0), word(8)]
    }
}

/// A pseudonym as the 32 hex digits models use in subject ids.
pub fn to_hex(p: [u64; 2]) -> String {
    format!("{:016x}{:016x}", p[0], p[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_identifier_same_pseudonym_after_normalising() {
        let p = Pseudonymizer::new(b"0123456789abcdef0123456789abcdef");
        assert_eq!(
            p.pseudonym("11010519491231002x"),
            p.pseudonym(" 11010519491231002X ")
        );
        assert_ne!(
            p.pseudonym("11010519491231002X"),
            p.pseudonym("110105194912310021")
        );
    }

    #[test]
    fn different_keys_give_unlinkable_pseudonyms() {
        let a = Pseudonymizer::new(b"key-a-key-a-key-a");
        let b = Pseudonymizer::new(b"key-b-key-b-key-b");
        assert_ne!(a.pseudonym("X1"), b.pseudonym("X1"));
    }
}
