//! Routing, rewriting, forwarding headers, limits, timeouts, breakers and instances.

use std::time::{Duration, Instant};

use axum::body::Body;
use edp_core::middleware::circuit_breaker::CircuitBreakerConfig;
use edp_gateway::{Gateway, Route, Upstream};
use http::Request;

use crate::{TestUpstream, get_path, json, send, serve};

fn is_problem(res: &http::Response<bytes::Bytes>) -> bool {
    res.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        == Some("application/problem+json")
}

/// A path under a route prefix goes to the route's upstream, rewritten; the upstream
/// sees the forwarding headers and the request id, never the hop-by-hop headers; the
/// client gets the request id back. A path no route matches is 404 problem+json.
#[tokio::test]
async fn routes_rewrite_paths_and_forward_headers() {
    let orders = TestUpstream::start().await;
    let gateway = Gateway::builder()
        .route(
            Route::new(
                "/api/v1/orders",
                Upstream::new("order", [format!("{}/echo", orders.url())]).unwrap(),
            )
            .rewrite("/v1/orders"),
        )
        .build();
    let addr = serve(gateway).await;
    let res = send(
        addr,
        Request::get("/api/v1/orders/42?expand=lines")
            .header("host", "shop.example")
            .header("connection", "keep-alive, x-secret")
            .header("x-secret", "hop-by-hop")
            .header("x-request-id", "req-1")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-request-id"], "req-1");
    let seen = json(&res);
    assert_eq!(seen["path"], "/echo/v1/orders/42?expand=lines");
    let h = &seen["headers"];
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-host"], "shop.example");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-request-id"], "req-1");
    assert!(
        h.get("x-secret").is_none(),
        "a header named in Connection is not forwarded"
    );

    // No request id, or a bad one: a fresh one.
    let res = send(
        addr,
        Request::get("/api/v1/orders")
            .header("x-request-id", "has spaces")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);
    assert_eq!(json(&res)["headers"]["x-request-id"], id.as_str());

    let res = get_path(addr, "/api/v1/ordersx").await;
    assert_eq!(res.status(), 404);
    assert!(is_problem(&res));
    assert!(
        json(&res)["detail"]
            .as_str()
            .unwrap()
            .contains("/api/v1/ordersx")
    );
}

