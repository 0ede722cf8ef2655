use crate::error::BoxError;

/// Publishing failed.
///
/// Handling: `Closed` is final for this client; `Broker` and `Prepare` may be retried
/// (the retry middleware does it for handlers that publish).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The transport was closed; open a new client to publish again.
    #[error("cannot publish to `{topic}`: the transport is closed")]
    Closed {
        /// The topic.
        topic: String,
    },
    /// The broker refused or failed.
    #[error("cannot publish to `{topic}`")]
    Broker {
        /// The topic.
        topic: String,
        /// The broker's error.
        #[source]
        source: BoxError,
    },
    /// An event could not be encoded.
    #[error(transparent)]
    Encode(#[from] crate::codec::EncodeError),
    /// The codec could not get ready to encode: a service it needs (a schema
    /// registry) is unavailable, which is transient (see
    /// [`PrepareError::is_transient`](crate::codec::PrepareError::is_transient)).
    #[error(transparent)]
    Prepare(crate::codec::PrepareError),
}

impl From<crate::codec::PrepareError> for PublishError {
    fn from(e: crate::codec::PrepareError) -> Self {
        match e {
            crate::codec::PrepareError::Encode(e) => Self::Encode(e),
            other => Self::Prepare(other),
        }
    }
}

/// Subscribing failed.
///
/// Handling: check the group and topic names and that the broker is reachable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The transport was closed.
    #[error("cannot subscribe group `{group}`: the transport is closed")]
    Closed {
        /// The group.
        group: String,
    },
    /// The options are not valid, for example no topics.
    #[error("cannot subscribe group `{group}`: {reason}")]
    Invalid {
        /// The group.
        group: String,
        /// What is wrong.
        reason: String,
    },
    /// The broker refused or failed.
    #[error("cannot subscribe group `{group}`")]
    Broker {
        /// The group.
        group: String,
        /// The broker's error.
        #[source]
        source: BoxError,
    },
}

/// Receiving failed; the subscriber may still work (call `recv` again).
#[derive(Debug, thiserror::Error)]
#[error("cannot receive from the transport")]
pub struct ReceiveError(#[source] pub BoxError);

/// An ack or nack failed.
///
/// Handling: the delivery will come again (at least once); make the handler idempotent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// The delivery is no longer owned by this subscriber (rebalanced away, or acked
    /// twice); it will be redelivered to the new owner.
    #[error("delivery of `{topic}` offset {offset:?} is no longer owned by this subscriber")]
    NotOwned {
        /// The topic.
        topic: String,
        /// The offset, where known.
        offset: Option<u64>,
    },
    /// The broker refused or failed.
    #[error("cannot acknowledge a delivery of `{topic}`")]
    Broker {
        /// The topic.
        topic: String,
        /// The broker's error.
        #[source]
        source: BoxError,
    },
}

/// Closing did not finish cleanly.
#[derive(Debug, thiserror::Error)]
#[error("cannot close the transport cleanly")]
pub struct CloseError(#[source] pub BoxError);
