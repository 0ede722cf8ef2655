//! What the registry refuses, with Confluent's error codes.

use crate::compat::{Compatibility, Incompatibility};
use crate::schema::SchemaError;

/// A registry operation failed. Each variant has Confluent's error code
/// ([`RegistryError::error_code`]) and HTTP status ([`RegistryError::status`]).
///
/// The messages of the variants Confluent also has keep Confluent's wording (clients and
/// people compare them); the others follow ours.
///
/// Handling: none is retryable; the message says what to change.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// 40401: no such subject.
    #[error("Subject '{0}' not found.")]
    SubjectNotFound(String),
    /// 40402: the subject has no such version.
    #[error("Version {version} not found under subject '{subject}'.")]
    VersionNotFound {
        /// The subject.
        subject: String,
        /// The version asked for.
        version: u32,
    },
    /// 40403: no schema with this id, or the schema is not registered under the subject.
    #[error("Schema not found: {0}")]
    SchemaNotFound(String),
    /// 40408: the subject has no compatibility level of its own.
    #[error(
        "Subject '{0}' does not have subject-level compatibility configured; ask with ?defaultToGlobal=true for the level in force"
    )]
    SubjectLevelNotConfigured(String),
    /// 42201: the schema is not a valid Avro schema, or not one this registry supports.
    #[error("Invalid schema: {0}")]
    InvalidSchema(String),
    /// 42202: a version is not `latest`, `-1` or a number from 1 to 2147483647.
    #[error(
        "The specified version '{0}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""
    )]
    InvalidVersion(String),
    /// 42203: not a compatibility level.
    #[error(
        "Invalid compatibility level `{0}`. Valid values are BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE and NONE"
    )]
    InvalidCompatibilityLevel(String),
    /// 409: the schema is incompatible with the subject's history at its level.
    #[error(
        "Schema being registered is incompatible with an earlier schema for subject '{subject}': {incompatibility}"
    )]
    Incompatible {
        /// The subject.
        subject: String,
        /// The level in force.
        level: Compatibility,
        /// Where and why.
        incompatibility: Box<Incompatibility>,
    },
}

impl RegistryError {
    /// Confluent's `error_code`: 40401, 40402, 40403, 40408, 42201, 42202, 42203 or 409.
    pub fn error_code(&self) -> u32 {
        match self {
            Self::SubjectNotFound(_) => 40401,
            Self::VersionNotFound { .. } => 40402,
            Self::SchemaNotFound(_) => 40403,
            Self::SubjectLevelNotConfigured(_) => 40408,
            Self::InvalidSchema(_) => 42201,
            Self::InvalidVersion(_) => 42202,
            Self::InvalidCompatibilityLevel(_) => 42203,
            Self::Incompatible { .. } => 409,
        }
    }

    /// The HTTP status: 404, 422 or 409.
    pub fn status(&self) -> u16 {
        match self.error_code() {
            409 => 409,
            code if code / 100 == 404 => 404,
            _ => 422,
        }
    }
}

impl From<SchemaError> for RegistryError {
    fn from(e: SchemaError) -> Self {
        Self::InvalidSchema(e.to_string())
    }
}
