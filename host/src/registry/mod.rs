//! The model registry: offices and their signing keys, signed publishing of content-addressed
//! components, provincial review, per-region enablement with upgrade and rollback, and the
//! fail-closed load that re-checks a stored component before every run. Every action is
//! written to the audit log with who, what and why.

pub mod enable;
pub mod keys;
pub mod load;
pub mod publish;
pub mod review;

use crate::datasets::region::{self, Level};
use crate::runtime::RuntimeError;
use crate::store::StoreError;

/// Why a registry action was refused or failed. Messages say what to do where they can.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The acting office may not do this.
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// The request conflicts with the registry's state.
    #[error("{0}")]
    Conflict(String),
    /// The input is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The component's signature does not verify.
    #[error("signature check failed: {0}")]
    Signature(String),
    /// The component itself was refused by the sandbox.
    #[error("component refused: {0}")]
    Component(#[from] RuntimeError),
    /// A stored component no longer matches what was published.
    #[error("refusing to load {model}@{version}: {reason}")]
    Tampered {
        /// Model id.
        model: String,
        /// Version.
        version: String,
        /// What does not match.
        reason: String,
    },
    /// A key file could not be read or written.
    #[error("{path}: {reason}")]
    KeyFile {
        /// File.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for RegistryError {
    fn from(e: sqlx::Error) -> Self {
        RegistryError::Store(StoreError::Db(e))
    }
}

/// Who is acting: a person, for the audit log, on behalf of an office.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The person.
    pub user: String,
    /// Their office id.
    pub office: String,
}

/// An office and the region it is bound to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Office {
    /// Identifier, e.g. `330102`.
    pub id: String,
    /// Name.
    pub name: String,
    /// Region code.
    pub region: String,
}

impl Office {
    /// Whether this is a provincial office (the admins).
    pub fn is_provincial(&self) -> bool {
        region::level(&self.region) == Ok(Level::Province)
    }
}

/// A `model@version` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRef {
    /// Model id.
    pub model: String,
    /// Semantic version.
    pub version: String,
}

impl std::str::FromStr for VersionRef {
    type Err = RegistryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (model, version) = s.split_once('@').ok_or_else(|| {
            RegistryError::Invalid(format!("`{s}` must look like model-id@1.2.0"))
        })?;
        semver::Version::parse(version)
            .map_err(|e| RegistryError::Invalid(format!("`{version}` is not a version: {e}")))?;
        Ok(VersionRef {
            model: model.to_string(),
            version: version.to_string(),
        })
    }
}

impl std::fmt::Display for VersionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.model, self.version)
    }
}
