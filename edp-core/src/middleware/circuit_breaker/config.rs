use std::time::Duration;

/// When a [`CircuitBreaker`](super::CircuitBreaker) opens and how it recovers.
///
/// It opens on either rule that is set: more than `tolerate_consecutive_failures`
/// failures in a row, or a failure rate at or above `failure_rate` over the last
/// `window` calls (once at least `min_calls` were made). It stays open for `open_for`,
/// then lets `half_open_max_calls` probe calls through; `half_open_successes`
/// successes close it, one failure opens it again.
///
/// ```
/// use std::time::Duration;
/// use edp_core::middleware::circuit_breaker::CircuitBreakerConfig;
///
/// // As gobreaker's default: the 6th consecutive failure opens it.
/// let config = CircuitBreakerConfig::default()
///     .tolerate_consecutive_failures(5)
///     .open_for(Duration::from_millis(50));
/// // Or on failure rate: half of the last 20 calls, once 10 were made.
/// let by_rate = CircuitBreakerConfig::default().failure_rate(0.5, 20, 10);
/// ```
#[derive(Debug, Clone)]
pub struct CircuitBreakerConfig {
    pub(super) name: String,
    pub(super) consecutive: Option<u32>,
    pub(super) rate: Option<FailureRate>,
    pub(super) open_for: Duration,
    pub(super) half_open_max_calls: u32,
    pub(super) half_open_successes: u32,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct FailureRate {
    pub(super) threshold: f64,
    pub(super) window: u32,
    pub(super) min_calls: u32,
}

impl Default for CircuitBreakerConfig {
    /// Opens after more than 5 consecutive failures, stays open 30 s, one probe.
    fn default() -> Self {
        Self {
            name: "default".into(),
            consecutive: Some(5),
            rate: None,
            open_for: Duration::from_secs(30),
            half_open_max_calls: 1,
            half_open_successes: 1,
        }
    }
}

impl CircuitBreakerConfig {
    /// Names the breaker in errors, logs and metrics.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
    /// Opens when more than `n` calls in a row fail.
    pub fn tolerate_consecutive_failures(mut self, n: u32) -> Self {
        self.consecutive = Some(n);
        self
    }
    /// Turns the consecutive-failure rule off.
    pub fn without_consecutive_rule(mut self) -> Self {
        self.consecutive = None;
        self
    }
    /// Opens when `threshold` (0.0 to 1.0) or more of the last `window` calls failed,
    /// once at least `min_calls` calls were made.
    pub fn failure_rate(mut self, threshold: f64, window: u32, min_calls: u32) -> Self {
        let window = window.max(1);
        self.rate = Some(FailureRate {
            threshold: if threshold.is_finite() {
                threshold.clamp(0.0, 1.0)
            } else {
                1.0
            },
            window,
            min_calls: min_calls.clamp(1, window),
        });
        self
    }
    /// How long it stays open before probing.
    pub fn open_for(mut self, d: Duration) -> Self {
        self.open_for = d;
        self
    }
    /// Probe calls let through at once when half-open (at least 1).
    pub fn half_open_max_calls(mut self, n: u32) -> Self {
        self.half_open_max_calls = n.max(1);
        self
    }
    /// Successful probes needed to close (at least 1).
    pub fn half_open_successes(mut self, n: u32) -> Self {
        self.half_open_successes = n.max(1);
        self
    }
}
