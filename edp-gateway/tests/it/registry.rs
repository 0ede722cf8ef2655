//! The discovery registry, its client, and a gateway that balances across the
//! instances it finds there.

use std::time::Duration;

use axum::body::Body;
use edp_gateway::registry::{Registry, RegistryClient};
use edp_gateway::{Gateway, Route, Upstream};
use http::Request;

use crate::{TestUpstream, get_path, json, send, serve};

async fn serve_registry(registry: &Registry) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = registry.router();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Register, list, renew, expire by TTL and deregister over HTTP; a bad
/// registration is a 400 problem that says what is wrong.
#[tokio::test]
async fn the_registry_api_registers_renews_expires_and_deregisters() {
    let registry = Registry::new();
    let url = serve_registry(&registry).await;
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let put = |path: &str, body: &str| {
        Request::put(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    let res = send(
        addr,
        put(
            "/v1/services/order/instances/o-1",
            r#"{"url":"http://127.0.0.1:9001","ttl_secs":1}"#,
        ),
    )
    .await;
    assert_eq!(res.status(), 204);
    let res = send(
        addr,
        put(
            "/v1/services/order/instances/o-2",
            r#"{"url":"http://127.0.0.1:9002","ttl_secs":30}"#,
        ),
    )
    .await;
    assert_eq!(res.status(), 204);
    let found = json(&get_path(addr, "/v1/services/order").await);
    assert_eq!(found["instances"].as_array().unwrap().len(), 2);
    assert_eq!(
        json(&get_path(addr, "/v1/services").await),
        serde_json::json!(["order"])
    );

    // o-1 misses its heartbeat: gone after its TTL.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let found = json(&get_path(addr, "/v1/services/order").await);
    assert_eq!(
        found["instances"],
        serde_json::json!([{"id": "o-2", "url": "http://127.0.0.1:9002"}])
    );

    let res = send(
        addr,
        Request::delete("/v1/services/order/instances/o-2")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), 204);
    let res = send(
        addr,
        Request::delete("/v1/services/order/instances/o-2")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), 404);
    assert!(
        json(&get_path(addr, "/v1/services").await)
            .as_array()
            .unwrap()
            .is_empty()
    );

    for (path, body) in [
        ("/v1/services/order/instances/o-3", r#"{"url":"ftp://x"}"#),
        (
            "/v1/services/order/instances/o-3",
            r#"{"url":"http://h:1","ttl_secs":0}"#,
        ),
        (
            "/v1/services/order/instances/o%20bad",
            r#"{"url":"http://h:1"}"#,
        ),
        ("/v1/services/order/instances/o-3", r#"not json"#),
    ] {
        let res = send(addr, put(path, body)).await;
        assert_eq!(res.status(), 400, "{path} {body}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
    }
}

/// Services register themselves; the gateway balances across them, stops sending
/// to one that deregisters, and keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_balances_across_registered_instances() {
    let registry = Registry::new();
    let url = serve_registry(&registry).await;
    let client = RegistryClient::new(&url)
        .unwrap()
        .ttl(Duration::from_secs(2));
    let a = TestUpstream::start().await;
    let b = TestUpstream::start().await;
    let reg_a = client.register("order", "a", &a.url()).await.unwrap();
    let reg_b = client.register("order", "b", &b.url()).await.unwrap();
    let gateway = Gateway::builder()
        .route(
            Route::new("/api/orders", Upstream::discovered("order", client.clone()))
                .rewrite("/echo"),
        )
        .build();
    let addr = serve(gateway).await;
    for _ in 0..20 {
        assert_eq!(get_path(addr, "/api/orders").await.status(), 200);
    }
    assert!(
        a.hits() >= 5 && b.hits() >= 5,
        "balanced: {} / {}",
        a.hits(),
        b.hits()
    );

    // Heartbeats keep both registered past their TTL.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(registry.instances("order").len(), 2);

    reg_a.shutdown().await;
    assert_eq!(registry.instances("order").len(), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await; // the gateway's refresh
    let _ = get_path(addr, "/api/orders").await; // triggers the refresh
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = a.hits();
    for _ in 0..20 {
        assert_eq!(get_path(addr, "/api/orders").await.status(), 200);
    }
    assert_eq!(a.hits(), before, "a deregistered instance gets no traffic");
    reg_b.shutdown().await;
}