/// Bodies stream through up to the limit; a declared or streamed body over it is 413,
/// and a malformed Content-Length is a 4xx; none crashes the gateway.
#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let up = TestUpstream::start().await;
    let gateway = Gateway::builder()
        .route(Route::new("/", Upstream::new("echo", [up.url()]).unwrap()))
        .max_body(1024)
        .build();
    let addr = serve(gateway).await;
    let ok = send(
        addr,
        Request::post("/echo")
            .body(Body::from(vec![b'x'; 1000]))
            .unwrap(),
    )
    .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(json(&ok)["body_len"], 1000);

    let declared = send(
        addr,
        Request::post("/echo")
            .body(Body::from(vec![b'x'; 5000]))
            .unwrap(),
    )
    .await;
    assert_eq!(declared.status(), 413);
    assert!(is_problem(&declared));

    // Streamed (chunked, no Content-Length): cut off at the limit.
    let chunks = futures_util::stream::iter(
        (0..10).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'y'; 500]))),
    );
    let streamed = send(
        addr,
        Request::post("/echo")
            .body(Body::from_stream(chunks))
            .unwrap(),
    )
    .await;
    assert_eq!(streamed.status(), 413, "{:?}", streamed.body());

    // Two different lengths: refused before anything is forwarded.
    let before = up.hits();
    let raw = raw_exchange(
        addr,
        b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd",
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 4"), "{raw}");
    let raw = raw_exchange(
        addr,
        b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: lots\r\n\r\n",
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 4"), "{raw}");
    let huge_header = format!(
        "GET /echo HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let raw = raw_exchange(addr, huge_header.as_bytes()).await;
    assert!(
        raw.is_empty() || raw.starts_with("HTTP/1.1 4"),
        "{}",
        &raw[..raw.len().min(200)]
    );
    assert_eq!(
        up.hits(),
        before,
        "no malformed request reached the upstream"
    );
    // Still serving.
    assert_eq!(get_path(addr, "/echo/alive").await.status(), 200);
}

/// Writes `bytes` on a new connection and reads what comes back until the server
/// closes or 2 s pass.
async fn raw_exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(bytes).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// An upstream slower than the route's timeout: 504 problem+json, in about the
/// timeout.
#[tokio::test]
async fn a_slow_upstream_times_out_with_504() {
    let up = TestUpstream::start().await;
    let gateway = Gateway::builder()
        .route(
            Route::new("/", Upstream::new("slow", [up.url()]).unwrap())
                .timeout(Duration::from_millis(200)),
        )
        .build();
    let addr = serve(gateway).await;
    let started = Instant::now();
    let res = get_path(addr, "/slow").await;
    assert_eq!(res.status(), 504);
    assert!(is_problem(&res));
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// An upstream that is down: 502 while the breaker counts, then 503 with Retry-After,
/// fast, without calling it.
#[tokio::test]
async fn a_failing_upstream_opens_its_breaker_and_gets_503_fast() {
    let up = TestUpstream::start().await;
    let gateway = Gateway::builder()
        .route(Route::new("/", Upstream::new("flaky", [up.url()]).unwrap()))
        .breaker(
            CircuitBreakerConfig::default()
                .tolerate_consecutive_failures(2)
                .open_for(Duration::from_secs(30)),
        )
        .build();
    let addr = serve(gateway).await;
    for _ in 0..3 {
        let res = get_path(addr, "/fail").await;
        assert_eq!(
            res.status(),
            500,
            "the upstream's own answer passes through"
        );
    }
    let hits = up.hits();
    let started = Instant::now();
    let res = get_path(addr, "/fail").await;
    assert_eq!(res.status(), 503);
    assert!(is_problem(&res));
    assert!(res.headers().contains_key("retry-after"));
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        up.hits(),
        hits,
        "an open breaker does not call the upstream"
    );

    // A refused connection counts too, and answers 502 until the breaker opens.
    up.kill();
    let down = Gateway::builder()
        .route(Route::new("/", Upstream::new("down", [up.url()]).unwrap()))
        .breaker(
            CircuitBreakerConfig::default()
                .tolerate_consecutive_failures(1)
                .open_for(Duration::from_secs(30)),
        )
        .build();
    let addr = serve(down).await;
    assert_eq!(get_path(addr, "/x").await.status(), 502);
    assert_eq!(get_path(addr, "/x").await.status(), 502);
    assert_eq!(get_path(addr, "/x").await.status(), 503);
}

/// Two instances, one killed mid-traffic: idempotent requests move to the other and
/// none fails; the dead one is ejected.
#[tokio::test]
async fn a_killed_instance_loses_no_idempotent_request() {
    let a = TestUpstream::start().await;
    let b = TestUpstream::start().await;
    let gateway = Gateway::builder()
        .route(Route::new(
            "/",
            Upstream::new("pair", [a.url(), b.url()]).unwrap(),
        ))
        .breaker(
            CircuitBreakerConfig::default()
                .tolerate_consecutive_failures(2)
                .open_for(Duration::from_secs(30)),
        )
        .build();
    let addr = serve(gateway).await;
    for _ in 0..10 {
        assert_eq!(get_path(addr, "/echo").await.status(), 200);
    }
    assert!(
        a.hits() >= 4 && b.hits() >= 4,
        "balanced: {} / {}",
        a.hits(),
        b.hits()
    );
    a.kill();
    let mut failed = 0;
    for _ in 0..100 {
        if get_path(addr, "/echo").await.status() != 200 {
            failed += 1;
        }
    }
    assert_eq!(
        failed, 0,
        "idempotent requests retried on the live instance"
    );
    assert!(b.hits() >= 104);
}

/// CORS: a preflight from an allowed origin is answered by the gateway itself; an
/// answer to that origin carries `Access-Control-Allow-Origin`; another origin is
/// never named in it.
#[tokio::test]
async fn cors_preflights_and_headers() {
    use edp_gateway::CorsLayer;
    let up = TestUpstream::start().await;
    let gateway = Gateway::builder()
        .route(Route::new("/", Upstream::new("echo", [up.url()]).unwrap()))
        .cors(
            CorsLayer::new()
                .allow_origin(http::HeaderValue::from_static("https://shop.example"))
                .allow_methods([http::Method::GET, http::Method::POST])
                .allow_headers([http::header::AUTHORIZATION, http::header::CONTENT_TYPE]),
        )
        .build();
    let addr = serve(gateway).await;
    let preflight = send(
        addr,
        Request::options("/echo")
            .header("origin", "https://shop.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    assert_eq!(up.hits(), 0, "the gateway answers preflights itself");

    let res = send(
        addr,
        Request::get("/echo")
            .header("origin", "https://shop.example")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let other = send(
        addr,
        Request::get("/echo")
            .header("origin", "https://evil.example")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    // The allowed origin is named, never the caller's: the browser refuses the answer.
    assert_ne!(
        other
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.as_bytes()),
        Some(&b"https://evil.example"[..])
    );
}

/// A worker per core: every worker serves the same port and proxies; port 0 is
/// refused (each worker must bind the same port).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_per_core_serves_one_port() {
    let up = TestUpstream::start().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let gateway = || {
        Gateway::builder()
            .route(Route::new("/", Upstream::new("echo", [up.url()]).unwrap()))
            .build()
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(edp_gateway::serve_per_core(
        addr,
        gateway(),
        2,
        stop.clone().cancelled_owned(),
    ));
    let mut ok = 0;
    for _ in 0..50 {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(_) => {
                if get_path(addr, "/echo").await.status() == 200 {
                    ok += 1;
                }
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert!(ok >= 40, "{ok} of 50 answered");
    stop.cancel();
    server.await.unwrap().unwrap();
    let zero =
        edp_gateway::serve_per_core("127.0.0.1:0".parse().unwrap(), gateway(), 2, async {}).await;
    assert_eq!(zero.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
}

/// A `Location` under the rewritten path comes back under the route's prefix.
#[tokio::test]
async fn locations_are_mapped_back_under_the_prefix() {
    let up = TestUpstream::start().await;
    let gateway = Gateway::builder()
        .route(
            Route::new(
                "/api/v1/orders",
                Upstream::new("order", [up.url()]).unwrap(),
            )
            .rewrite("/v1/orders"),
        )
        .build();
    let addr = serve(gateway).await;
    let res = send(
        addr,
        Request::post("/api/v1/orders").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["location"], "/api/v1/orders/42");
}
