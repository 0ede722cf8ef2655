use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use edp_core::error::{BoxError, find};
use edp_core::event::headers;
use edp_core::handler::Status;
use edp_core::middleware::circuit_breaker::error::CircuitOpen;
use edp_core::testkit::{TestBus, outcome_of};
use tower::{Service as _, ServiceExt};

use super::*;

const WAIT: Duration = Duration::from_secs(120);

/// A fake provider: the nth call gets the nth status of `script` (the last one once
/// the script runs out); status 0 never answers. `calls` counts the calls.
fn fake_provider(
    script: &'static [u16],
    calls: Arc<AtomicU32>,
) -> impl tower::Service<
    http::Request<String>,
    Response = http::Response<String>,
    Error = BoxError,
    Future = impl Send,
> + Clone
+ Send
+ Sync
+ 'static {
    let script: Arc<[u16]> = script.into();
    tower::service_fn(move |_request: http::Request<String>| {
        let n = calls.fetch_add(1, Ordering::SeqCst) as usize;
        let code = script[n.min(script.len() - 1)];
        async move {
            if code == 0 {
                std::future::pending::<()>().await;
            }
            Ok::<_, BoxError>(http::Response::builder().status(code).body(String::new())?)
        }
    })
}

fn order(id: &str) -> OrderPlaced {
    OrderPlaced {
        order_id: id.into(),
        total_cents: 1200,
    }
}

// ANCHOR: backoff_caps
#[test]
fn the_backoff_caps_double_up_to_the_maximum() {
    let policy = retry_policy();
    let caps: Vec<u128> = (1..=6).map(|n| policy.backoff_cap(n).as_millis()).collect();
    assert_eq!(caps, [200, 400, 800, 1600, 3200, 5000]);
    // With full jitter each wait is a random duration between zero and its cap.
}
// ANCHOR_END: backoff_caps

// ANCHOR: retry_test
#[tokio::test(start_paused = true)]
async fn a_flaky_provider_is_retried_until_it_answers() {
    let calls = Arc::new(AtomicU32::new(0));
    let provider = provider_client(fake_provider(&[503, 503, 200], calls.clone()));
    let bus = TestBus::new();
    let mut payments = bus.record(["payments"]).await;
    let mut builder = Service::builder("payment", bus.transport())
        .layer(RetryLayer::new(retry_policy()))
        .handler_with(provider, charge);
    let mut outcomes = builder.observe();
    let _running = bus.start(builder.build()).await;

    let start = tokio::time::Instant::now();
    let id = bus.publish(&order("o-1")).await;

    let outcome = outcome_of(&mut outcomes, id, WAIT).await.unwrap();
    assert_eq!(outcome.status, Status::Handled);
    let (paid, _) = payments.expect::<PaymentSucceeded>(WAIT).await.unwrap();
    assert_eq!(paid.amount_cents, 1200);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // Two waits, capped at 200 and 400 ms, on the paused clock: no real time passed.
    assert!(start.elapsed() <= Duration::from_millis(600));
}
// ANCHOR_END: retry_test

// ANCHOR: breaker_test
#[tokio::test(start_paused = true)]
async fn the_breaker_opens_on_5xx_and_closes_after_a_good_probe() {
    let calls = Arc::new(AtomicU32::new(0));
    let script = &[503, 503, 503, 503, 503, 503, 200];
    let mut provider = provider_client(fake_provider(script, calls.clone()));
    let request = || {
        http::Request::post("/v1/charges")
            .body(String::new())
            .unwrap()
    };

    for _ in 0..6 {
        let response = provider
            .ready()
            .await
            .unwrap()
            .call(request())
            .await
            .unwrap();
        assert_eq!(response.status(), 503); // passed through, and counted
    }
    let err = provider
        .ready()
        .await
        .unwrap()
        .call(request())
        .await
        .unwrap_err();
    let open = find::<CircuitOpen>(&*err).unwrap();
    assert_eq!(open.name, "payment-provider");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        6,
        "the open circuit spared the provider"
    );

    tokio::time::sleep(Duration::from_secs(30)).await; // open_for
    let probe = provider
        .ready()
        .await
        .unwrap()
        .call(request())
        .await
        .unwrap();
    assert_eq!(probe.status(), 200); // the probe succeeded: closed again
}
// ANCHOR_END: breaker_test

// ANCHOR: dead_letter_test
#[tokio::test(start_paused = true)]
async fn a_refused_charge_is_dead_lettered_with_its_story() {
    let calls = Arc::new(AtomicU32::new(0));
    let provider = provider_client(fake_provider(&[422], calls.clone()));
    let bus = TestBus::new();
    let mut dead = bus.record(["dlq.payment.orders"]).await;
    let _running = bus.start(payment(bus.transport(), provider)).await;

    let id = bus.publish(&order("o-2")).await;

    let (refused, letter) = dead.expect::<OrderPlaced>(WAIT).await.unwrap();
    assert_eq!(refused.order_id, "o-2");
    assert_eq!(letter.id, id, "the original event, same id and payload");
    let h = &letter.headers;
    assert_eq!(h.get(headers::DLQ_TOPIC), Some("orders"));
    assert_eq!(h.get(headers::DLQ_GROUP), Some("payment"));
    assert_eq!(h.get(headers::DLQ_HANDLER), Some("middleware::charge"));
    assert_eq!(h.get(headers::DLQ_ATTEMPTS), Some("1")); // permanent: not retried
    assert!(h.get(headers::DLQ_OFFSET).is_some());
    let error = h.get(headers::DLQ_ERROR).unwrap();
    assert!(error.contains("provider refused order o-2: 422"), "{error}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
// ANCHOR_END: dead_letter_test

#[tokio::test(start_paused = true)]
async fn a_provider_that_never_answers_times_out_on_every_attempt() {
    let calls = Arc::new(AtomicU32::new(0));
    let provider = provider_client(fake_provider(&[0], calls.clone())); // never answers
    let bus = TestBus::new();
    let mut dead = bus.record(["dlq.payment.orders"]).await;
    let _running = bus.start(payment(bus.transport(), provider)).await;

    bus.publish(&order("o-3")).await;

    let letter = dead.next(WAIT).await.unwrap();
    let error = letter.headers.get(headers::DLQ_ERROR).unwrap();
    assert!(error.contains("gave up after 5 attempts"), "{error}");
    assert!(error.contains("did not finish within"), "{error}");
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn the_concurrency_limit_holds_per_handler() {
    let running = Arc::new(AtomicU32::new(0));
    let most = Arc::new(AtomicU32::new(0));
    let (r, m) = (running.clone(), most.clone());
    let slow = move |_ctx: Context, _order: OrderPlaced| {
        let (r, m) = (r.clone(), m.clone());
        async move {
            let now = r.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            r.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, BoxError>(())
        }
    };
    let bus = TestBus::new();
    let mut builder = Service::builder("payment", bus.transport())
        .concurrency(16)
        .layer(ConcurrencyLimitLayer::new(4))
        .handler(slow);
    let mut outcomes = builder.observe();
    let _running = bus.start(builder.build()).await;
    for i in 0..24 {
        bus.publish(&order(&format!("o-{i}"))).await;
    }
    for _ in 0..24 {
        tokio::time::timeout(Duration::from_secs(5), outcomes.recv())
            .await
            .unwrap()
            .unwrap();
    }
    let most = most.load(Ordering::SeqCst);
    assert!(
        (2..=4).contains(&most),
        "at most 4 at once, and some in parallel: {most}"
    );
}
