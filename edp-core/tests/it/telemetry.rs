//! Telemetry: metrics a service records, trace context on events and HTTP, and the
//! spans edp makes (to an in-memory exporter).
//!
//! One pipeline is installed for the whole test binary (a process has one), with no
//! new trace sampled: each test starts its own sampled (or unsampled) trace and
//! looks only at the spans of that trace.

use std::sync::OnceLock;
use std::time::Duration;

use edp_core::error::BoxError;
use edp_core::middleware::circuit_breaker::{CircuitBreakerConfig, CircuitBreakerLayer};
use edp_core::middleware::retry::{RetryLayer, RetryPolicy};
use edp_core::telemetry::{self, TraceParent, metrics};
use edp_core::transport::memory::MemoryTransport;
use edp_core::transport::{SubscribeOptions, Subscriber, Transport};
use edp_core::{Context, Envelope, Publisher, Service};
use opentelemetry::trace::{SpanId, SpanKind, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use tower::{Service as _, ServiceBuilder, ServiceExt};

use crate::Ping;

fn exporter() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let guard = telemetry::Telemetry::new("edp-core-tests")
            .filter("warn")
            .sample_ratio(0.0)
            .span_exporter(exporter.clone())
            .init()
            .expect("the test pipeline installs");
        std::mem::forget(guard); // for the life of the test binary
        exporter
    })
}

fn spans_of(trace: TraceParent) -> Vec<SpanData> {
    let id = TraceId::from_bytes(trace.trace_id.to_be_bytes());
    exporter()
        .get_finished_spans()
        .expect("spans")
        .into_iter()
        .filter(|s| s.span_context.trace_id() == id)
        .collect()
}

/// The sample `prefix ... value` in the Prometheus text.
fn sample(prefix: &str) -> Option<f64> {
    metrics::render()
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// A service's handler metrics count each outcome by event type; a dead letter and
/// the retries before it are counted too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_outcomes_retries_and_dead_letters_are_counted() {
    let transport = MemoryTransport::new();
    let group = format!("metrics-{}", uuid::Uuid::now_v7().simple());
    let mut service = Service::builder(group.clone(), transport.clone())
        .layer(RetryLayer::new(
            RetryPolicy::default()
                .name(group.clone())
                .max_attempts(3)
                .initial_backoff(Duration::from_millis(1))
                .jitter(false),
        ))
        .handler(|_ctx: Context, p: Ping| async move {
            if p.n == 3 {
                return Err::<(), BoxError>("always fails".into());
            }
            Ok(())
        })
        .build();
    let mut outcomes = service.observe();
    let running = service.start().await.unwrap();
    let publisher = Publisher::new("test", transport.clone());
    for n in 0..5 {
        publisher
            .publish(&Ping { key: "k".into(), n })
            .await
            .unwrap();
    }
    for _ in 0..5 {
        outcomes.recv().await.unwrap();
    }
    running.shutdown().await.unwrap();

    let labels = |outcome: &str| {
        format!(
            "edp_handler_duration_seconds_count{{event_type=\"test.ping\",group=\"{group}\",outcome=\"{outcome}\"}}"
        )
    };
    assert_eq!(sample(&labels("handled")), Some(4.0));
    assert_eq!(sample(&labels("dead_lettered")), Some(1.0));
    assert_eq!(
        sample(&format!(
            "edp_dead_letters_total{{event_type=\"test.ping\",group=\"{group}\"}}"
        )),
        Some(1.0)
    );
    assert_eq!(
        sample(&format!("edp_retries_total{{policy=\"{group}\"}}")),
        Some(2.0),
        "3 attempts are 2 retries"
    );
    assert_eq!(
        sample(&format!("edp_handler_in_flight{{group=\"{group}\"}}")),
        Some(0.0)
    );
}

