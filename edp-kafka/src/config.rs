//! [`KafkaConfig`]: how to reach the brokers and how to produce and consume.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientConfig;

use crate::consumer::Sequencing;

/// Connection and behaviour of a [`KafkaTransport`](crate::KafkaTransport).
///
/// The defaults are safe for production: idempotent producer with `acks=all`,
/// offsets committed only for handled records, `read_committed`, records of one key
/// in order and different keys in parallel.
///
/// ```
/// use std::time::Duration;
/// use edp_kafka::{KafkaConfig, Sequencing};
///
/// let config = KafkaConfig::new("localhost:9092")
///     .client_id("order-service")
///     .linger(Duration::from_millis(5))
///     .ordering(Sequencing::PerKey)
///     .topic_partitions(6)
///     .set("security.protocol", "plaintext"); // any librdkafka property
/// assert_eq!(config.brokers(), "localhost:9092");
/// ```
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub(crate) brokers: String,
    pub(crate) client_id: String,
    pub(crate) linger: Duration,
    pub(crate) ordering: Sequencing,
    pub(crate) session_timeout: Duration,
    pub(crate) heartbeat: Duration,
    pub(crate) max_poll_interval: Duration,
    pub(crate) commit_interval: Duration,
    pub(crate) max_buffered: usize,
    pub(crate) revoke_timeout: Duration,
    pub(crate) create_topics: bool,
    pub(crate) topic_partitions: i32,
    pub(crate) topic_replication: i32,
    pub(crate) request_timeout: Duration,
    pub(crate) startup_timeout: Duration,
    pub(crate) redelivery_backoff: (Duration, Duration),
    pub(crate) delivery_timeout: Duration,
    pub(crate) extra: BTreeMap<String, String>,
}

