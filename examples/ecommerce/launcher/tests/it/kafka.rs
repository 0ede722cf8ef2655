//! The same system on Kafka, by configuration alone: the demo of 100 orders ends in
//! the same final states as on the in-memory bus, with JSON and with Avro (the saga's
//! commands included).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use ecommerce::{DemoOptions, DemoReport};
use ecommerce_contracts::{
    AuthorizePayment, CancelOrder, ConfirmOrder, ReleaseStock, ReserveStock, VoidPayment,
};
use edp_core::Event;
use edp_core::transport::{SubscribeOptions, Subscriber, Transport};
use edp_kafka::KafkaTransport;
use edp_kafka::testkit::Broker;
use edp_schema_registry::Registry;

use crate::PATIENCE;

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
    // Every event type the demo publishes went through the registry: six events and
    // five of the placement saga's commands (no stock-outs, so no `StockRejected`; no
    // late payment answers, so no `VoidPayment`).
    let subjects = registry.registry().subjects();
    assert_eq!(subjects.len(), 11, "{subjects:?}");
    saga_commands_are_avro_records(registry.registry(), &on_kafka).await;
    registry.shutdown().await.unwrap();
}

/// The placement saga's commands for the orders of `report`, read back from Kafka,
/// are Avro in the Confluent wire format: magic byte 0, then the 4-byte id of a schema
/// the registry knows, the command's own.
async fn saga_commands_are_avro_records(registry: &Registry, report: &DemoReport) {
    let schemas: HashMap<&str, Option<String>> = HashMap::from([
        (ReserveStock::NAME, ReserveStock::avro_schema()),
        (ReleaseStock::NAME, ReleaseStock::avro_schema()),
        (AuthorizePayment::NAME, AuthorizePayment::avro_schema()),
        (VoidPayment::NAME, VoidPayment::avro_schema()),
        (ConfirmOrder::NAME, ConfirmOrder::avro_schema()),
        (CancelOrder::NAME, CancelOrder::avro_schema()),
    ]);
    let orders: HashSet<&str> = report.orders.iter().map(|o| o.id.as_str()).collect();
    let topics = [
        ReserveStock::TOPIC,
        AuthorizePayment::TOPIC,
        ConfirmOrder::TOPIC,
    ];
    let reader = kafka();
    let group = format!("avro-commands-{}", uuid::Uuid::now_v7().simple());
    let commands = reader
        .subscribe(SubscribeOptions::new(group, topics))
        .await
        .expect("a subscription to the command topics");
    let mut checked = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while checked.len() < topics.len() {
        assert!(
            Instant::now() < deadline,
            "no command of this run read back from {:?}",
            topics
                .iter()
                .filter(|t| !checked.contains(**t))
                .collect::<Vec<_>>()
        );
        let Ok(Some(Ok(record))) = tokio::time::timeout(PATIENCE, commands.recv()).await else {
            continue;
        };
        let command = &record.envelope;
        if !command.key().is_some_and(|k| orders.contains(k)) {
            continue; // a record of another run on the shared broker
        }
        let what = format!("`{}` on {}", command.event_type, record.topic);
        assert_eq!(command.datacontenttype, "application/avro", "{what}");
        assert_eq!(command.data.first(), Some(&0), "{what}: the magic byte");
        let id = command
            .data
            .get(1..5)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .expect("a schema id after the magic byte");
        let registered = registry
            .schema(id)
            .unwrap_or_else(|e| panic!("{what}: schema id {id} is not the registry's: {e}"));
        let own = schemas
            .get(&*command.event_type)
            .cloned()
            .flatten()
            .unwrap_or_else(|| panic!("{what} is not a saga command"));
        let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
        assert_eq!(json(&registered), json(&own), "{what}: schema id {id}");
        checked.insert(record.topic.to_string());
    }
    commands.close().await.unwrap();
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