/// A breaker's state is a gauge, and each transition is counted.
#[tokio::test]
async fn circuit_breaker_state_is_a_gauge() {
    let name = format!("breaker-{}", uuid::Uuid::now_v7().simple());
    let layer = CircuitBreakerLayer::new(
        CircuitBreakerConfig::default()
            .name(name.clone())
            .tolerate_consecutive_failures(1)
            .open_for(Duration::from_secs(60)),
    );
    let state = format!("edp_circuit_breaker_state{{breaker=\"{name}\"}}");
    assert_eq!(sample(&state), Some(0.0), "a new breaker is closed");
    let mut svc = ServiceBuilder::new()
        .layer(layer)
        .service_fn(|()| async { Err::<(), BoxError>("down".into()) });
    for _ in 0..2 {
        let _ = svc.ready().await.unwrap().call(()).await;
    }
    assert_eq!(sample(&state), Some(1.0), "open");
    assert_eq!(
        sample(&format!(
            "edp_circuit_breaker_transitions_total{{breaker=\"{name}\",to=\"open\"}}"
        )),
        Some(1.0)
    );
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, edp_core::Event)]
#[event(name = "test.pong", topic = "pongs")]
struct Pong {
    n: u32,
}

/// Runs a service that answers each ping with a pong, sends one ping carrying
/// `traceparent`, and returns the pong's envelope.
async fn ping_pong(traceparent: &str) -> Envelope {
    let transport = MemoryTransport::new();
    let pongs = transport
        .subscribe(SubscribeOptions::new("probe", ["pongs"]))
        .await
        .unwrap();
    let running = Service::builder("ponger", transport.clone())
        .handler(|ctx: Context, p: Ping| async move {
            ctx.publish(&Pong { n: p.n }).await?;
            Ok::<(), BoxError>(())
        })
        .build()
        .start()
        .await
        .unwrap();
    let publisher = Publisher::new("test", transport.clone());
    let mut env = publisher
        .envelope(
            &Ping {
                key: "k".into(),
                n: 1,
            },
            None,
        )
        .unwrap();
    env.headers.insert("traceparent", traceparent);
    publisher.send("pings", vec![env]).await.unwrap();
    let d = tokio::time::timeout(Duration::from_secs(10), pongs.recv())
        .await
        .expect("a pong in time")
        .expect("open")
        .expect("received");
    pongs.ack(&d).await.unwrap();
    running.shutdown().await.unwrap();
    (*d.envelope).clone()
}

/// A sampled trace: the event gets `send`, `receive` and `process` spans, each the
/// parent of the next, all in the caller's trace, and the event the handler
/// publishes continues the trace from the `process` span (through its own `send`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampled_trace_goes_through_the_handler_with_linked_spans() {
    exporter();
    let caller = TraceParent::random(true);
    let pong = ping_pong(&caller.to_string()).await;
    let out = TraceParent::parse(pong.headers.get("traceparent").expect("the pong is traced"))
        .expect("a valid traceparent");
    assert_eq!(
        out.trace_id, caller.trace_id,
        "the pong is in the caller's trace"
    );
    assert!(out.sampled());

    let spans = spans_of(caller);
    let named =
        |name: &str| -> Vec<&SpanData> { spans.iter().filter(|s| s.name == name).collect() };
    let [send] = named("send pings")[..] else {
        panic!("one send span: {spans:#?}")
    };
    let [receive] = named("receive pings")[..] else {
        panic!("one receive span")
    };
    let [process] = named("process pings")[..] else {
        panic!("one process span")
    };
    let [send_pong] = named("send pongs")[..] else {
        panic!("the pong's send span")
    };
    assert_eq!(
        send.parent_span_id,
        SpanId::from_bytes(caller.span_id.to_be_bytes())
    );
    assert_eq!(send.span_kind, SpanKind::Producer);
    assert_eq!(receive.parent_span_id, send.span_context.span_id());
    assert_eq!(receive.span_kind, SpanKind::Consumer);
    assert_eq!(process.parent_span_id, receive.span_context.span_id());
    assert_eq!(send_pong.parent_span_id, process.span_context.span_id());
    assert_eq!(
        out.span_id,
        u64::from_be_bytes(send_pong.span_context.span_id().to_bytes()),
        "the pong names its send span"
    );
    let attr = |s: &SpanData, k: &str| {
        s.attributes
            .iter()
            .find(|kv| kv.key.as_str() == k)
            .map(|kv| kv.value.as_str().into_owned())
    };
    assert_eq!(
        attr(process, "messaging.system").as_deref(),
        Some("edp_memory")
    );
    assert_eq!(
        attr(process, "messaging.operation.type").as_deref(),
        Some("process")
    );
    assert_eq!(
        attr(process, "messaging.consumer.group.name").as_deref(),
        Some("ponger")
    );
    assert_eq!(
        attr(process, "messaging.destination.name").as_deref(),
        Some("pings")
    );
}

