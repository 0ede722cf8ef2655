//! Exponential backoff with full jitter: how long to wait before attempt `n` again.

use std::time::Duration;

use rand::Rng;

/// Delays that grow from `first` by `multiplier` per attempt up to `max`, each drawn
/// uniformly from `0..=cap` ("full jitter", which spreads many retrying clients best).
///
/// ```
/// use std::time::Duration;
/// use edp_core::backoff::Backoff;
///
/// let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
/// assert_eq!(backoff.cap(1), Duration::from_millis(100));
/// assert_eq!(backoff.cap(3), Duration::from_millis(400));
/// assert_eq!(backoff.cap(10), Duration::from_secs(1));
/// # use rand::SeedableRng;
/// let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
/// assert!(backoff.delay(3, &mut rng) <= Duration::from_millis(400));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    multiplier: f64,
    jitter: bool,
}

impl Default for Backoff {
    /// 100 ms, doubling, at most 30 s, with jitter.
    fn default() -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(30))
    }
}

impl Backoff {
    /// From `first`, doubling, up to `max`, with jitter.
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            multiplier: 2.0,
            jitter: true,
        }
    }

    /// Grows by `multiplier` per attempt instead of 2.
    pub const fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// Waits the cap itself instead of a random part of it.
    pub const fn jitter(mut self, on: bool) -> Self {
        self.jitter = on;
        self
    }

    /// The first delay.
    pub const fn first(&self) -> Duration {
        self.first
    }

    /// The longest delay before attempt `n` (1-based) is made again.
    pub fn cap(&self, n: u32) -> Duration {
        let exponent = i32::try_from(n.saturating_sub(1).min(1000)).unwrap_or(1000);
        let cap = self.first.as_secs_f64() * self.multiplier.powi(exponent);
        let max = self.max.as_secs_f64();
        let secs = if cap.is_finite() { cap.min(max) } else { max };
        Duration::try_from_secs_f64(secs).unwrap_or(self.max)
    }

    /// The delay before attempt `n` (1-based) is made again, drawn with `rng`.
    pub fn delay(&self, n: u32, rng: &mut impl Rng) -> Duration {
        let cap = self.cap(n);
        if !self.jitter || cap.is_zero() {
            return cap;
        }
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.next_u64() % nanos.saturating_add(1))
    }
}
