//! The circuit breaker, on the paused clock, wrapping a handler-like service and an
//! HTTP client.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use edp_core::error::{BoxError, find};
use edp_core::middleware::circuit_breaker::error::CircuitOpen;
use edp_core::middleware::circuit_breaker::{
    CircuitBreakerConfig, CircuitBreakerLayer, CircuitState,
};
use tower::{Service, ServiceBuilder, ServiceExt};

#[tokio::test(start_paused = true)]
async fn opens_after_threshold_rejects_then_half_open_successes_close_it() {
    // As Watermill's test: threshold 5 consecutive failures, open for 50 ms.
    let calls = Arc::new(AtomicU32::new(0));
    let failing = Arc::new(AtomicBool::new(true));
    let (c, f) = (calls.clone(), failing.clone());
    let layer = CircuitBreakerLayer::new(
        CircuitBreakerConfig::default()
            .tolerate_consecutive_failures(5)
            .open_for(Duration::from_millis(50)),
    );
    let mut svc = ServiceBuilder::new()
        .layer(layer.clone())
        .service_fn(move |()| {
            c.fetch_add(1, Ordering::SeqCst);
            let fail = f.load(Ordering::SeqCst);
            async move {
                if fail {
                    Err::<(), BoxError>("handler failed".into())
                } else {
                    Ok(())
                }
            }
        });

    for i in 0..6 {
        let err = svc.ready().await.unwrap().call(()).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "handler failed",
            "call {i} reaches the handler"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    assert_eq!(layer.state(), CircuitState::Open);

    for _ in 0..4 {
        let err = svc.ready().await.unwrap().call(()).await.unwrap_err();
        let open = find::<CircuitOpen>(&*err).expect("rejected by the open circuit");
        assert!(open.retry_after <= Duration::from_millis(50));
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        6,
        "rejected calls never reach the handler"
    );

    failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(layer.state(), CircuitState::HalfOpen);
    svc.ready().await.unwrap().call(()).await.unwrap();
    assert_eq!(layer.state(), CircuitState::Closed);
    for _ in 0..3 {
        svc.ready().await.unwrap().call(()).await.unwrap();
    }
    assert_eq!(calls.load(Ordering::SeqCst), 10);
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_opens_it_again() {
    let layer = CircuitBreakerLayer::new(
        CircuitBreakerConfig::default()
            .tolerate_consecutive_failures(0)
            .open_for(Duration::from_millis(50)),
    );
    let mut svc = ServiceBuilder::new()
        .layer(layer.clone())
        .service_fn(|()| async { Err::<(), BoxError>("down".into()) });
    svc.ready().await.unwrap().call(()).await.unwrap_err();
    assert_eq!(layer.state(), CircuitState::Open);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = svc.ready().await.unwrap().call(()).await.unwrap_err();
    assert_eq!(err.to_string(), "down", "the probe reached the service");
    assert_eq!(layer.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn failure_rate_rule_opens_it() {
    let layer = CircuitBreakerLayer::new(
        CircuitBreakerConfig::default()
            .without_consecutive_rule()
            .failure_rate(0.5, 10, 10)
            .open_for(Duration::from_secs(1)),
    );
    let n = Arc::new(AtomicU32::new(0));
    let nn = n.clone();
    // Alternate success and failure: 50% failures over 10 calls.
    let mut svc = ServiceBuilder::new()
        .layer(layer.clone())
        .service_fn(move |()| {
            let i = nn.fetch_add(1, Ordering::SeqCst);
            async move {
                if i % 2 == 1 {
                    Err::<(), BoxError>("fail".into())
                } else {
                    Ok(())
                }
            }
        });
    for _ in 0..9 {
        let _ = svc.ready().await.unwrap().call(()).await;
        assert_eq!(layer.state(), CircuitState::Closed, "fewer than min_calls");
    }
    let _ = svc.ready().await.unwrap().call(()).await;
    assert_eq!(layer.state(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn wraps_an_http_client_and_counts_5xx_as_failures() {
    let status = Arc::new(AtomicU32::new(503));
    let hits = Arc::new(AtomicU32::new(0));
    let (s, h) = (status.clone(), hits.clone());
    let client = tower::service_fn(move |req: http::Request<String>| {
        h.fetch_add(1, Ordering::SeqCst);
        let code = s.load(Ordering::SeqCst) as u16;
        async move {
            assert_eq!(req.uri().path(), "/v1/charge");
            Ok::<_, BoxError>(
                http::Response::builder()
                    .status(code)
                    .body(String::new())
                    .unwrap(),
            )
        }
    });
    let layer = CircuitBreakerLayer::new(
        CircuitBreakerConfig::default()
            .name("payments-api")
            .tolerate_consecutive_failures(2)
            .open_for(Duration::from_millis(100)),
    )
    .classify(|res: Result<&http::Response<String>, &BoxError>| {
        res.map_or(true, |r| r.status().is_server_error())
    });
    let mut svc = ServiceBuilder::new().layer(layer.clone()).service(client);
    let req = || {
        http::Request::builder()
            .uri("/v1/charge")
            .body(String::new())
            .unwrap()
    };

    for _ in 0..3 {
        let resp = svc.ready().await.unwrap().call(req()).await.unwrap();
        assert_eq!(
            resp.status(),
            503,
            "5xx responses pass through while counted"
        );
    }
    assert_eq!(layer.state(), CircuitState::Open);
    let err = svc.ready().await.unwrap().call(req()).await.unwrap_err();
    assert_eq!(find::<CircuitOpen>(&*err).unwrap().name, "payments-api");
    assert_eq!(hits.load(Ordering::SeqCst), 3);

    status.store(200, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        svc.ready()
            .await
            .unwrap()
            .call(req())
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(layer.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_probe_frees_its_slot() {
    let layer = CircuitBreakerLayer::new(
        CircuitBreakerConfig::default()
            .tolerate_consecutive_failures(0)
            .open_for(Duration::from_millis(10)),
    );
    let fail = Arc::new(AtomicBool::new(true));
    let f = fail.clone();
    let mut svc = ServiceBuilder::new()
        .layer(layer.clone())
        .service_fn(move |()| {
            let fail = f.load(Ordering::SeqCst);
            async move {
                if fail {
                    return Err::<(), BoxError>("down".into());
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok(())
            }
        });
    svc.ready().await.unwrap().call(()).await.unwrap_err();
    fail.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(10)).await;
    let probe = svc.ready().await.unwrap().call(());
    drop(probe);
    // The slot is free again: the next call is a probe, not a rejection.
    tokio::time::timeout(Duration::from_secs(2), svc.ready().await.unwrap().call(()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(layer.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_success_resets_the_consecutive_count() {
    let layer =
        CircuitBreakerLayer::new(CircuitBreakerConfig::default().tolerate_consecutive_failures(2));
    let n = Arc::new(AtomicU32::new(0));
    let nn = n.clone();
    // fail, fail, ok, fail, fail, ok, ...: never more than 2 failures in a row.
    let mut svc = ServiceBuilder::new()
        .layer(layer.clone())
        .service_fn(move |()| {
            let i = nn.fetch_add(1, Ordering::SeqCst);
            async move {
                if i % 3 == 2 {
                    Ok(())
                } else {
                    Err::<(), BoxError>("fail".into())
                }
            }
        });
    for _ in 0..30 {
        let _ = svc.ready().await.unwrap().call(()).await;
    }
    assert_eq!(layer.state(), CircuitState::Closed);
    assert_eq!(n.load(Ordering::SeqCst), 30, "no call was rejected");
    // Three in a row open it.
    let mut failing = ServiceBuilder::new()
        .layer(layer.clone())
        .service_fn(|()| async { Err::<(), BoxError>("down".into()) });
    for _ in 0..3 {
        let _ = failing.ready().await.unwrap().call(()).await;
    }
    assert_eq!(layer.state(), CircuitState::Open);
}
