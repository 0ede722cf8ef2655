//! The codec's prepare hooks: called before encoding and decoding, permanent failures
//! dead-lettered, transient ones redelivered.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use edp_core::codec::{DecodeError, EncodeError, PrepareError, PrepareFuture};
use edp_core::error::BoxError;
use edp_core::event::headers;
use edp_core::handler::Status;
use edp_core::testkit::{TestBus, outcome_of};
use edp_core::{Codec, Context, Envelope, Event, JsonCodec, Publisher, Service};

use crate::Ping;

const WAIT: Duration = Duration::from_secs(30);

/// JSON, plus prepare hooks scripted by the envelope's `prep` header: `unknown` fails
/// for good, `down` fails while `down_left` is above zero.
#[derive(Clone, Default)]
struct Gated {
    encode_prepared: Arc<AtomicU32>,
    decode_prepares: Arc<AtomicU32>,
    down_left: Arc<AtomicU32>,
}

impl Codec for Gated {
    fn content_type(&self) -> &'static str {
        "application/json"
    }
    fn encode<E: Event>(&self, event: &E) -> Result<bytes::Bytes, EncodeError> {
        assert!(
            self.encode_prepared.load(Ordering::SeqCst) > 0,
            "encode before prepare_encode"
        );
        JsonCodec.encode(event)
    }
    fn decode<E: Event>(&self, envelope: &Envelope) -> Result<E, DecodeError> {
        JsonCodec.decode(envelope)
    }
    fn prepare_encode<E: Event>(&self) -> Option<PrepareFuture> {
        if self.encode_prepared.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let done = self.encode_prepared.clone();
        Some(Box::pin(async move {
            done.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }))
    }
    fn prepare_decode(&self, envelope: &Envelope) -> Option<PrepareFuture> {
        let mode = envelope.headers.get("prep")?.to_owned();
        self.decode_prepares.fetch_add(1, Ordering::SeqCst);
        let down_left = self.down_left.clone();
        let version = envelope.dataversion;
        Some(Box::pin(async move {
            match mode.as_str() {
                "unknown" => Err(PrepareError::Decode(DecodeError {
                    event_type: "test.ping".into(),
                    version,
                    reason: "unknown schema id 42".into(),
                })),
                "down" if down_left.load(Ordering::SeqCst) > 0 => {
                    down_left.fetch_sub(1, Ordering::SeqCst);
                    Err(PrepareError::Unavailable {
                        what: "schema registry at http://127.0.0.1:1".into(),
                        source: "connection refused".into(),
                    })
                }
                _ => Ok(()),
            }
        }))
    }
}

async fn ok(_ctx: Context<Gated>, _ping: Ping) -> Result<(), BoxError> {
    Ok(())
}

fn ping(n: u32, prep: &str) -> Envelope {
    let data = serde_json::to_vec(&Ping { key: "a".into(), n }).unwrap();
    Envelope::builder(Ping::NAME, data)
        .subject("a")
        .header("prep", prep)
        .build()
}

#[tokio::test]
async fn the_publisher_prepares_once_and_then_encodes_synchronously() {
    let bus = TestBus::new();
    let mut pings = bus.record(["pings"]).await;
    let codec = Gated::default();
    let publisher = Publisher::with_codec("test", bus.transport(), codec.clone());
    for n in 0..3 {
        publisher
            .publish(&Ping { key: "a".into(), n })
            .await
            .unwrap();
    }
    assert_eq!(pings.collect(3, WAIT).await.len(), 3);
    assert_eq!(codec.encode_prepared.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_permanent_prepare_failure_is_dead_lettered_and_the_consumer_goes_on() {
    let bus = TestBus::new();
    let mut dlq = bus.record(["pings.dlq"]).await;
    let codec = Gated::default();
    let mut b = Service::builder("pinger", bus.transport())
        .codec(codec.clone())
        .handler_named("ok", ok);
    let mut outcomes = b.observe();
    let _svc = bus.start(b.build()).await;

    let bad = ping(1, "unknown");
    let (bad_id, good) = (bad.id, ping(2, "ok"));
    let good_id = good.id;
    bus.publish_raw("pings", bad).await;
    bus.publish_raw("pings", good).await;

    let o = outcome_of(&mut outcomes, bad_id, WAIT).await.unwrap();
    assert!(matches!(o.status, Status::DeadLettered { .. }), "{o:?}");
    let o = outcome_of(&mut outcomes, good_id, WAIT).await.unwrap();
    assert_eq!(o.status, Status::Handled);
    let env = dlq.next(WAIT).await.unwrap();
    assert_eq!(env.id, bad_id);
    let error = env.headers.get(headers::DLQ_ERROR).unwrap();
    assert!(error.contains("unknown schema id 42"), "{error}");
    assert_eq!(env.headers.get(headers::DLQ_HANDLER), Some("ok"));
    assert_eq!(codec.decode_prepares.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_unavailable_registry_is_redelivered_not_dead_lettered() {
    let bus = TestBus::new();
    let mut dlq = bus.record(["pings.dlq"]).await;
    let codec = Gated::default();
    codec.down_left.store(2, Ordering::SeqCst);
    let mut b = Service::builder("pinger", bus.transport())
        .codec(codec.clone())
        .handler_named("ok", ok);
    let mut outcomes = b.observe();
    let _svc = bus.start(b.build()).await;

    let env = ping(1, "down");
    let id = env.id;
    bus.publish_raw("pings", env).await;
    let mut statuses = Vec::new();
    while statuses.last() != Some(&Status::Handled) {
        statuses.push(outcome_of(&mut outcomes, id, WAIT).await.unwrap().status);
    }
    assert_eq!(statuses.len(), 3, "{statuses:?}");
    for s in &statuses[..2] {
        match s {
            Status::Nacked { error } => assert!(
                error.contains("schema registry at http://127.0.0.1:1 is unavailable"),
                "{error}"
            ),
            other => panic!("expected a nack, got {other:?}"),
        }
    }
    assert!(dlq.quiet_for(Duration::from_millis(200)).await.is_empty());
}
