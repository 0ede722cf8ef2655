//! One encoder makes every envelope: a publisher's, a handler's, the saga engine's
//! commands and dead letters carry the fields the `Encoder` gives for the same cause
//! (source, content type, version, key, correlation, causation, trace context). The
//! outbox's side is in edp-sql's tests.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use edp_core::codec::{DecodeError, EncodeError, JsonCodec, PrepareError, PrepareFuture};
use edp_core::event::headers::{CAUSATION_ID, CORRELATION_ID, TRACEPARENT, TRACESTATE};
use edp_core::event::{Cause, DynEvent, Encoder};
use edp_core::handler::Message;
use edp_core::middleware::dead_letter::{DeadLetterPolicy, send_dead_letter};
use edp_core::saga::doc_trip::{Booked, Trip};
use edp_core::saga::{MemorySagaStore, SagaEngine, SagaError, SagaStatus};
use edp_core::transport::memory::MemoryTransport;
use edp_core::{Codec, Context, Envelope, Event, Publisher};
use tokio_util::sync::CancellationToken;

use crate::Ping;

const TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The event being handled: from another service, in a trace, part of request
/// `req-1`.
fn parent() -> Envelope {
    Envelope::builder("test.cause", &b"{}"[..])
        .source("upstream")
        .header(CORRELATION_ID, "req-1")
        .header(CAUSATION_ID, "req-1")
        .header(TRACEPARENT, TRACE)
        .header(TRACESTATE, "vendor=1")
        .build()
}

fn encoder() -> Encoder {
    Encoder::new("billing", JsonCodec)
}

/// `made` has the fields of `expected` (ids and times aside).
#[track_caller]
fn assert_same(made: &Envelope, expected: &Envelope) {
    assert_eq!(made.source, expected.source, "source");
    assert_eq!(made.event_type, expected.event_type, "type");
    assert_eq!(
        made.datacontenttype, expected.datacontenttype,
        "content type"
    );
    assert_eq!(made.dataversion, expected.dataversion, "version");
    assert_eq!(made.subject, expected.subject, "key");
    assert_eq!(
        made.correlation_id(),
        expected.correlation_id(),
        "correlation"
    );
    assert_eq!(made.causation_id(), expected.causation_id(), "causation");
    for h in [TRACEPARENT, TRACESTATE] {
        assert_eq!(made.headers.get(h), expected.headers.get(h), "{h}");
    }
    assert_eq!(made.data, expected.data, "payload");
}

fn ping() -> Ping {
    Ping {
        key: "k-1".into(),
        n: 7,
    }
}

#[tokio::test]
async fn a_publisher_and_a_handler_publish_what_the_encoder_makes() {
    let transport = MemoryTransport::new();
    let publisher = Publisher::with_encoder(transport.clone(), encoder());

    publisher
        .publish_correlated(&ping(), "req-9")
        .await
        .unwrap();
    let expected = encoder().encode(&ping(), Cause::request("req-9")).unwrap();
    let published = transport.retained("pings");
    assert_same(&published[0], &expected);
    assert_eq!(published[0].correlation_id(), "req-9");
    assert_eq!(published[0].source, "billing");

    let parent = parent();
    let ctx = Context::new(
        Message::new(parent.clone(), "causes"),
        publisher,
        CancellationToken::new(),
    );
    ctx.publish(&ping()).await.unwrap();
    let expected = encoder().encode(&ping(), Cause::event(&parent)).unwrap();
    let published = transport.retained("pings");
    assert_same(&published[1], &expected);
    assert_eq!(published[1].correlation_id(), "req-1");
    assert_eq!(
        published[1].causation_id(),
        Some(parent.id.to_string().as_str())
    );
    assert_eq!(published[1].headers.get(TRACEPARENT), Some(TRACE));
}

#[tokio::test]
async fn saga_commands_are_what_the_encoder_makes_with_the_saga_as_correlation() {
    let transport = MemoryTransport::new();
    let engine =
        SagaEngine::<Trip, _>::new(MemorySagaStore::new(transport.clone())).encoder(encoder());
    let parent = parent();
    let id = uuid::Uuid::now_v7();
    engine
        .start(id, Trip::default(), Some(&parent))
        .await
        .unwrap();

    let saga = id.to_string();
    let expected = encoder()
        .encode(
            &Booked {
                what: "book_hotel".into(),
            },
            Cause::event(&parent).correlation(&saga),
        )
        .unwrap();
    let sent = transport.retained("trips");
    assert_eq!(sent.len(), 2, "hotel and flight at once");
    assert_same(&sent[0], &expected);
    assert_eq!(sent[0].source, "billing");
    assert_eq!(sent[0].correlation_id(), saga);
    assert_eq!(sent[0].causation_id(), Some(parent.id.to_string().as_str()));
    assert_eq!(sent[0].headers.get(TRACEPARENT), Some(TRACE));
}

#[tokio::test]
async fn without_an_encoder_saga_commands_are_json_from_the_saga() {
    let transport = MemoryTransport::new();
    let engine = SagaEngine::<Trip, _>::new(MemorySagaStore::new(transport.clone()));
    engine
        .start(uuid::Uuid::now_v7(), Trip::default(), None)
        .await
        .unwrap();
    let sent = transport.retained("trips");
    assert_eq!(sent[0].source, "trip");
    assert_eq!(sent[0].datacontenttype, "application/json");
    assert_eq!(sent[0].causation_id(), None);
}

