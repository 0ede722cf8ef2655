//! The state machine, shared by every clone of a breaker.

use crate::telemetry::metrics::{BreakerState, set_breaker_state};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::CircuitBreakerConfig;
use super::error::CircuitOpen;

/// The state of a circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls go through; failures are counted.
    Closed,
    /// Calls are rejected until the open period ends.
    Open,
    /// A few probe calls go through; their outcome closes or reopens the circuit.
    HalfOpen,
}

pub(super) struct Breaker {
    pub(super) config: CircuitBreakerConfig,
    inner: Mutex<Inner>,
    /// Lock-free fast path, kept in step with `inner` under its lock: while the
    /// circuit is closed with no failure counted (and no failure-rate rule), calls are
    /// admitted and successes recorded without taking the lock or reading the clock.
    /// Every call of every worker passes here, so a shared lock would be contended.
    /// `generation << 1 | quiet`, in one word so that one load gives both.
    fast: AtomicU64,
}

struct Inner {
    state: State,
    /// Bumped on every transition; results of calls admitted earlier are ignored.
    generation: u64,
    consecutive_failures: u32,
    window: VecDeque<bool>,
    window_failures: u32,
}

enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { in_flight: u32, successes: u32 },
}

/// A call admitted in some generation; `probe` when admitted half-open.
#[derive(Debug, Clone, Copy)]
pub(super) struct Admission {
    pub(super) generation: u64,
    pub(super) probe: bool,
}

impl Breaker {
    pub(super) fn new(config: CircuitBreakerConfig) -> Self {
        crate::telemetry::metrics::breaker_created(&config.name);
        Self {
            fast: AtomicU64::new(u64::from(config.rate.is_none())),
            config,
            inner: Mutex::new(Inner {
                state: State::Closed,
                generation: 0,
                consecutive_failures: 0,
                window: VecDeque::new(),
                window_failures: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn state(&self) -> CircuitState {
        if self.fast.load(Ordering::Acquire) & 1 == 1 {
            return CircuitState::Closed;
        }
        match self.lock().state {
            State::Closed => CircuitState::Closed,
            State::Open { until } if Instant::now() >= until => CircuitState::HalfOpen,
            State::Open { .. } => CircuitState::Open,
            State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    pub(super) fn admit(&self) -> Result<Admission, CircuitOpen> {
        let fast = self.fast.load(Ordering::Acquire);
        if fast & 1 == 1 {
            return Ok(Admission {
                generation: fast >> 1,
                probe: false,
            });
        }
        let mut g = self.lock();
        let now = Instant::now();
        if let State::Open { until } = g.state {
            if now < until {
                return Err(self.open_error(until - now));
            }
            g.transition(State::HalfOpen {
                in_flight: 0,
                successes: 0,
            });
            self.publish_fast_path(&g);
            tracing::info!(breaker = %self.config.name, "circuit half-open");
            set_breaker_state(&self.config.name, BreakerState::HalfOpen);
        }
        let generation = g.generation;
        match &mut g.state {
            State::Closed => Ok(Admission {
                generation,
                probe: false,
            }),
            State::HalfOpen { in_flight, .. } => {
                if *in_flight >= self.config.half_open_max_calls {
                    return Err(self.open_error(Duration::ZERO));
                }
                *in_flight += 1;
                Ok(Admission {
                    generation,
                    probe: true,
                })
            }
            // invariant: Open was turned into HalfOpen above.
            State::Open { until } => Err(self.open_error(until.saturating_duration_since(now))),
        }
    }

    fn open_error(&self, retry_after: Duration) -> CircuitOpen {
        CircuitOpen {
            name: self.config.name.clone(),
            retry_after,
        }
    }

    pub(super) fn record(&self, admission: Admission, failure: bool) {
        let fast = self.fast.load(Ordering::Acquire);
        if !failure && fast & 1 == 1 && fast >> 1 == admission.generation {
            // Closed with no failure counted: a success changes nothing.
            return;
        }
        let mut guard = self.lock();
        let g = &mut *guard;
        if g.generation != admission.generation {
            return;
        }
        let cfg = &self.config;
        let next = match &mut g.state {
            State::Closed => {
                if failure {
                    g.consecutive_failures += 1;
                } else {
                    g.consecutive_failures = 0;
                }
                let mut trip = cfg.consecutive.is_some_and(|n| g.consecutive_failures > n);
                if let Some(rate) = cfg.rate {
                    g.window.push_back(failure);
                    g.window_failures += u32::from(failure);
                    if g.window.len() > rate.window as usize && g.window.pop_front() == Some(true) {
                        g.window_failures -= 1;
                    }
                    let calls = g.window.len() as u32;
                    if calls >= rate.min_calls
                        && f64::from(g.window_failures) / f64::from(calls) >= rate.threshold
                    {
                        trip = true;
                    }
                }
                trip.then(|| {
                    tracing::warn!(breaker = %cfg.name, open_for_ms = cfg.open_for.as_millis() as u64, "circuit open");
                    set_breaker_state(&cfg.name, BreakerState::Open);
                    State::Open { until: Instant::now() + cfg.open_for }
                })
            }
            State::HalfOpen {
                in_flight,
                successes,
            } => {
                *in_flight = in_flight.saturating_sub(1);
                if failure {
                    tracing::warn!(breaker = %cfg.name, "probe failed; circuit open again");
                    set_breaker_state(&cfg.name, BreakerState::Open);
                    Some(State::Open {
                        until: Instant::now() + cfg.open_for,
                    })
                } else {
                    *successes += 1;
                    (*successes >= cfg.half_open_successes).then(|| {
                        tracing::info!(breaker = %cfg.name, "circuit closed");
                        set_breaker_state(&cfg.name, BreakerState::Closed);
                        State::Closed
                    })
                }
            }
            State::Open { .. } => None,
        };
        if let Some(state) = next {
            g.transition(state);
        }
        self.publish_fast_path(g);
    }

    /// Mirrors the locked state into the fast-path atomics.
    fn publish_fast_path(&self, g: &Inner) {
        let quiet = matches!(g.state, State::Closed)
            && g.consecutive_failures == 0
            && self.config.rate.is_none();
        self.fast
            .store(g.generation << 1 | u64::from(quiet), Ordering::Release);
    }

    /// A probe's future was dropped before it finished: free its slot.
    pub(super) fn abandon(&self, admission: Admission) {
        let mut g = self.lock();
        if g.generation != admission.generation {
            return;
        }
        if let State::HalfOpen { in_flight, .. } = &mut g.state {
            *in_flight = in_flight.saturating_sub(1);
        }
    }
}

impl Inner {
    fn transition(&mut self, state: State) {
        self.state = state;
        self.generation += 1;
        self.consecutive_failures = 0;
        self.window.clear();
        self.window_failures = 0;
    }
}