impl KafkaConfig {
    /// A configuration for the brokers at `brokers` (`host:port`, comma-separated).
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            client_id: "edp".to_owned(),
            linger: Duration::from_millis(5),
            ordering: Sequencing::PerKey,
            session_timeout: Duration::from_secs(10),
            heartbeat: Duration::from_secs(1),
            max_poll_interval: Duration::from_secs(300),
            commit_interval: Duration::from_secs(1),
            max_buffered: 4096,
            revoke_timeout: Duration::from_secs(10),
            create_topics: true,
            topic_partitions: 6,
            topic_replication: 1,
            request_timeout: Duration::from_secs(30),
            startup_timeout: Duration::from_secs(60),
            redelivery_backoff: (Duration::from_millis(100), Duration::from_secs(10)),
            delivery_timeout: Duration::from_secs(120),
            extra: BTreeMap::new(),
        }
    }

    /// The brokers.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    /// The client id brokers see in their logs and quotas (default `edp`).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = id.into();
        self
    }

    /// How long the producer waits to fill a batch (`linger.ms`, default 5 ms).
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// How records of one partition may run in parallel (default [`Sequencing::PerKey`]).
    pub fn ordering(mut self, ordering: Sequencing) -> Self {
        self.ordering = ordering;
        self
    }

    /// Group liveness: `session.timeout.ms` (default 10 s) and
    /// `heartbeat.interval.ms` (default 1 s). Shorter sessions notice a dead member
    /// sooner and make group joins faster on some brokers.
    pub fn session(mut self, timeout: Duration, heartbeat: Duration) -> Self {
        self.session_timeout = timeout;
        self.heartbeat = heartbeat;
        self
    }

    /// `max.poll.interval.ms` (default 5 minutes). The consumer polls from its own
    /// thread whatever the handlers do, so this rarely matters.
    pub fn max_poll_interval(mut self, interval: Duration) -> Self {
        self.max_poll_interval = interval;
        self
    }

    /// How often handled offsets are committed (default 1 s). Offsets are also
    /// committed when partitions are revoked and when the subscriber closes.
    pub fn commit_interval(mut self, interval: Duration) -> Self {
        self.commit_interval = interval;
        self
    }

    /// Records fetched ahead per partition before fetching pauses (default 4096):
    /// memory stays bounded when handlers are slow.
    pub fn max_buffered(mut self, records: usize) -> Self {
        self.max_buffered = records.max(1);
        self
    }

    /// How long a revoked partition waits for its in-flight handlers before its offset
    /// is committed without them (default 10 s). What they had not finished is
    /// delivered again to the partition's new owner.
    pub fn revoke_timeout(mut self, timeout: Duration) -> Self {
        self.revoke_timeout = timeout;
        self
    }

    /// Whether missing topics are created on publish and subscribe (default yes).
    pub fn create_topics(mut self, create: bool) -> Self {
        self.create_topics = create;
        self
    }

    /// Partitions of the topics this client creates (default 6).
    pub fn topic_partitions(mut self, partitions: i32) -> Self {
        self.topic_partitions = partitions.max(1);
        self
    }

    /// Replication factor of the topics this client creates (default 1; use 3 in
    /// production).
    pub fn topic_replication(mut self, replication: i32) -> Self {
        self.topic_replication = replication.max(1);
        self
    }

    /// How long a request to the brokers may take, admin requests and the health check
    /// included (`socket.timeout.ms`, default 30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long setting up topics (on the first publish to a topic, and on subscribe)
    /// keeps retrying, with backoff, while the brokers do not answer (default 60 s):
    /// a service may start before its brokers. Then the call fails naming the brokers.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// How long a nacked record waits before it is delivered again: `base` after the
    /// first nack, doubling with each one, at most `max` (default 100 ms to 10 s).
    /// Other keys go on meanwhile; the record's own key waits, to stay in order. A
    /// failure that repeats at once (a database down) thus does not spin. Zero
    /// delivers again at once.
    pub fn redelivery_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.redelivery_backoff = (base, max.max(base));
        self
    }

    /// How long a published record may wait for the brokers before its publish fails
    /// (`message.timeout.ms`, default 2 minutes). librdkafka retries within it.
    pub fn delivery_timeout(mut self, timeout: Duration) -> Self {
        self.delivery_timeout = timeout;
        self
    }

    /// Sets any librdkafka property (security, SASL, tuning); it wins over edp's
    /// defaults. See librdkafka's CONFIGURATION.md.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    fn base(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id)
            .set(
                "socket.timeout.ms",
                ms(self.request_timeout.max(Duration::from_millis(10))),
            )
            .set_log_level(crate::log::level());
        c
    }

    fn finish(&self, mut c: ClientConfig) -> ClientConfig {
        for (k, v) in &self.extra {
            c.set(k, v);
        }
        c
    }

    pub(crate) fn producer(&self) -> ClientConfig {
        let mut c = self.base();
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", ms(self.linger))
            .set(
                "message.timeout.ms",
                ms(self.request_timeout.max(Duration::from_secs(5)) * 10),
            )
            .set("compression.type", "none");
        self.finish(c)
    }

    pub(crate) fn consumer(&self, group: &str) -> ClientConfig {
        let mut c = self.base();
        c.set("group.id", group)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", ms(self.commit_interval))
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            .set("session.timeout.ms", ms(self.session_timeout))
            .set("heartbeat.interval.ms", ms(self.heartbeat))
            .set(
                "max.poll.interval.ms",
                ms(self.max_poll_interval.max(self.session_timeout)),
            )
            .set("enable.partition.eof", "false");
        if edp_core::telemetry::metrics::enabled() {
            // librdkafka reports each partition's lag (high watermark minus committed
            // offset) in its statistics; they feed `edp_consumer_lag`.
            c.set("statistics.interval.ms", "5000");
        }
        self.finish(c)
    }

    pub(crate) fn admin(&self) -> ClientConfig {
        self.finish(self.base())
    }
}

fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}