#[tokio::test]
async fn a_dead_letter_is_the_event_forwarded_by_the_encoder() {
    let transport = MemoryTransport::new();
    let publisher = Publisher::with_encoder(transport.clone(), encoder());
    let parent = parent();
    let msg = Message::new(parent.clone(), "causes");
    let err = "poison".into();
    send_dead_letter(&publisher, &DeadLetterPolicy::default(), &msg, &err)
        .await
        .unwrap();

    let dead = &transport.retained("causes.dlq")[0];
    // The event as it was, so that it can be replayed: its own source and ids.
    assert_same(dead, &encoder().forward(&parent));
    assert_same(dead, &parent);
    assert_eq!(dead.id, parent.id);
    assert_eq!(dead.headers.get("dlqerror"), Some("poison"));
}

/// JSON, but each event type must be prepared first (as Avro registers its schema),
/// and preparing can be refused for good or fail for now.
#[derive(Clone, Default)]
struct Gated {
    ready: Arc<Mutex<HashSet<&'static str>>>,
    prepares: Arc<AtomicUsize>,
    refuse: Option<&'static str>,
    down: bool,
}

impl Codec for Gated {
    fn content_type(&self) -> &'static str {
        "application/json"
    }
    fn encode<E: Event>(&self, event: &E) -> Result<Bytes, EncodeError> {
        self.encode_dyn(event)
    }
    fn decode<E: Event>(&self, envelope: &Envelope) -> Result<E, DecodeError> {
        JsonCodec.decode(envelope)
    }
    fn encode_dyn(&self, event: &dyn DynEvent) -> Result<Bytes, EncodeError> {
        if !self.ready.lock().unwrap().contains(event.name()) {
            return Err(EncodeError {
                event_type: event.name(),
                reason: "not prepared".into(),
            });
        }
        JsonCodec.encode_dyn(event)
    }
    fn prepare_encode_dyn(&self, event: &dyn DynEvent) -> Option<PrepareFuture> {
        let name = event.name();
        if self.ready.lock().unwrap().contains(name) {
            return None;
        }
        let this = self.clone();
        Some(Box::pin(async move {
            this.prepares.fetch_add(1, Ordering::SeqCst);
            if this.down {
                return Err(PrepareError::Unavailable {
                    what: "the test registry".into(),
                    source: "connection refused".into(),
                });
            }
            if this.refuse == Some(name) {
                return Err(PrepareError::Encode(EncodeError {
                    event_type: name,
                    reason: "it has no schema".into(),
                }));
            }
            this.ready.lock().unwrap().insert(name);
            Ok(())
        }))
    }
}

fn trips(
    codec: Gated,
    transport: &MemoryTransport,
) -> SagaEngine<Trip, MemorySagaStore<MemoryTransport>> {
    SagaEngine::new(MemorySagaStore::new(transport.clone())).encoder(Encoder::new("travel", codec))
}

#[tokio::test]
async fn commands_the_codec_is_not_ready_for_are_sent_once_it_is() {
    let transport = MemoryTransport::new();
    let codec = Gated::default();
    let engine = trips(codec.clone(), &transport);
    let id = uuid::Uuid::now_v7();
    assert_eq!(
        engine.start(id, Trip::default(), None).await.unwrap(),
        SagaStatus::Running
    );
    let sent = transport.retained("trips");
    assert_eq!(sent.len(), 2, "hotel and flight, each once");
    assert_eq!(
        codec.prepares.load(Ordering::SeqCst),
        1,
        "one type, prepared once"
    );
    let view = engine.get(id).await.unwrap().unwrap();
    assert_eq!(
        view.history.iter().filter(|h| h.what == "started").count(),
        1,
        "{:?}",
        view.history
    );
}

#[tokio::test]
async fn a_command_type_the_codec_refuses_fails_its_step() {
    let transport = MemoryTransport::new();
    let codec = Gated {
        refuse: Some("trip.booked"),
        ..Gated::default()
    };
    let engine = trips(codec, &transport);
    let id = uuid::Uuid::now_v7();
    assert_eq!(
        engine.start(id, Trip::default(), None).await.unwrap(),
        SagaStatus::Compensated
    );
    let view = engine.get(id).await.unwrap().unwrap();
    let reason = view.reason.unwrap_or_default();
    assert!(reason.contains("it has no schema"), "{reason}");
    assert!(transport.retained("trips").is_empty());
}

#[tokio::test]
async fn a_codec_that_cannot_get_ready_fails_the_start_for_a_retry() {
    let transport = MemoryTransport::new();
    let codec = Gated {
        down: true,
        ..Gated::default()
    };
    let engine = trips(codec, &transport);
    let id = uuid::Uuid::now_v7();
    let err = engine.start(id, Trip::default(), None).await.unwrap_err();
    match &err {
        SagaError::Codec(e) => assert!(e.is_transient(), "{e}"),
        other => panic!("{other}"),
    }
    assert!(engine.get(id).await.unwrap().is_none(), "nothing stored");
}
