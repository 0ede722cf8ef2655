use std::time::Duration;

use rand::rngs::SmallRng;

/// How often and how long to retry: exponential backoff with full jitter, bounded by
/// attempts and by elapsed time.
///
/// The wait before retry `n` (1-based) is a uniform random duration in
/// `0..=min(max_backoff, initial_backoff * multiplier^(n-1))` ("full jitter", which
/// spreads retries of many consumers best). Set [`jitter(false)`](Self::jitter) for the
/// cap itself.
///
/// ```
/// use std::time::Duration;
/// use edp_core::middleware::retry::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .max_attempts(5)
///     .initial_backoff(Duration::from_millis(50))
///     .max_backoff(Duration::from_secs(2))
///     .max_elapsed(Some(Duration::from_secs(10)));
/// assert_eq!(policy.backoff_cap(3), Duration::from_millis(200));
/// ```
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub(super) max_attempts: u32,
    pub(super) initial_backoff: Duration,
    pub(super) max_backoff: Duration,
    pub(super) multiplier: f64,
    pub(super) max_elapsed: Option<Duration>,
    pub(super) jitter: bool,
    pub(super) seed: Option<u64>,
    pub(super) name: std::sync::Arc<str>,
}

impl Default for RetryPolicy {
    /// 3 attempts, 100 ms initial backoff doubling up to 10 s, at most 60 s in all,
    /// full jitter.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            multiplier: 2.0,
            max_elapsed: Some(Duration::from_secs(60)),
            jitter: true,
            seed: None,
            name: std::sync::Arc::from("default"),
        }
    }
}

impl RetryPolicy {
    /// The policy's name: the `policy` label of the `edp_retries_total` metric
    /// (default `default`).
    pub fn name(mut self, name: impl Into<std::sync::Arc<str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Calls in all, the first included (at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }
    /// The backoff cap before the first retry.
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }
    /// The largest backoff cap.
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }
    /// The growth factor of the cap per retry (at least 1).
    pub fn multiplier(mut self, m: f64) -> Self {
        self.multiplier = if m.is_finite() { m.max(1.0) } else { 2.0 };
        self
    }
    /// Gives up when the next wait would end past this time since the first call.
    pub fn max_elapsed(mut self, d: Option<Duration>) -> Self {
        self.max_elapsed = d;
        self
    }
    /// Full jitter (the default) or the cap itself.
    pub fn jitter(mut self, on: bool) -> Self {
        self.jitter = on;
        self
    }
    /// Seeds the jitter, for reproducible tests.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The backoff cap before retry `n` (1-based).
    pub fn backoff_cap(&self, n: u32) -> Duration {
        self.as_backoff().cap(n)
    }

    pub(super) fn backoff(&self, n: u32, rng: &mut SmallRng) -> Duration {
        self.as_backoff().delay(n, rng)
    }

    /// The delays of this policy, as edp's one [`Backoff`](crate::backoff::Backoff).
    pub fn as_backoff(&self) -> crate::backoff::Backoff {
        crate::backoff::Backoff::new(self.initial_backoff, self.max_backoff)
            .multiplier(self.multiplier)
            .jitter(self.jitter)
    }
}
