//! The future of [`Retry`](super::Retry).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use rand::{SeedableRng, rngs::SmallRng};
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use super::RetryPolicy;
use super::error::{AttemptsExhausted, ElapsedExceeded, NotRetried};
use crate::error::{BoxError, Permanent};
use crate::middleware::classify::Classify;

pin_project_lite::pin_project! {
    /// The response future of [`Retry`](super::Retry).
    pub struct ResponseFuture<S, Req, K>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S::Future>,
        service: S,
        request: Req,
        policy: Arc<RetryPolicy>,
        seed: u64,
        rng: Option<SmallRng>,
        attempts: u32,
        started: Instant,
        classify: K,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F> {
        Calling { #[pin] fut: F },
        Waiting { #[pin] sleep: Sleep },
        Readying,
    }
}

impl<S, Req, K> ResponseFuture<S, Req, K>
where
    S: Service<Req>,
{
    pub(super) fn new(
        fut: S::Future,
        service: S,
        request: Req,
        policy: Arc<RetryPolicy>,
        seed: u64,
        classify: K,
    ) -> Self {
        Self {
            state: State::Calling { fut },
            service,
            request,
            policy,
            seed,
            rng: None,
            attempts: 1,
            started: Instant::now(),
            classify,
        }
    }
}

impl<S, Req, K> Future for ResponseFuture<S, Req, K>
where
    S: Service<Req, Error = BoxError>,
    Req: Clone,
    K: Classify<S::Response>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { fut } => {
                    let err = match ready!(fut.poll(cx)) {
                        Ok(res) => {
                            if !this.classify.is_failure(Ok(&res)) {
                                return Poll::Ready(Ok(res));
                            }
                            // A response that counts as a failure (say HTTP 503): retry
                            // while attempts and time remain, else hand it back as is.
                            let wait = next_wait(
                                this.policy,
                                *this.attempts,
                                this.rng,
                                *this.seed,
                                *this.started,
                            );
                            match wait {
                                Some(wait) => {
                                    crate::telemetry::metrics::count_retry(&this.policy.name);
                                    tracing::debug!(
                                        attempt = *this.attempts,
                                        wait_ms = wait.as_millis() as u64,
                                        "retrying a failed response"
                                    );
                                    this.state.set(State::Waiting {
                                        sleep: tokio::time::sleep(wait),
                                    });
                                    continue;
                                }
                                None => return Poll::Ready(Ok(res)),
                            }
                        }
                        Err(err) => err,
                    };
                    let attempts = *this.attempts;
                    if Permanent::is_permanent(&*err) {
                        return Poll::Ready(Err(Box::new(NotRetried {
                            attempts,
                            source: err,
                        })));
                    }
                    if attempts >= this.policy.max_attempts {
                        return Poll::Ready(Err(Box::new(AttemptsExhausted {
                            attempts,
                            source: err,
                        })));
                    }
                    let seed = *this.seed;
                    let rng = this
                        .rng
                        .get_or_insert_with(|| SmallRng::seed_from_u64(seed));
                    let wait = this.policy.backoff(attempts, rng);
                    let elapsed = this.started.elapsed();
                    if let Some(max) = this.policy.max_elapsed {
                        if elapsed.saturating_add(wait) > max {
                            return Poll::Ready(Err(Box::new(ElapsedExceeded {
                                attempts,
                                elapsed,
                                source: err,
                            })));
                        }
                    }
                    crate::telemetry::metrics::count_retry(&this.policy.name);
                    tracing::debug!(attempt = attempts, wait_ms = wait.as_millis() as u64, error = %err, "retrying");
                    this.state.set(State::Waiting {
                        sleep: tokio::time::sleep(wait),
                    });
                }
                StateProj::Waiting { sleep } => {
                    ready!(sleep.poll(cx));
                    this.state.set(State::Readying);
                }
                StateProj::Readying => {
                    ready!(this.service.poll_ready(cx))?;
                    *this.attempts += 1;
                    let fut = this.service.call(this.request.clone());
                    this.state.set(State::Calling { fut });
                }
            }
        }
    }
}

/// The wait before the next attempt, or `None` when attempts or time ran out.
fn next_wait(
    policy: &RetryPolicy,
    attempts: u32,
    rng: &mut Option<SmallRng>,
    seed: u64,
    started: Instant,
) -> Option<std::time::Duration> {
    if attempts >= policy.max_attempts {
        return None;
    }
    let rng = rng.get_or_insert_with(|| SmallRng::seed_from_u64(seed));
    let wait = policy.backoff(attempts, rng);
    match policy.max_elapsed {
        Some(max) if started.elapsed().saturating_add(wait) > max => None,
        _ => Some(wait),
    }
}
