use edp_core::codec::{EncodeError, PrepareError};
use uuid::Uuid;

/// An event could not be added to the outbox. The caller's transaction is still
/// open: roll it back (drop it) or return the error, and nothing is published.
///
/// Handling: `Duplicate` means this event id is in the outbox already (an event
/// added twice); the others come from the codec or the database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    /// The codec could not encode the event.
    #[error("cannot encode the event for the outbox")]
    Encode(#[source] EncodeError),
    /// The codec could not get ready to encode it (an Avro schema registry down).
    #[error("the codec cannot encode this event type yet")]
    Prepare(#[source] PrepareError),
    /// An event with this id is in the outbox already.
    #[error("event `{0}` is in the outbox already; each event is added once")]
    Duplicate(Uuid),
    /// The database refused the insert.
    #[error("cannot write the outbox row; is `edp_sql::migrate` run on this database?")]
    Database(#[source] sqlx::Error),
}

/// The relay could not publish or settle a batch. It logs this, waits with backoff
/// and tries again; rows stay in the outbox until they are published.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// Reading or settling rows failed (the database is down, for example).
    #[error("outbox database error")]
    Database(#[source] sqlx::Error),
    /// The transport refused a batch.
    #[error("cannot publish {count} outbox events to `{topic}`")]
    Publish {
        /// The topic.
        topic: String,
        /// How many events the batch held.
        count: usize,
        /// Why.
        #[source]
        source: edp_core::transport::PublishError,
    },
}
