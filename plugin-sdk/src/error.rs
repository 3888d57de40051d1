//! The error type of every fallible SDK call.

use crate::bindings::supervise::model::types::Error as WitError;

/// Why a call failed. The first four mirror the contract's `error` variant; `Model` is for the
/// model's own failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A dataset or column outside the approved scope, named in the payload.
    NotDeclared(String),
    /// A parameter, column or other named thing that does not exist.
    NotFound(String),
    /// A per-run limit of the platform.
    LimitExceeded(String),
    /// A malformed argument, with what was wrong.
    InvalidArgument(String),
    /// The model's own failure; fails the run with this reason.
    Model(String),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A model failure with the given reason.
    pub fn model(reason: impl Into<String>) -> Self {
        Error::Model(reason.into())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::NotDeclared(what) => write!(f, "not declared: {what}"),
            Error::NotFound(what) => write!(f, "not found: {what}"),
            Error::LimitExceeded(what) => write!(f, "limit exceeded: {what}"),
            Error::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
            Error::Model(what) => write!(f, "{what}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<WitError> for Error {
    fn from(e: WitError) -> Self {
        match e {
            WitError::NotDeclared(s) => Error::NotDeclared(s),
            WitError::NotFound(s) => Error::NotFound(s),
            WitError::LimitExceeded(s) => Error::LimitExceeded(s),
            WitError::InvalidArgument(s) => Error::InvalidArgument(s),
            WitError::ModelFailed(s) => Error::Model(s),
        }
    }
}

impl From<Error> for WitError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotDeclared(s) => WitError::NotDeclared(s),
            Error::NotFound(s) => WitError::NotFound(s),
            Error::LimitExceeded(s) => WitError::LimitExceeded(s),
            Error::InvalidArgument(s) => WitError::InvalidArgument(s),
            Error::Model(s) => WitError::ModelFailed(s),
        }
    }
}
