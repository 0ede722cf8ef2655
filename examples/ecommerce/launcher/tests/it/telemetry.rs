//! Telemetry of the running system: one trace from the HTTP request through every
//! handler (in-memory exporter), OTLP export from the binary to a real receiver built
//! on the opentelemetry-proto definitions, and Prometheus metrics that `promtool`
//! accepts and a real Prometheus server scrapes.

use std::collections::{BTreeSet, HashMap};
use std::process::{Command as Process, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ecommerce_order::OrderStatus;
use edp_core::telemetry::{Telemetry, TraceParent};
use opentelemetry::trace::{SpanId, SpanKind, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};

use crate::{PATIENCE, order_of, start, wait_for_order};

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

/// An order placed with a sampled `traceparent` gives one trace: the HTTP server
/// span continues the caller's, and the publish, receive and process spans of every
/// handler that follows (payment, order, notification) hang from it, each linked to
/// its parent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_spans_the_request_and_every_handler() {
    let exporter = InMemorySpanExporter::default();
    let telemetry = Telemetry::new("ecommerce-test")
        .filter("warn")
        .sample_ratio(0.0) // only the caller's sampled trace is followed
        .span_exporter(exporter.clone())
        .init()
        .expect("telemetry installs");
    let (system, _direct) = start().await;
    // Through the API gateway, as clients call it.
    let front = ecommerce::front(system.local_addr(), crate::ANY_PORT)
        .await
        .expect("the gateway starts");
    let mut client = ecommerce::client::HttpClient::connect(front.local_addr())
        .await
        .expect("client connects");

    let caller = TraceParent::random(true);
    let response = client
        .post_json_with(
            "/api/v1/orders",
            &order_of(12_00),
            &[("traceparent", &caller.to_string())],
        )
        .await
        .expect("POST /v1/orders");
    assert_eq!(response.status, 201, "{}", response.text());
    let order: ecommerce_order::Order = response.json().expect("an order");
    wait_for_order(&system, &order.id, "the order is confirmed", |o| {
        o.status == OrderStatus::Confirmed
    })
    .await;

    // The notification handler is the last one; wait for its process span to end.
    let groups = |spans: &[SpanData]| -> BTreeSet<String> {
        spans
            .iter()
            .filter(|s| s.name == "process orders" || s.name.starts_with("process "))
            .filter_map(|s| attr(s, "messaging.consumer.group.name"))
            .collect()
    };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let spans = loop {
        let spans = exporter.get_finished_spans().expect("spans");
        if groups(&spans).is_superset(
            &["notification", "order", "payment"]
                .map(String::from)
                .into(),
        ) {
            break spans;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no process span of every service after {PATIENCE:?}: {:?}",
            spans.iter().map(|s| s.name.to_string()).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    front.shutdown().await;
    system.shutdown().await.expect("clean shutdown");
    telemetry.shutdown().await;

    let trace = TraceId::from_bytes(caller.trace_id.to_be_bytes());
    let by_id: HashMap<SpanId, &SpanData> = spans
        .iter()
        .map(|s| (s.span_context.span_id(), s))
        .collect();
    // gateway (server) -> gateway's call (client) -> order (server).
    let named = |name: &str| spans.iter().find(|s| s.name == name);
    let gateway = named("POST /api/v1/orders/**").expect("the gateway's server span");
    assert_eq!(gateway.span_kind, SpanKind::Server);
    assert_eq!(
        gateway.span_context.trace_id(),
        trace,
        "the caller's trace goes on"
    );
    assert_eq!(
        gateway.parent_span_id,
        SpanId::from_bytes(caller.span_id.to_be_bytes()),
        "the gateway's span's parent is the caller's span"
    );
    let order = named("POST /v1/orders").expect("the order service's server span");
    let call = by_id[&order.parent_span_id];
    assert_eq!(
        call.span_kind,
        SpanKind::Client,
        "the order span hangs from the gateway's call"
    );
    assert_eq!(call.parent_span_id, gateway.span_context.span_id());
    for span in &spans {
        assert_eq!(
            span.span_context.trace_id(),
            trace,
            "span `{}` is in another trace",
            span.name
        );
        if span.span_context.span_id() == gateway.span_context.span_id()
            || span.span_kind == SpanKind::Client
            || span.span_context.span_id() == order.span_context.span_id()
        {
            continue;
        }
        let parent = by_id
            .get(&span.parent_span_id)
            .unwrap_or_else(|| panic!("the parent of span `{}` was not exported", span.name));
        let expected = match span.name.split(' ').next() {
            Some("process") => "receive",
            Some("receive") => "send",
            Some("send") => "", // the request, or the handler that wrote the outbox row
            other => panic!("unexpected span {other:?}"),
        };
        if expected.is_empty() {
            assert!(
                parent.span_kind == SpanKind::Server || parent.name.starts_with("process "),
                "a send span's parent is `{}`",
                parent.name
            );
        } else {
            assert!(
                parent.name.starts_with(expected),
                "span `{}` has parent `{}`",
                span.name,
                parent.name
            );
        }
        assert!(
            attr(span, "messaging.system").is_some(),
            "{} lacks messaging.system",
            span.name
        );
    }
}

/// A real OTLP receiver: decodes each `ExportTraceServiceRequest` (protobuf, the
/// official opentelemetry-proto definitions) posted to `/v1/traces`.
#[derive(Clone, Default)]
struct Receiver {
    /// (service.name, span) pairs.
    spans: Arc<Mutex<Vec<(String, opentelemetry_proto::tonic::trace::v1::Span)>>>,
}

impl Receiver {
    async fn serve(&self) -> std::net::SocketAddr {
        use axum::routing::post;
        use opentelemetry_proto::tonic::collector::trace::v1::{
            ExportTraceServiceRequest, ExportTraceServiceResponse,
        };
        use prost::Message;
        let me = self.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            post(move |body: bytes::Bytes| {
                let me = me.clone();
                async move {
                    let request = ExportTraceServiceRequest::decode(body)
                        .map_err(|e| (axum::http::StatusCode::BAD_REQUEST, e.to_string()))?;
                    let mut spans = me.spans.lock().unwrap();
                    for rs in request.resource_spans {
                        let service = rs
                            .resource
                            .iter()
                            .flat_map(|r| &r.attributes)
                            .find(|kv| kv.key == "service.name")
                            .and_then(|kv| kv.value.as_ref())
                            .and_then(|v| match &v.value {
                                Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => Some(s.clone()),
                                _ => None,
                            })
                            .unwrap_or_default();
                        for ss in rs.scope_spans {
                            spans.extend(ss.spans.into_iter().map(|s| (service.clone(), s)));
                        }
                    }
                    Ok::<_, (axum::http::StatusCode, String)>((
                        [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")],
                        ExportTraceServiceResponse::default().encode_to_vec(),
                    ))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(crate::ANY_PORT)
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }
}

/// The binary, configured by the environment alone, exports its spans over OTLP/HTTP
/// to a real receiver: every span arrives with the service's resource, and every
/// parent link points at a span that arrived too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exports_spans_over_otlp_with_their_parent_links() {
    let receiver = Receiver::default();
    let addr = receiver.serve().await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ecommerce"))
        .args(["demo", "--orders", "5"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}"))
        .env("OTEL_TRACES_SAMPLER_ARG", "1.0")
        .env("OTEL_SERVICE_NAME", "ecommerce-otlp")
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("the demo runs");
    assert!(
        output.status.success(),
        "the demo failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let spans = receiver.spans.lock().unwrap().clone();
    assert!(!spans.is_empty(), "no span reached the receiver");
    let ids: BTreeSet<(Vec<u8>, Vec<u8>)> = spans
        .iter()
        .map(|(_, s)| (s.trace_id.clone(), s.span_id.clone()))
        .collect();
    let mut traces = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    for (service, span) in &spans {
        assert_eq!(service, "ecommerce-otlp");
        kinds.insert(span.name.split(' ').next().unwrap_or_default().to_owned());
        if span.parent_span_id.is_empty() {
            // Roots are the demo's requests.
            assert!(
                span.name.starts_with("POST /v1/orders") || span.name.starts_with("GET "),
                "root span {}",
                span.name
            );
            traces.insert(span.trace_id.clone());
        } else {
            assert!(
                ids.contains(&(span.trace_id.clone(), span.parent_span_id.clone())),
                "span `{}` names a parent that never arrived",
                span.name
            );
        }
    }
    assert!(traces.len() >= 5, "a trace per order, got {}", traces.len());
    for kind in ["POST", "send", "receive", "process"] {
        assert!(kinds.contains(kind), "no `{kind}` span among {kinds:?}");
    }
}

/// Kills a child process when dropped, so a failed test leaves nothing running.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Percent-encodes a query parameter.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The running binary's `/metrics` passes `promtool check metrics` and carries the
/// handler, outbox, breaker and HTTP metrics; a real Prometheus server scrapes it
/// (and itself) with every target up, and can query what it scraped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_running_system() {
    let port = free_port();
    let _system = Killed(
        Process::new(env!("CARGO_BIN_EXE_ecommerce"))
            .args(["run", "--addr", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("the binary starts"),
    );
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut client = loop {
        match ecommerce::client::HttpClient::connect(addr).await {
            Ok(c) => break c,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    for cents in [1_000, 60_000, 2_000] {
        crate::place(&mut client, &order_of(cents)).await;
    }
    // The handlers ran and the relays measured their backlog (every 5 s).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = client.get("/metrics").await.expect("GET /metrics").text();
        if text.contains("edp_handler_duration_seconds_count{event_type=\"order.confirmed\",group=\"notification\",outcome=\"handled\"}")
            && text.contains("edp_outbox_backlog{database=\"payment\"}")
        {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "metrics incomplete:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for name in [
        "edp_handler_duration_seconds_bucket",
        "edp_handler_in_flight",
        "edp_outbox_oldest_age_seconds",
        "http_server_request_duration_seconds_bucket{method=\"POST\",route=\"/v1/orders\",status=\"201\"",
        "http_server_active_requests",
    ] {
        assert!(text.contains(name), "no {name} in:\n{text}");
    }
    edp_core::testkit::promtool::check_metrics(&text)
        .unwrap_or_else(|e| panic!("promtool check metrics failed:\n{e}\n{text}"));

    // A real Prometheus server scrapes it, with the scrape config the repo ships.
    let dir =
        std::env::temp_dir().join(format!("edp-prometheus-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let prom_port = free_port();
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../observability/prometheus.yml"
    ))
    .expect("the shipped scrape config");
    for default in ["localhost:8080", "localhost:9090", "scrape_interval: 15s"] {
        assert!(
            shipped.contains(default),
            "the shipped config has {default}"
        );
    }
    let config = shipped
        .replace("localhost:8080", &format!("127.0.0.1:{port}"))
        .replace("localhost:9090", &format!("127.0.0.1:{prom_port}"))
        .replace("scrape_interval: 15s", "scrape_interval: 1s");
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let _prometheus = Killed(
        Process::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts (scripts/test installs the apt package prometheus)"),
    );
    let prom: std::net::SocketAddr = format!("127.0.0.1:{prom_port}").parse().unwrap();
    let query = |q: String| async move {
        let mut c = ecommerce::client::HttpClient::connect(prom).await.ok()?;
        let path = format!("/api/v1/query?query={}", percent_encode(&q));
        c.get(&path).await.ok()?.json::<serde_json::Value>().ok()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ready = async {
            let mut c = ecommerce::client::HttpClient::connect(prom).await.ok()?;
            let targets: serde_json::Value = c.get("/api/v1/targets").await.ok()?.json().ok()?;
            let active = targets["data"]["activeTargets"].as_array()?.clone();
            let up = active.iter().filter(|t| t["health"] == "up").count();
            let found = query("edp_handler_duration_seconds_count".into()).await?;
            let series = found["data"]["result"].as_array().map_or(0, Vec::len);
            Some((active.len(), up, series))
        }
        .await;
        if let Some((2, 2, series)) = ready {
            if series > 0 {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Prometheus did not scrape every target up within 30 s: (targets, up, series) = {ready:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Every query of the shipped Grafana dashboard is valid PromQL on what was
    // scraped, and names only metrics edp exports.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../observability/grafana-dashboard.json"
        ))
        .expect("the shipped dashboard"),
    )
    .expect("the dashboard is JSON");
    let known = [
        "edp_handler_duration_seconds",
        "edp_handler_in_flight",
        "edp_retries_total",
        "edp_dead_letters_total",
        "edp_consumer_lag",
        "edp_outbox_backlog",
        "edp_outbox_oldest_age_seconds",
        "edp_circuit_breaker_state",
        "http_server_request_duration_seconds",
        "http_server_active_requests",
        "up",
    ];
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10, "a panel per concern");
    for panel in panels {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("an expr");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("edp_") || word.starts_with("http_server_") {
                    let base = word
                        .trim_end_matches("_bucket")
                        .trim_end_matches("_count")
                        .trim_end_matches("_sum");
                    assert!(known.contains(&base), "the dashboard names `{word}`");
                }
            }
            let q = expr
                .replace("$job", "ecommerce")
                .replace("$__rate_interval", "1m");
            let answer = query(q.clone()).await.expect("Prometheus answers");
            assert_eq!(answer["status"], "success", "{q}: {answer}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
