//! The same system on Kafka, by configuration alone: the demo of 100 orders ends in
//! the same final states as on the in-memory bus, with JSON and with Avro.

use std::time::Duration;

use ecommerce::{DemoOptions, DemoReport};
use edp_kafka::KafkaTransport;
use edp_kafka::testkit::Broker;

fn options() -> DemoOptions {
    DemoOptions::default()
        .orders(100)
        .timeout(Duration::from_secs(120))
}

/// The binary's Kafka client, with test-sized group timings (joins take about a
/// second on test brokers).
fn kafka() -> KafkaTransport {
    let broker = Broker::shared().expect("a Kafka broker for the tests");
    KafkaTransport::connect(broker.config().client_id("ecommerce")).expect("a Kafka client")
}

/// `on_kafka` passed, and every order ended as in an in-memory run of the same demo.
async fn assert_ends_as_in_memory(on_kafka: &DemoReport) {
    assert!(
        on_kafka.is_ok(),
        "{}\n{:?}",
        on_kafka.summary(),
        on_kafka.mismatches()
    );
    let in_memory = ecommerce::demo(options())
        .await
        .expect("the demo runs in memory");
    let ends = |r: &DemoReport| {
        r.orders
            .iter()
            .map(|o| (o.total_cents, o.status, o.notifications.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(ends(on_kafka), ends(&in_memory));
    assert_eq!(on_kafka.notifications, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_on_kafka_ends_as_on_the_in_memory_bus() {
    let on_kafka = ecommerce::demo_on(kafka(), options())
        .await
        .expect("the demo runs on Kafka");
    assert_ends_as_in_memory(&on_kafka).await;
}

/// And with Avro in the Confluent wire format, on a schema registry: configuration
/// again (`--kafka BROKERS --codec avro [--registry URL]`), the same ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_on_kafka_with_avro_ends_as_on_the_in_memory_bus() {
    let (avro, registry) = ecommerce::avro_or_embedded(None).await.expect("a registry");
    let registry = registry.expect("an embedded registry");
    let on_kafka = ecommerce::demo_with(kafka(), avro, options())
        .await
        .expect("the demo runs on Kafka with Avro");
    assert_ends_as_in_memory(&on_kafka).await;
    // Every event type the demo publishes went through the registry (the placement
    // saga's commands travel as JSON; the demo has no stock-outs, so no
    // `StockRejected`).
    let subjects = registry.registry().subjects();
    assert_eq!(subjects.len(), 6, "{subjects:?}");
    registry.shutdown().await.unwrap();
}

/// `ecommerce::kafka` is what the binary uses for `--kafka` / `EDP_TRANSPORT=kafka`.
#[test]
fn the_binary_configuration_builds_a_kafka_client() {
    let kafka = ecommerce::kafka("localhost:9092").expect("a client");
    assert_eq!(kafka.config().brokers(), "localhost:9092");
    assert!(
        ecommerce::kafka("").is_ok(),
        "connecting happens in the background"
    );
}
