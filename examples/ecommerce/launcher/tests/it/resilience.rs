//! edp-core's circuit breaker around a real HTTP client talking to a real server on
//! loopback: the same layer that wraps event handlers wraps the payment provider call.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use ecommerce::client::{HttpClient, Response};
use edp_core::error::{BoxError, find};
use edp_core::middleware::circuit_breaker::error::CircuitOpen;
use edp_core::middleware::circuit_breaker::{
    CircuitBreakerConfig, CircuitBreakerLayer, CircuitState,
};
use tower::{Service, ServiceBuilder, ServiceExt};

/// A provider that answers 503 while `down`, counting the requests that reach it.
async fn provider(down: Arc<AtomicBool>, hits: Arc<AtomicU32>) -> std::net::SocketAddr {
    let app = Router::new().route(
        "/v1/charge",
        get(move || {
            let (down, hits) = (down.clone(), hits.clone());
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                if down.load(Ordering::SeqCst) {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn the_circuit_breaker_wraps_a_real_http_client() {
    let down = Arc::new(AtomicBool::new(true));
    let hits = Arc::new(AtomicU32::new(0));
    let addr = provider(down.clone(), hits.clone()).await;
    let client = Arc::new(tokio::sync::Mutex::new(
        HttpClient::connect(addr).await.unwrap(),
    ));
    let http = tower::service_fn(move |path: &'static str| {
        let client = client.clone();
        async move { client.lock().await.get(path).await.map_err(BoxError::from) }
    });
    let breaker = CircuitBreakerLayer::new(
        CircuitBreakerConfig::default()
            .name("payment-provider")
            .tolerate_consecutive_failures(2)
            .open_for(Duration::from_millis(200)),
    )
    .classify(|res: Result<&Response, &BoxError>| res.map_or(true, |r| r.status.is_server_error()));
    let mut svc = ServiceBuilder::new().layer(breaker.clone()).service(http);

    for _ in 0..3 {
        let resp = svc.ready().await.unwrap().call("/v1/charge").await.unwrap();
        assert_eq!(resp.status, 503);
    }
    assert_eq!(breaker.state(), CircuitState::Open);
    for _ in 0..5 {
        let err = svc
            .ready()
            .await
            .unwrap()
            .call("/v1/charge")
            .await
            .unwrap_err();
        assert_eq!(find::<CircuitOpen>(&*err).unwrap().name, "payment-provider");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        3,
        "an open circuit sends nothing to the provider"
    );

    down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let resp = svc.ready().await.unwrap().call("/v1/charge").await.unwrap();
    assert_eq!(
        resp.status, 200,
        "the half-open probe reached the recovered provider"
    );
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(hits.load(Ordering::SeqCst), 4);
}
