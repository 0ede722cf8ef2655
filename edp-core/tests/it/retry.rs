//! The retry layer on tokio's paused clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use edp_core::error::{BoxError, find, permanent};
use edp_core::middleware::retry::error::{AttemptsExhausted, ElapsedExceeded, NotRetried};
use edp_core::middleware::retry::{RetryLayer, RetryPolicy};
use tower::{Service, ServiceBuilder, ServiceExt};

fn failing(
    calls: Arc<AtomicU32>,
    succeed_on: u32,
    permanent_on: Option<u32>,
) -> impl Service<(), Response = u32, Error = BoxError, Future = impl Send> + Clone {
    tower::service_fn(move |()| {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            if Some(n) == permanent_on {
                return Err(permanent(format!("bad request on call {n}")));
            }
            if n >= succeed_on {
                Ok(n)
            } else {
                Err(format!("transient {n}").into())
            }
        }
    })
}

#[tokio::test(start_paused = true)]
async fn succeeds_after_transient_failures_within_the_backoff_caps() {
    let calls = Arc::new(AtomicU32::new(0));
    let policy = RetryPolicy::default()
        .max_attempts(5)
        .initial_backoff(Duration::from_millis(100))
        .max_backoff(Duration::from_millis(250));
    let svc = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .service(failing(calls.clone(), 4, None));
    let start = tokio::time::Instant::now();
    assert_eq!(svc.oneshot(()).await.unwrap(), 4);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    // Caps: 100, 200, 250 (max_backoff) -> at most 550 ms of virtual time.
    assert!(
        start.elapsed() <= Duration::from_millis(550),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn without_jitter_waits_exactly_the_caps() {
    let calls = Arc::new(AtomicU32::new(0));
    let policy = RetryPolicy::default()
        .max_attempts(4)
        .initial_backoff(Duration::from_millis(10))
        .jitter(false);
    let svc = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .service(failing(calls.clone(), 4, None));
    let start = tokio::time::Instant::now();
    svc.oneshot(()).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(10 + 20 + 40));
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_attempts_with_the_count() {
    let calls = Arc::new(AtomicU32::new(0));
    let svc = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default().max_attempts(3)))
        .service(failing(calls.clone(), 99, None));
    let err = svc.oneshot(()).await.unwrap_err();
    let exhausted = find::<AttemptsExhausted>(&*err).unwrap();
    assert_eq!(exhausted.attempts, 3);
    assert_eq!(exhausted.source.to_string(), "transient 3");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_are_not_retried() {
    let calls = Arc::new(AtomicU32::new(0));
    let svc = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::default().max_attempts(10)))
        .service(failing(calls.clone(), 99, Some(2)));
    let err = svc.oneshot(()).await.unwrap_err();
    assert_eq!(find::<NotRetried>(&*err).unwrap().attempts, 2);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn gives_up_at_the_elapsed_time_limit() {
    let calls = Arc::new(AtomicU32::new(0));
    let policy = RetryPolicy::default()
        .max_attempts(100)
        .initial_backoff(Duration::from_secs(1))
        .jitter(false)
        .max_elapsed(Some(Duration::from_secs(10)));
    let svc = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .service(failing(calls.clone(), 99, None));
    let err = svc.oneshot(()).await.unwrap_err();
    let e = find::<ElapsedExceeded>(&*err).unwrap();
    // Waits 1 + 2 + 4 = 7 s; the next (8 s) would end past 10 s.
    assert_eq!(e.attempts, 4);
    assert_eq!(e.elapsed, Duration::from_secs(7));
}

#[test]
fn backoff_caps_grow_and_saturate() {
    let p = RetryPolicy::default()
        .initial_backoff(Duration::from_millis(100))
        .max_backoff(Duration::from_secs(1));
    let caps: Vec<u64> = (1..=6)
        .map(|n| p.backoff_cap(n).as_millis() as u64)
        .collect();
    assert_eq!(caps, [100, 200, 400, 800, 1000, 1000]);
    assert_eq!(p.backoff_cap(u32::MAX), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn full_jitter_spreads_waits() {
    // Many independent retries with the same policy: their single waits differ.
    let mut waits = Vec::new();
    for seed in 0..20 {
        let calls = Arc::new(AtomicU32::new(0));
        let policy = RetryPolicy::default()
            .max_attempts(2)
            .initial_backoff(Duration::from_secs(1))
            .seed(seed);
        let svc = ServiceBuilder::new()
            .layer(RetryLayer::new(policy))
            .service(failing(calls, 2, None));
        let start = tokio::time::Instant::now();
        svc.oneshot(()).await.unwrap();
        waits.push(start.elapsed());
    }
    assert!(waits.iter().all(|w| *w <= Duration::from_secs(1)));
    waits.sort();
    waits.dedup();
    assert!(
        waits.len() > 10,
        "jitter gave only {} distinct waits",
        waits.len()
    );
}

#[tokio::test(start_paused = true)]
async fn failed_responses_are_retried_when_classified_as_failures() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let client = tower::service_fn(move |()| {
        let n = c.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            let status = if n < 3 { 503 } else { 200 };
            Ok::<_, BoxError>(http::Response::builder().status(status).body(()).unwrap())
        }
    });
    let server_errors = |res: Result<&http::Response<()>, &BoxError>| {
        res.map_or(true, |r| r.status().is_server_error())
    };
    let layer = RetryLayer::new(RetryPolicy::default().max_attempts(5)).classify(server_errors);
    let resp = ServiceBuilder::new()
        .layer(layer.clone())
        .service(client.clone())
        .oneshot(())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // Out of attempts: the last failed response comes back as it is.
    calls.store(0, Ordering::SeqCst);
    let two = RetryLayer::new(RetryPolicy::default().max_attempts(2)).classify(server_errors);
    let resp = ServiceBuilder::new()
        .layer(two)
        .service(client)
        .oneshot(())
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
