//! Subject-name strategies: which registry subject a schema is registered under.
//!
//! ```
//! use edp_avro::SubjectNameStrategy;
//!
//! let record = "ecommerce.order.OrderPlaced";
//! assert_eq!(SubjectNameStrategy::TopicName.subject("orders", record), "orders-value");
//! assert_eq!(SubjectNameStrategy::RecordName.subject("orders", record), record);
//! assert_eq!(
//!     SubjectNameStrategy::TopicRecordName.subject("orders", record),
//!     "orders-ecommerce.order.OrderPlaced"
//! );
//! ```

/// Which subject a value schema is registered under, as Confluent's serializers name
/// them.
///
/// - [`TopicName`](Self::TopicName) (Confluent's default): one schema history per
///   topic, so a topic carries one event type (or a union of them).
/// - [`RecordName`](Self::RecordName): one history per record type, shared by every
///   topic it is published to; a topic may carry several types.
/// - [`TopicRecordName`](Self::TopicRecordName): one history per topic and type; a
///   topic may carry several types, each evolving on its own.
///
/// edp topics carry several event types (`orders` has `order.placed`,
/// `order.confirmed`...), so the codec defaults to `TopicRecordName`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SubjectNameStrategy {
    /// `<topic>-value`.
    TopicName,
    /// `<namespace>.<name>` of the record.
    RecordName,
    /// `<topic>-<namespace>.<name>`.
    #[default]
    TopicRecordName,
}

impl SubjectNameStrategy {
    /// The subject of a value schema whose record's full name is `record`, published to
    /// `topic`.
    pub fn subject(self, topic: &str, record: &str) -> String {
        match self {
            Self::TopicName => format!("{topic}-value"),
            Self::RecordName => record.to_owned(),
            Self::TopicRecordName => format!("{topic}-{record}"),
        }
    }
}
