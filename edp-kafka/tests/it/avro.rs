//! Bad Avro on Kafka: a wrong magic byte, an unknown schema id and truncated data
//! each land in the dead-letter topic with the reason; the consumer goes on and
//! commits past them.

use bytes::Bytes;
use edp_avro::{AvroCodec, CONTENT_TYPE, SchemaRegistryClient, wire};
use edp_core::codec::Codec;
use edp_core::error::BoxError;
use edp_core::transport::{SubscribeOptions, Subscriber, Transport};
use edp_core::{AvroSchema, Context, Envelope, Event, Service};
use edp_schema_registry::EmbeddedRegistry;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event, AvroSchema)]
#[event(name = "test.reading", version = 1, topic = "readings", key = sensor, avro)]
#[avro(name = "Reading", namespace = "edp.test")]
struct Reading {
    sensor: String,
    value: i64,
}

fn raw(data: impl Into<Bytes>) -> Envelope {
    Envelope::builder(Reading::NAME, data)
        .source("a-buggy-producer")
        .datacontenttype(CONTENT_TYPE)
        .subject("s-1")
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_avro_is_dead_lettered_with_the_reason_and_the_consumer_goes_on() {
    let kafka = crate::client();
    let registry = EmbeddedRegistry::start("127.0.0.1:0").await.unwrap();
    let codec = AvroCodec::new(SchemaRegistryClient::new(&registry.url()).unwrap());
    let topic = format!("readings-{}", uuid::Uuid::now_v7().simple());
    let group = format!("avro-{}", uuid::Uuid::now_v7().simple());
    let dead = kafka
        .subscribe(SubscribeOptions::new(
            format!("{group}-dlq"),
            [format!("{topic}.dlq")],
        ))
        .await
        .unwrap();
    let (tx, mut handled) = mpsc::unbounded_channel();
    let running = Service::builder(group, kafka.clone())
        .codec(codec.clone())
        .topic(topic.clone())
        .handler_with(
            tx,
            |tx: mpsc::UnboundedSender<Reading>, _ctx: Context<AvroCodec>, r: Reading| async move {
                let _ = tx.send(r);
                Ok::<(), BoxError>(())
            },
        )
        .build()
        .start()
        .await
        .unwrap();

    let first = Reading {
        sensor: "s-1".into(),
        value: 1,
    };
    let last = Reading {
        sensor: "s-1".into(),
        value: 2,
    };
    codec.prepare_encode::<Reading>().unwrap().await.unwrap();
    let good = codec.encode(&first).unwrap();
    let mut wrong_magic = good.to_vec();
    wrong_magic[0] = 1;
    let mut unknown_id = wire::header(7_777).to_vec();
    unknown_id.extend_from_slice(&good[5..]);
    let truncated = good.slice(..good.len() - 1);
    let batch = vec![
        raw(good),
        raw(wrong_magic),
        raw(unknown_id),
        raw(truncated),
        raw(codec.encode(&last).unwrap()),
    ];
    kafka.publish(&topic, batch).await.unwrap();

    let (got1, got2) = (
        crate::next(&mut handled).await,
        crate::next(&mut handled).await,
    );
    assert_eq!((got1, got2), (first, last), "the good ones, in order");

    let reasons = crate::dead_letters(&dead, &topic, 3).await;
    for expected in [
        "wrong magic byte 1",
        "unknown schema id 7777",
        "truncated Avro data",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(expected)),
            "no dead letter says `{expected}`: {reasons:?}"
        );
    }
    running.shutdown().await.unwrap();
    dead.close().await.unwrap();
    registry.shutdown().await.unwrap();
}
