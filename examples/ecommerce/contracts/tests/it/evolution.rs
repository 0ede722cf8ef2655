//! OrderPlaced v1 -> v2 (an optional `coupon` with default null), end to end through
//! the Avro codec, a schema registry and the in-memory transport: a v1 consumer reads
//! v2 data and a v2 consumer reads v1 data.

use std::time::Duration;

use ecommerce_contracts::{OrderLine, OrderPlaced};
use edp_avro::{AvroCodec, SchemaRegistryClient};
use edp_core::error::BoxError;
use edp_core::testkit::TestBus;
use edp_core::{AvroSchema, Context, Event, Publisher, Service};
use edp_schema_registry::EmbeddedRegistry;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::schema_dir;

const WAIT: Duration = Duration::from_secs(10);

// ANCHOR: order_placed_v1
/// OrderPlaced as version 1 was: what a consumer built before v2 still runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, AvroSchema)]
#[event(name = "order.placed", version = 1, topic = "orders", key = order_id, avro)]
#[avro(name = "OrderPlaced", namespace = "ecommerce.order")]
struct OrderPlacedV1 {
    order_id: String,
    customer_id: String,
    items: Vec<OrderLine>,
    total_cents: u64,
}
// ANCHOR_END: order_placed_v1

fn v2(coupon: Option<&str>) -> OrderPlaced {
    OrderPlaced {
        order_id: "o-1".into(),
        customer_id: "c-1".into(),
        items: vec![OrderLine {
            product_id: "sku-1".into(),
            quantity: 2,
            unit_price_cents: 1500,
        }],
        total_cents: 3000,
        coupon: coupon.map(str::to_owned),
    }
}

fn v1() -> OrderPlacedV1 {
    let v2 = v2(None);
    OrderPlacedV1 {
        order_id: v2.order_id,
        customer_id: v2.customer_id,
        items: v2.items,
        total_cents: v2.total_cents,
    }
}

async fn received<E: Event>(
    tx: mpsc::UnboundedSender<E>,
    _ctx: Context<AvroCodec>,
    event: E,
) -> Result<(), BoxError> {
    tx.send(event)?;
    Ok(())
}

/// A consumer of `E` in its own group, and what it receives.
async fn consumer<E: Event>(
    bus: &TestBus,
    group: &str,
    codec: &AvroCodec,
) -> (
    edp_core::handler::RunningService,
    mpsc::UnboundedReceiver<E>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let service = Service::builder(group, bus.transport())
        .codec(codec.clone())
        .handler_with(tx, received::<E>)
        .build();
    (bus.start(service).await, rx)
}

/// Each service has its own codec (its own caches) on one registry, as separate
/// processes would.
fn codec(registry: &EmbeddedRegistry) -> AvroCodec {
    AvroCodec::new(SchemaRegistryClient::new(&registry.url()).unwrap())
}

#[test]
fn the_v1_stand_in_is_the_committed_v1_schema() {
    let committed = std::fs::read_to_string(schema_dir().join("order.placed.v1.avsc")).unwrap();
    let committed = edp_schema_registry::AvroSchema::parse(&committed).unwrap();
    let ours =
        edp_schema_registry::AvroSchema::parse(&OrderPlacedV1::avro_schema().unwrap()).unwrap();
    assert_eq!(ours.identity(), committed.identity());
}

