//! Rate limits per client and route: GCRA (the `governor` crate), answered with 429,
//! `Retry-After` and the `RateLimit-*` headers.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// How many requests a client may make on a route, per period: `RateLimit::new(100,
/// Duration::from_secs(10))` lets a client burst to 100 and then refills one request
/// every 100 ms (GCRA: a smooth token bucket).
///
/// ```
/// use edp_gateway::RateLimit;
/// use std::time::Duration;
///
/// let limit = RateLimit::new(100, Duration::from_secs(10)).unwrap();
/// assert_eq!(limit.limit(), 100);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    limit: NonZeroU32,
    period: Duration,
}

impl RateLimit {
    /// `limit` requests per `period`; `None` when either is zero.
    pub fn new(limit: u32, period: Duration) -> Option<Self> {
        let limit = NonZeroU32::new(limit)?;
        (!period.is_zero()).then_some(Self { limit, period })
    }

    /// Requests per period.
    pub fn limit(&self) -> u32 {
        self.limit.get()
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }
}

type Keyed =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// Forget clients idle for a whole period once the table holds this many.
const KEYS_BEFORE_SWEEP: usize = 50_000;

/// One route's limiter: a GCRA state per client key, bounded in memory.
pub(crate) struct Limiter {
    limit: RateLimit,
    limiter: Keyed,
    checks: AtomicU64,
}

/// The outcome of one check: the headers to send, and whether to let it through.
pub(crate) struct Verdict {
    pub(crate) allowed: bool,
    pub(crate) limit: u32,
    pub(crate) remaining: u32,
    /// Seconds until a request would pass (denied) or the burst is whole again.
    pub(crate) reset: u64,
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit) -> Arc<Self> {
        let per_cell = limit.period / limit.limit.get();
        let quota = Quota::with_period(per_cell.max(Duration::from_nanos(1))).map_or_else(
            || Quota::per_second(limit.limit),
            |q| q.allow_burst(limit.limit),
        );
        Arc::new(Self {
            limit,
            limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            checks: AtomicU64::new(0),
        })
    }

    // `&String`: the limiter's keys are `String`s, looked up by reference.
    #[allow(clippy::ptr_arg)]
    pub(crate) fn check(&self, key: &String) -> Verdict {
        if self.checks.fetch_add(1, Ordering::Relaxed) % 1024 == 0
            && self.limiter.len() > KEYS_BEFORE_SWEEP
        {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        let limit = self.limit.limit.get();
        match self.limiter.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = limit.saturating_sub(remaining);
                let per_cell = self.limit.period.as_secs_f64() / f64::from(limit);
                Verdict {
                    allowed: true,
                    limit,
                    remaining,
                    reset: (f64::from(used) * per_cell).ceil() as u64,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Verdict {
                    allowed: false,
                    limit,
                    remaining: 0,
                    reset: wait.as_secs_f64().ceil().max(1.0) as u64,
                }
            }
        }
    }
}
