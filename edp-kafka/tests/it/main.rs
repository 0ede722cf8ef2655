//! edp-kafka against a real broker (see `edp_kafka::testkit`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod avro;
mod conformance;
mod crash;
mod outage;
mod service;

use edp_kafka::KafkaTransport;
use edp_kafka::testkit::Broker;

// ANCHOR: client
/// A new client of the test broker.
pub(crate) fn client() -> KafkaTransport {
    init_tracing();
    let broker = Broker::shared().expect("a Kafka broker for the tests");
    KafkaTransport::connect(broker.config()).expect("a Kafka client")
}
// ANCHOR_END: client

/// `RUST_LOG=info` shows each scenario, rebalance and commit.
pub(crate) fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
