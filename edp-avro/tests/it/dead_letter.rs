//! Bad input on the in-memory transport: each lands in the dead-letter topic with its
//! reason, and the consumer goes on.

use std::time::Duration;

use bytes::Bytes;
use ecommerce_contracts::OrderPlaced;
use edp_avro::{AvroCodec, CONTENT_TYPE, PerTopic, wire};
use edp_core::codec::Codec;
use edp_core::error::BoxError;
use edp_core::event::headers;
use edp_core::handler::Status;
use edp_core::testkit::{TestBus, outcome_of};
use edp_core::{Context, Envelope, Event, Service};
use edp_schema_registry::EmbeddedRegistry;

use crate::{codec, placed};

const WAIT: Duration = Duration::from_secs(10);

async fn handled<C: Codec>(_ctx: Context<C>, _e: OrderPlaced) -> Result<(), BoxError> {
    Ok(())
}

fn raw(data: impl Into<Bytes>, content_type: &'static str) -> Envelope {
    Envelope::builder(OrderPlaced::NAME, data)
        .datacontenttype(content_type)
        .dataversion(OrderPlaced::VERSION)
        .subject("o-1")
        .build()
}

/// Publishes `bad` then a good event; asserts `bad` is dead-lettered with `reason` and
/// the good one is handled.
async fn dead_lettered<C: Codec>(codec: C, good: Envelope, bad: Envelope, reason: &str) {
    let bus = TestBus::new();
    let mut dlq = bus.record(["orders.dlq"]).await;
    let mut b = Service::builder("payment", bus.transport())
        .codec(codec)
        .handler_named("charge", handled::<C>);
    let mut outcomes = b.observe();
    let _svc = bus.start(b.build()).await;
    let (bad_id, good_id) = (bad.id, good.id);
    bus.publish_raw("orders", bad).await;
    bus.publish_raw("orders", good).await;

    let o = outcome_of(&mut outcomes, bad_id, WAIT).await.unwrap();
    assert!(matches!(o.status, Status::DeadLettered { .. }), "{o:?}");
    let o = outcome_of(&mut outcomes, good_id, WAIT).await.unwrap();
    assert_eq!(o.status, Status::Handled);
    let letter = dlq.next(WAIT).await.unwrap();
    assert_eq!(letter.id, bad_id);
    let error = letter.headers.get(headers::DLQ_ERROR).unwrap();
    assert!(
        error.contains("cannot decode event `order.placed` (schema version 2)"),
        "{error}"
    );
    assert!(error.contains(reason), "expected `{reason}` in: {error}");
    assert_eq!(letter.headers.get(headers::DLQ_HANDLER), Some("charge"));
}

async fn good_payload(server: &EmbeddedRegistry) -> Bytes {
    let producer: AvroCodec = codec(server);
    producer
        .prepare_encode::<OrderPlaced>()
        .unwrap()
        .await
        .unwrap();
    producer.encode(&placed(None)).unwrap()
}

#[tokio::test]
async fn a_wrong_magic_byte_is_dead_lettered() {
    let server = EmbeddedRegistry::start("127.0.0.1:0").await.unwrap();
    let good = good_payload(&server).await;
    let mut bad = good.to_vec();
    bad[0] = 1;
    dead_lettered(
        codec(&server),
        raw(good, CONTENT_TYPE),
        raw(bad, CONTENT_TYPE),
        "wrong magic byte 1",
    )
    .await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_unknown_schema_id_is_dead_lettered() {
    let server = EmbeddedRegistry::start("127.0.0.1:0").await.unwrap();
    let good = good_payload(&server).await;
    let mut bad = wire::header(77).to_vec();
    bad.extend_from_slice(&good[5..]);
    dead_lettered(
        codec(&server),
        raw(good, CONTENT_TYPE),
        raw(bad, CONTENT_TYPE),
        "unknown schema id 77: the schema registry at",
    )
    .await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn truncated_avro_is_dead_lettered() {
    let server = EmbeddedRegistry::start("127.0.0.1:0").await.unwrap();
    let good = good_payload(&server).await;
    let bad = good.slice(..good.len() - 6);
    dead_lettered(
        codec(&server),
        raw(good, CONTENT_TYPE),
        raw(bad, CONTENT_TYPE),
        "truncated Avro data",
    )
    .await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn invalid_json_on_a_json_topic_is_dead_lettered() {
    let server = EmbeddedRegistry::start("127.0.0.1:0").await.unwrap();
    let good = serde_json::to_vec(&placed(None)).unwrap();
    let per_topic = PerTopic::new(codec(&server)).json_topic("orders");
    dead_lettered(
        per_topic,
        raw(good, "application/json"),
        raw(&b"{\"order_id\":"[..], "application/json"),
        "EOF while parsing",
    )
    .await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_registry_is_redelivered_not_dead_lettered() {
    // A registry that answered once, then went away before the consumer asked.
    let server = EmbeddedRegistry::start("127.0.0.1:0").await.unwrap();
    let good = good_payload(&server).await;
    let url = server.url();
    server.shutdown().await.unwrap();
    let consumer = AvroCodec::new(
        edp_avro::SchemaRegistryClient::with_timeout(&url, Duration::from_secs(2)).unwrap(),
    );
    let bus = TestBus::new();
    let mut dlq = bus.record(["orders.dlq"]).await;
    let mut b = Service::builder("payment", bus.transport())
        .codec(consumer)
        .handler_named("charge", handled::<AvroCodec>);
    let mut outcomes = b.observe();
    let svc = bus.start(b.build()).await;
    let env = raw(good, CONTENT_TYPE);
    let id = env.id;
    bus.publish_raw("orders", env).await;
    match outcome_of(&mut outcomes, id, WAIT).await.unwrap().status {
        Status::Nacked { error } => {
            assert!(
                error.contains(&format!("schema registry at {url} is unavailable")),
                "{error}"
            )
        }
        other => panic!("expected a nack, got {other:?}"),
    }
    svc.shutdown().await.unwrap();
    assert!(dlq.quiet_for(Duration::from_millis(100)).await.is_empty());
}
