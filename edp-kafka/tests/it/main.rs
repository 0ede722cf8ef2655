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

/// The next value of `rx`, within a minute.
pub(crate) async fn next<T>(rx: &mut tokio::sync::mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(60), rx.recv())
        .await
        .expect("in time")
        .expect("open")
}

/// Receives and acks `n` dead letters from `dead`, checking that each names the
/// topic it came from; returns their error texts.
pub(crate) async fn dead_letters<S: edp_core::transport::Subscriber>(
    dead: &S,
    topic: &str,
    n: usize,
) -> Vec<String> {
    use edp_core::event::headers;
    let mut reasons = Vec::new();
    for _ in 0..n {
        let d = tokio::time::timeout(std::time::Duration::from_secs(60), dead.recv())
            .await
            .expect("a dead letter in time")
            .expect("open")
            .expect("received");
        dead.ack(&d).await.expect("acked");
        let h = &d.envelope.headers;
        assert_eq!(h.get(headers::DLQ_TOPIC), Some(topic), "{h:?}");
        assert!(h.get(headers::DLQ_OFFSET).is_some(), "{h:?}");
        reasons.push(h.get(headers::DLQ_ERROR).unwrap_or_default().to_owned());
    }
    reasons
}
