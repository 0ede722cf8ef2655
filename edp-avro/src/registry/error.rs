use crate::BoxError;

/// A schema-registry request failed.
///
/// Handling: [`Unreachable`](Self::Unreachable) and a 5xx
/// [`Refused`](Self::Refused) are transient (see [`is_transient`](Self::is_transient)):
/// try again later. The others will fail the same way again: fix the schema, the
/// subject or the URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryClientError {
    /// The URL cannot be used.
    #[error("invalid schema registry URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// No connection, no answer in time, or the connection broke.
    #[error("schema registry at {url} is unreachable; check that it runs and the URL")]
    Unreachable {
        /// The registry's URL.
        url: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// The registry knows no schema with this id.
    #[error("unknown schema id {id}: the schema registry at {url} has no schema with this id")]
    UnknownId {
        /// The id.
        id: u32,
        /// The registry's URL.
        url: String,
    },
    /// The registry answered with an error, for example 409 when a schema is not
    /// compatible with the subject's history, or 404 when looking up a schema that was
    /// never registered.
    #[error("schema registry refused {what} (HTTP {status}, error code {error_code}): {message}")]
    Refused {
        /// What was asked, for example `to register a schema under subject `orders-value``.
        what: String,
        /// The HTTP status.
        status: u16,
        /// Confluent's error code, for example 40403 (schema not found), 409
        /// (incompatible).
        error_code: i64,
        /// The registry's message.
        message: String,
    },
    /// The registry's answer is not what its API documents.
    #[error("unexpected answer from the schema registry at {url}: {reason}")]
    InvalidResponse {
        /// The registry's URL.
        url: String,
        /// What was wrong.
        reason: String,
    },
}

impl RegistryClientError {
    /// Whether the same request may succeed later: unreachable, or a 5xx answer.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Refused { status, .. } => *status >= 500,
            _ => false,
        }
    }
}
