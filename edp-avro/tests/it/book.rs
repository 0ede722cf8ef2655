//! The samples of the book's Avro chapter, compiled and run.

use ecommerce_contracts::OrderPlaced;
use edp_avro::{AvroCodec, PerTopic, SchemaRegistryClient, SubjectNameStrategy};
use edp_core::error::BoxError;
use edp_core::handler::Status;
use edp_core::transport::memory::MemoryTransport;
use edp_core::{Context, Publisher, Service};
use edp_schema_registry::EmbeddedRegistry;

use crate::placed;

// ANCHOR: handler
async fn charge(_ctx: Context<AvroCodec>, order: OrderPlaced) -> Result<(), BoxError> {
    tracing::info!(order = %order.order_id, coupon = ?order.coupon, "charging");
    Ok(())
}
// ANCHOR_END: handler

#[tokio::test]
async fn codec_with_a_registry() -> Result<(), BoxError> {
    // ANCHOR: codec
    // Confluent's registry in production; the embedded one in tests and dev.
    let registry = EmbeddedRegistry::start("127.0.0.1:0").await?;
    let codec = AvroCodec::new(SchemaRegistryClient::new(&registry.url())?)
        .subject_name_strategy(SubjectNameStrategy::TopicRecordName);

    let transport = MemoryTransport::new();
    let mut payment = Service::builder("payment", transport.clone())
        .codec(codec.clone())
        .handler(charge)
        .build();
    let mut outcomes = payment.observe();
    let running = payment.start().await?;

    let publisher = Publisher::with_codec("order", transport, codec);
    publisher.publish(&placed(Some("SPRING"))).await?; // registers the schema once
    // ANCHOR_END: codec
    assert_eq!(outcomes.recv().await?.status, Status::Handled);
    assert_eq!(
        registry.registry().subjects(),
        ["orders-ecommerce.order.OrderPlaced"]
    );
    running.shutdown().await?;
    registry.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn json_per_topic() -> Result<(), BoxError> {
    let registry = EmbeddedRegistry::start("127.0.0.1:0").await?;
    // ANCHOR: per_topic
    let avro = AvroCodec::new(SchemaRegistryClient::new(&registry.url())?);
    // `audit` stays JSON; every other topic is Avro. Decoding follows each envelope's
    // datacontenttype, so consumers read both.
    let codec = PerTopic::new(avro).json_topic("audit");
    // ANCHOR_END: per_topic
    assert!(codec.is_json("audit") && !codec.is_json("orders"));
    registry.shutdown().await?;
    Ok(())
}