/// An unsampled trace makes no span, and its context goes on unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsampled_trace_makes_no_span_and_passes_through() {
    exporter();
    let caller = TraceParent::random(false);
    let pong = ping_pong(&caller.to_string()).await;
    assert_eq!(
        pong.headers.get("traceparent"),
        Some(caller.to_string().as_str())
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(spans_of(caller).is_empty(), "{:?}", spans_of(caller));
}

/// The HTTP server layer continues a sampled caller's trace with a `server` span,
/// which is current while the request is handled: an envelope made there continues
/// it. Metrics count the request by route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_layer_continues_the_trace_into_events() {
    exporter();
    let caller = TraceParent::random(true);
    let route = format!("/r/{}", uuid::Uuid::now_v7().simple());
    let r = route.clone();
    let mut svc = ServiceBuilder::new()
        .layer(telemetry::http::ServerLayer::new().route(move |_| Some(r.clone())))
        .service_fn(|_req: http::Request<()>| async {
            let mut env = Envelope::builder("test.ping", b"{}".to_vec()).build();
            telemetry::stamp(&mut env, None);
            let tp = env
                .headers
                .get("traceparent")
                .unwrap_or_default()
                .to_owned();
            Ok::<_, std::convert::Infallible>(http::Response::new(tp))
        });
    let req = http::Request::builder()
        .method("POST")
        .uri("/r/1")
        .header("traceparent", caller.to_string())
        .body(())
        .unwrap();
    let res = svc.ready().await.unwrap().call(req).await.unwrap();
    let inner = TraceParent::parse(res.body()).expect("the envelope got the request's trace");
    let spans = spans_of(caller);
    let server = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Server)
        .expect("a server span");
    assert_eq!(server.name, format!("POST {route}"));
    assert_eq!(
        server.parent_span_id,
        SpanId::from_bytes(caller.span_id.to_be_bytes())
    );
    assert_eq!(inner.trace_id, caller.trace_id);
    assert_eq!(
        inner.span_id,
        u64::from_be_bytes(server.span_context.span_id().to_bytes())
    );
    assert_eq!(
        sample(&format!(
            "http_server_request_duration_seconds_count{{method=\"POST\",route=\"{route}\",status=\"200\"}}"
        )),
        Some(1.0)
    );
}

/// The HTTP client layer sends the current trace on: inside a sampled server span, an
/// outgoing request gets a `client` span of that trace and names it in
/// `traceparent`; with no current trace, nothing is added.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_client_layer_sends_the_trace_on() {
    exporter();
    let client = ServiceBuilder::new()
        .layer(telemetry::http::ClientLayer::new())
        .service_fn(|req: http::Request<()>| async move {
            let tp = req
                .headers()
                .get("traceparent")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            Ok::<_, std::convert::Infallible>(http::Response::new(tp))
        });
    let outside = client
        .clone()
        .oneshot(http::Request::new(()))
        .await
        .unwrap();
    assert_eq!(outside.body(), "", "no trace, no header");

    let caller = TraceParent::random(true);
    let mut server = ServiceBuilder::new()
        .layer(telemetry::http::ServerLayer::new())
        .service_fn(move |_req: http::Request<()>| {
            let client = client.clone();
            async move {
                let res = client
                    .oneshot(http::Request::get("http://upstream/x").body(()).unwrap())
                    .await?;
                Ok::<_, std::convert::Infallible>(res)
            }
        });
    let req = http::Request::builder()
        .uri("/in")
        .header("traceparent", caller.to_string())
        .body(())
        .unwrap();
    let res = server.ready().await.unwrap().call(req).await.unwrap();
    let sent = TraceParent::parse(res.body()).expect("the upstream got a traceparent");
    assert_eq!(sent.trace_id, caller.trace_id);
    let spans = spans_of(caller);
    let client_span = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Client)
        .expect("a client span");
    let server_span = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Server)
        .expect("a server span");
    assert_eq!(
        client_span.parent_span_id,
        server_span.span_context.span_id()
    );
    assert_eq!(
        sent.span_id,
        u64::from_be_bytes(client_span.span_context.span_id().to_bytes())
    );
}
