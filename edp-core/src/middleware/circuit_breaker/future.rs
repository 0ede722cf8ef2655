//! The future of [`CircuitBreaker`](super::CircuitBreaker).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use super::Classify;
use super::error::CircuitOpen;
use super::state::{Admission, Breaker};
use crate::error::BoxError;

pin_project_lite::pin_project! {
    /// The response future of [`CircuitBreaker`](super::CircuitBreaker).
    pub struct ResponseFuture<F, K> {
        #[pin]
        kind: Kind<F, K>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<F, K> {
        Called { #[pin] fut: F, guard: Guard, classify: K },
        Rejected { err: Option<CircuitOpen> },
    }
}

/// Reports the outcome once; frees a probe slot if the future is dropped first.
struct Guard {
    breaker: Arc<Breaker>,
    admission: Admission,
    done: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.done && self.admission.probe {
            self.breaker.abandon(self.admission);
        }
    }
}

impl<F, K> ResponseFuture<F, K> {
    pub(super) fn called(fut: F, breaker: Arc<Breaker>, admission: Admission, classify: K) -> Self {
        Self {
            kind: Kind::Called {
                fut,
                guard: Guard {
                    breaker,
                    admission,
                    done: false,
                },
                classify,
            },
        }
    }

    pub(super) fn rejected(err: CircuitOpen) -> Self {
        Self {
            kind: Kind::Rejected { err: Some(err) },
        }
    }
}

impl<F, K, Res, E> Future for ResponseFuture<F, K>
where
    F: Future<Output = Result<Res, E>>,
    E: Into<BoxError>,
    K: Classify<Res>,
{
    type Output = Result<Res, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called {
                fut,
                guard,
                classify,
            } => {
                if guard.done {
                    return Poll::Ready(Err(
                        "circuit breaker future polled after completion".into()
                    ));
                }
                let result = ready!(fut.poll(cx)).map_err(Into::into);
                let failure = classify.is_failure(result.as_ref());
                guard.done = true;
                guard.breaker.record(guard.admission, failure);
                Poll::Ready(result)
            }
            KindProj::Rejected { err } => Poll::Ready(Err(match err.take() {
                Some(e) => Box::new(e),
                None => "circuit breaker future polled after completion".into(),
            })),
        }
    }
}
