//! The timeout layer on tokio's paused clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use edp_core::error::{BoxError, find};
use edp_core::middleware::timeout::{TimeoutLayer, error::Elapsed};
use tower::{ServiceBuilder, ServiceExt};

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_call_fails_after_the_limit_and_its_future_is_dropped() {
    let dropped = Arc::new(AtomicBool::new(false));
    let d = dropped.clone();
    let svc = ServiceBuilder::new()
        .layer(TimeoutLayer::new(Duration::from_millis(100)))
        .service_fn(move |()| {
            let guard = SetOnDrop(d.clone());
            async move {
                let _guard = guard;
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok::<_, BoxError>(())
            }
        });
    let start = tokio::time::Instant::now();
    let err = svc.oneshot(()).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    assert_eq!(
        find::<Elapsed>(&*err).unwrap().limit,
        Duration::from_millis(100)
    );
    assert!(
        dropped.load(Ordering::SeqCst),
        "the timed-out future was dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn calls_within_the_limit_pass_with_their_result_or_error() {
    let svc = ServiceBuilder::new()
        .layer(TimeoutLayer::new(Duration::from_millis(100)))
        .service_fn(|n: u32| async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if n == 0 {
                Err::<u32, BoxError>("zero".into())
            } else {
                Ok(n * 2)
            }
        });
    assert_eq!(svc.clone().oneshot(21).await.unwrap(), 42);
    assert_eq!(svc.oneshot(0).await.unwrap_err().to_string(), "zero");
}