#[tokio::test]
async fn a_v1_consumer_reads_v2_data_and_a_v2_consumer_reads_it_whole() {
    let registry = EmbeddedRegistry::start("127.0.0.1:0").await.unwrap();
    let bus = TestBus::new();
    let (_old, mut old) =
        consumer::<OrderPlacedV1>(&bus, "notification-v1", &codec(&registry)).await;
    let (_new, mut new) = consumer::<OrderPlaced>(&bus, "payment-v2", &codec(&registry)).await;

    let producer = Publisher::with_codec("order", bus.transport(), codec(&registry));
    producer.publish(&v2(Some("SPRING"))).await.unwrap();

    // The v1 reader skips `coupon`; the rest is intact.
    assert_eq!(
        tokio::time::timeout(WAIT, old.recv()).await.unwrap(),
        Some(v1())
    );
    assert_eq!(
        tokio::time::timeout(WAIT, new.recv()).await.unwrap(),
        Some(v2(Some("SPRING")))
    );
    registry.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_v2_consumer_reads_v1_data_with_the_default() {
    let registry = EmbeddedRegistry::start("127.0.0.1:0").await.unwrap();
    let bus = TestBus::new();
    let (_new, mut new) = consumer::<OrderPlaced>(&bus, "payment-v2", &codec(&registry)).await;
    let mut raw = bus.record(["orders"]).await;

    // A producer still on v1, then one on v2: both register under one subject, the
    // registry checks v2 against v1 (BACKWARD), and the ids differ.
    let old_producer = Publisher::with_codec("order-v1", bus.transport(), codec(&registry));
    old_producer.publish(&v1()).await.unwrap();
    let new_producer = Publisher::with_codec("order-v2", bus.transport(), codec(&registry));
    new_producer.publish(&v2(Some("SPRING"))).await.unwrap();

    assert_eq!(
        tokio::time::timeout(WAIT, new.recv()).await.unwrap(),
        Some(v2(None))
    );
    assert_eq!(
        tokio::time::timeout(WAIT, new.recv()).await.unwrap(),
        Some(v2(Some("SPRING")))
    );
    let subject = "orders-ecommerce.order.OrderPlaced";
    assert_eq!(registry.registry().versions(subject).unwrap(), [1, 2]);
    let first = raw.next(WAIT).await.unwrap();
    let second = raw.next(WAIT).await.unwrap();
    assert_eq!(first.datacontenttype, "application/avro");
    assert_ne!(
        first.data[1..5],
        second.data[1..5],
        "each version has its id"
    );
    registry.shutdown().await.unwrap();
}

/// The same, end to end on Kafka: a v1 and a v2 producer, a v1 and a v2 consumer, one
/// registry. Each consumer reads both versions, in order (one key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_versions_meet_on_kafka() {
    let broker = edp_kafka::testkit::Broker::shared().expect("a Kafka broker for the tests");
    let kafka = edp_kafka::KafkaTransport::connect(broker.config()).expect("a Kafka client");
    let registry = EmbeddedRegistry::start("127.0.0.1:0").await.unwrap();
    let unique = |name: &str| format!("{name}-{}", uuid::Uuid::now_v7().simple());

    let start = |group: String, codec: AvroCodec| {
        let kafka = kafka.clone();
        async move {
            let (tx1, rx1) = mpsc::unbounded_channel::<OrderPlacedV1>();
            let (tx2, rx2) = mpsc::unbounded_channel::<OrderPlaced>();
            let v1 = Service::builder(format!("{group}-v1"), kafka.clone())
                .codec(codec.clone())
                .handler_with(tx1, received::<OrderPlacedV1>)
                .build()
                .start()
                .await
                .unwrap();
            let v2 = Service::builder(format!("{group}-v2"), kafka)
                .codec(codec)
                .handler_with(tx2, received::<OrderPlaced>)
                .build()
                .start()
                .await
                .unwrap();
            (v1, rx1, v2, rx2)
        }
    };
    let (s1, mut old, s2, mut new) = start(unique("evolution"), codec(&registry)).await;

    Publisher::with_codec("order-v1", kafka.clone(), codec(&registry))
        .publish(&v1())
        .await
        .unwrap();
    Publisher::with_codec("order-v2", kafka.clone(), codec(&registry))
        .publish(&v2(Some("SPRING")))
        .await
        .unwrap();

    let patience = Duration::from_secs(60);
    // The v1 consumer reads v1 data, then v2 data without the coupon.
    assert_eq!(
        tokio::time::timeout(patience, old.recv()).await.unwrap(),
        Some(v1())
    );
    assert_eq!(
        tokio::time::timeout(patience, old.recv()).await.unwrap(),
        Some(v1())
    );
    // The v2 consumer reads v1 data with the default, then v2 data whole.
    assert_eq!(
        tokio::time::timeout(patience, new.recv()).await.unwrap(),
        Some(v2(None))
    );
    assert_eq!(
        tokio::time::timeout(patience, new.recv()).await.unwrap(),
        Some(v2(Some("SPRING")))
    );
    s1.shutdown().await.unwrap();
    s2.shutdown().await.unwrap();
    registry.shutdown().await.unwrap();
}
