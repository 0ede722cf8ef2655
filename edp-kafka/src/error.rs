//! Errors of the Kafka transport.

use std::time::Duration;

use rdkafka::error::KafkaError;

/// The Kafka transport could not do what was asked.
///
/// It reaches users inside the core's `PublishError::Broker`,
/// `SubscribeError::Broker` and `AckError::Broker`, as their source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaTransportError {
    /// librdkafka refused the configuration.
    #[error("cannot create the Kafka {what}; check the KafkaConfig properties")]
    Client {
        /// Which client.
        what: &'static str,
        /// librdkafka's error.
        #[source]
        source: KafkaError,
    },
    /// An admin request (topic creation) failed.
    #[error("cannot {what}; check that the brokers are up and allow it")]
    Admin {
        /// What was asked.
        what: String,
        /// The broker's answer.
        #[source]
        source: KafkaError,
    },
    /// A topic does not exist and topic creation is off.
    #[error("topic `{0}` does not exist; create it, or turn on KafkaConfig::create_topics(true)")]
    NoSuchTopic(String),
    /// The brokers did not answer.
    #[error(
        "the Kafka brokers at `{brokers}` did not answer within {timeout:?}: {source}; check that they run and the address is right"
    )]
    Unreachable {
        /// The configured brokers.
        brokers: String,
        /// How long it waited.
        timeout: Duration,
        /// librdkafka's error.
        #[source]
        source: Box<KafkaError>,
    },
    /// The broker did not accept a record.
    #[error("the broker did not accept a record for `{topic}`")]
    Produce {
        /// The topic.
        topic: String,
        /// librdkafka's error.
        #[source]
        source: KafkaError,
    },
}
