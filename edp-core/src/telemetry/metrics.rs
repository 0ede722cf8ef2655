//! Prometheus metrics (feature `prometheus`), in the process's default registry.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `edp_handler_duration_seconds` | histogram | `group`, `event_type`, `outcome` (`handled`, `skipped`, `dead_lettered`, `nacked`) |
//! | `edp_handler_in_flight` | gauge | `group` |
//! | `edp_retries_total` | counter | `policy` (see [`RetryPolicy::name`](crate::middleware::retry::RetryPolicy::name)) |
//! | `edp_dead_letters_total` | counter | `group`, `event_type` |
//! | `edp_consumer_lag` | gauge | `group`, `topic`, `partition` |
//! | `edp_outbox_backlog` | gauge | `database` |
//! | `edp_outbox_oldest_age_seconds` | gauge | `database` |
//! | `edp_circuit_breaker_state` | gauge: 0 closed, 1 open, 2 half-open | `breaker` |
//! | `edp_circuit_breaker_transitions_total` | counter | `breaker`, `to` |
//! | `http_server_request_duration_seconds` | histogram | `method`, `route`, `status` |
//! | `http_server_active_requests` | gauge | `method` |
//! | `edp_gateway_upstream_errors_total` | counter | `upstream`, `kind` (`unreachable`, `timeout`, `circuit_open`) |
//! | `edp_gateway_rate_limited_total` | counter | `route` |
//! | `edp_gateway_rejected_total` | counter | `status` (401, 403) |
//!
//! Serve [`render`] at `/metrics` with the content type [`CONTENT_TYPE`]. Your own
//! metrics registered in `prometheus::default_registry()` are served with them.
//! Without the feature every function here does nothing and [`render`] is empty, so
//! crates can record unconditionally.
//!
//! ```
//! use edp_core::telemetry::metrics;
//!
//! metrics::set_outbox_backlog("orders", 3, Some(std::time::Duration::from_secs(2)));
//! let text = metrics::render();
//! # #[cfg(feature = "prometheus")]
//! assert!(text.contains("edp_outbox_backlog{database=\"orders\"} 3"));
//! ```

use std::time::Duration;

/// The content type of [`render`]'s output: the Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether metrics are recorded: the `prometheus` feature is on. Skip work that only
/// feeds metrics (a backlog query) when it is not.
pub const fn enabled() -> bool {
    cfg!(feature = "prometheus")
}

/// Every metric in the default registry, in the Prometheus text format.
pub fn render() -> String {
    #[cfg(feature = "prometheus")]
    {
        use prometheus::Encoder;
        let mut out = Vec::new();
        if let Err(e) = prometheus::TextEncoder::new().encode(&prometheus::gather(), &mut out) {
            tracing::error!(error = %e, "cannot render the metrics");
        }
        return String::from_utf8_lossy(&out).into_owned();
    }
    #[allow(unreachable_code)]
    String::new()
}

/// Sets a database's outbox backlog: unpublished rows and the age of the oldest.
pub fn set_outbox_backlog(database: &str, rows: u64, oldest_age: Option<Duration>) {
    #[cfg(feature = "prometheus")]
    if let Some(m) = registry::get() {
        m.outbox_backlog
            .with_label_values(&[database])
            .set(i64::try_from(rows).unwrap_or(i64::MAX));
        m.outbox_oldest_age
            .with_label_values(&[database])
            .set(oldest_age.map_or(0.0, |d| d.as_secs_f64()));
    }
    let _ = (database, rows, oldest_age);
}

/// Sets a consumer group's lag on one partition: records not yet consumed.
pub fn set_consumer_lag(group: &str, topic: &str, partition: u32, lag: u64) {
    #[cfg(feature = "prometheus")]
    if let Some(m) = registry::get() {
        m.consumer_lag
            .with_label_values(&[group, topic, &partition.to_string()])
            .set(i64::try_from(lag).unwrap_or(i64::MAX));
    }
    let _ = (group, topic, partition, lag);
}

/// Sets a projection's lag: events in the store it has not applied yet, and the
/// age of the oldest of them.
pub fn set_projection_lag(projection: &str, events: u64, age: Option<Duration>) {
    #[cfg(feature = "prometheus")]
    if let Some(m) = registry::get() {
        m.projection_lag
            .with_label_values(&[projection])
            .set(i64::try_from(events).unwrap_or(i64::MAX));
        m.projection_lag_seconds
            .with_label_values(&[projection])
            .set(age.map_or(0.0, |d| d.as_secs_f64()));
    }
    let _ = (projection, events, age);
}

/// Counts one retry under the retry policy named `policy`.
pub fn count_retry(policy: &str) {
    #[cfg(feature = "prometheus")]
    if let Some(m) = registry::get() {
        m.retries.with_label_values(&[policy]).inc();
    }
    let _ = policy;
}

/// Counts one restart of the App task named `task` after a failure.
pub fn count_task_restart(task: &str) {
    #[cfg(feature = "prometheus")]
    if let Some(m) = registry::get() {
        m.task_restarts.with_label_values(&[task]).inc();
    }
    let _ = task;
}

/// The state of a circuit breaker, as the gauge shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through (0).
    Closed,
    /// Calls fail fast (1).
    Open,
    /// One probe call goes through (2).
    HalfOpen,
}

/// Sets a circuit breaker's state and counts the transition.
pub fn set_breaker_state(breaker: &str, state: BreakerState) {
    #[cfg(feature = "prometheus")]
    if let Some(m) = registry::get() {
        let (value, to) = match state {
            BreakerState::Closed => (0, "closed"),
            BreakerState::Open => (1, "open"),
            BreakerState::HalfOpen => (2, "half_open"),
        };
        m.breaker_state.with_label_values(&[breaker]).set(value);
        m.breaker_transitions
            .with_label_values(&[breaker, to])
            .inc();
    }
    let _ = (breaker, state);
}

/// Counts an upstream call of the gateway that failed: `kind` is `unreachable`,
/// `timeout` or `circuit_open`.
pub fn count_upstream_error(upstream: &str, kind: &str) {
    #[cfg(feature = "prometheus")]
    if let Some(m) = registry::get() {
        m.upstream_errors.with_label_values(&[upstream, kind]).inc();
    }
    let _ = (upstream, kind);
}

/// Counts a request the gateway refused for its rate limit on `route`.
pub fn count_rate_limited(route: &str) {
    #[cfg(feature = "prometheus")]
    if let Some(m) = registry::get() {
        m.rate_limited.with_label_values(&[route]).inc();
    }
    let _ = route;
}

/// Counts a request the gateway refused for its credentials (401 or 403).
pub fn count_rejected(status: u16) {
    #[cfg(feature = "prometheus")]
    if let Some(m) = registry::get() {
        m.rejected.with_label_values(&[&status.to_string()]).inc();
    }
    let _ = status;
}

/// Shows a new breaker as closed, without counting a transition.
pub(crate) fn breaker_created(breaker: &str) {
    #[cfg(feature = "prometheus")]
    if let Some(m) = registry::get() {
        m.breaker_state.with_label_values(&[breaker]).set(0);
    }
    let _ = breaker;
}

/// Per-worker handler metrics. Label lookups happen once per event type; durations
/// go to worker-local histograms, flushed to the shared ones after each batch, and
/// the in-flight gauge moves once per batch: shared atomics per event cost more than
/// the rest of the metrics together on a busy machine (measured).
#[derive(Debug)]
pub(crate) struct HandlerMeter {
    #[cfg(feature = "prometheus")]
    inner: Option<meter::Meter>,
}

impl HandlerMeter {
    pub(crate) fn new(group: &str, enabled: bool) -> Self {
        let _ = (group, enabled);
        Self {
            #[cfg(feature = "prometheus")]
            inner: if enabled {
                registry::get().map(|m| meter::Meter::new(m, group))
            } else {
                None
            },
        }
    }

    /// A batch of `n` deliveries was taken.
    pub(crate) fn batch_started(&self, n: usize) {
        #[cfg(feature = "prometheus")]
        if let Some(m) = &self.inner {
            m.in_flight.add(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let _ = n;
    }

    /// The batch is settled: `n` deliveries left the worker; publish what was
    /// recorded.
    pub(crate) fn batch_finished(&self, n: usize) {
        #[cfg(feature = "prometheus")]
        if let Some(m) = &self.inner {
            m.in_flight.sub(i64::try_from(n).unwrap_or(i64::MAX));
            m.flush();
        }
        let _ = n;
    }

    /// Marks the start of one event; pass what it returns to [`finish`](Self::finish).
    pub(crate) fn start(&self) -> Option<std::time::Instant> {
        #[cfg(feature = "prometheus")]
        if self.inner.is_some() {
            return Some(std::time::Instant::now());
        }
        None
    }

    pub(crate) fn finish(
        &mut self,
        started: Option<std::time::Instant>,
        event_type: &str,
        status: &crate::handler::Status,
    ) {
        #[cfg(feature = "prometheus")]
        if let (Some(m), Some(started)) = (&mut self.inner, started) {
            m.observe(event_type, status, started.elapsed());
        }
        let _ = (started, event_type, status);
    }
}

#[cfg(feature = "prometheus")]
mod meter {
    use prometheus::IntCounter;
    use prometheus::IntGauge;
    use prometheus::local::LocalHistogram;

    use crate::handler::Status;

    #[derive(Debug)]
    pub(super) struct Meter {
        group: String,
        metrics: &'static super::registry::Metrics,
        pub(super) in_flight: IntGauge,
        /// Per event type: a local histogram per outcome, and the dead-letter counter.
        by_type: Vec<(String, [LocalHistogram; 4], IntCounter)>,
    }

    impl Meter {
        pub(super) fn new(metrics: &'static super::registry::Metrics, group: &str) -> Self {
            Self {
                group: group.to_owned(),
                metrics,
                in_flight: metrics.in_flight.with_label_values(&[group]),
                by_type: Vec::new(),
            }
        }

        pub(super) fn flush(&self) {
            for (_, hs, _) in &self.by_type {
                for h in hs {
                    h.flush();
                }
            }
        }

        pub(super) fn observe(
            &mut self,
            event_type: &str,
            status: &Status,
            took: std::time::Duration,
        ) {
            let at = match self.by_type.iter().position(|(t, ..)| t == event_type) {
                Some(at) => at,
                None => {
                    let m = self.metrics;
                    let h = |outcome| {
                        m.handler_duration
                            .with_label_values(&[&self.group, event_type, outcome])
                            .local()
                    };
                    let hs = [h("handled"), h("skipped"), h("dead_lettered"), h("nacked")];
                    let dl = m.dead_letters.with_label_values(&[&self.group, event_type]);
                    self.by_type.push((event_type.to_owned(), hs, dl));
                    self.by_type.len() - 1
                }
            };
            let (_, hs, dl) = &self.by_type[at];
            let i = match status {
                Status::Handled => 0,
                Status::Skipped => 1,
                Status::DeadLettered { .. } => {
                    dl.inc();
                    2
                }
                Status::Nacked { .. } => 3,
            };
            hs[i].observe(took.as_secs_f64());
        }
    }
}

#[cfg(feature = "prometheus")]
pub(crate) mod registry {
    use std::sync::LazyLock;

    use prometheus::{
        GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    };

    /// Every metric edp records.
    #[derive(Debug)]
    pub(crate) struct Metrics {
        pub(crate) handler_duration: HistogramVec,
        pub(crate) in_flight: IntGaugeVec,
        pub(crate) retries: IntCounterVec,
        pub(crate) dead_letters: IntCounterVec,
        pub(crate) consumer_lag: IntGaugeVec,
        pub(crate) outbox_backlog: IntGaugeVec,
        pub(crate) outbox_oldest_age: GaugeVec,
        pub(crate) projection_lag: IntGaugeVec,
        pub(crate) projection_lag_seconds: GaugeVec,
        pub(crate) breaker_state: IntGaugeVec,
        pub(crate) breaker_transitions: IntCounterVec,
        #[cfg_attr(not(feature = "http"), allow(dead_code))]
        pub(crate) http_duration: HistogramVec,
        #[cfg_attr(not(feature = "http"), allow(dead_code))]
        pub(crate) http_active: IntGaugeVec,
        pub(crate) upstream_errors: IntCounterVec,
        pub(crate) rate_limited: IntCounterVec,
        pub(crate) rejected: IntCounterVec,
        pub(crate) task_restarts: IntCounterVec,
    }

    /// Handler and request latencies, from 100 µs to 10 s.
    const BUCKETS: &[f64] = &[
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        5.0, 10.0,
    ];

    static METRICS: LazyLock<Option<Metrics>> =
        LazyLock::new(|| match register(prometheus::default_registry()) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::error!(error = %e, "cannot register edp's metrics; they are off");
                None
            }
        });

    pub(crate) fn get() -> Option<&'static Metrics> {
        METRICS.as_ref()
    }

    fn register(r: &Registry) -> prometheus::Result<Metrics> {
        fn reg<C: prometheus::core::Collector + Clone + 'static>(
            r: &Registry,
            c: C,
        ) -> prometheus::Result<C> {
            r.register(Box::new(c.clone()))?;
            Ok(c)
        }
        let hist = |name: &str, help: &str, labels: &[&str]| {
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(BUCKETS.to_vec()),
                labels,
            )
        };
        Ok(Metrics {
            task_restarts: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "edp_task_restarts_total",
                        "App tasks restarted after a failure.",
                    ),
                    &["task"],
                )?,
            )?,
            handler_duration: reg(
                r,
                hist(
                    "edp_handler_duration_seconds",
                    "Time from delivery to outcome of one event, including retries.",
                    &["group", "event_type", "outcome"],
                )?,
            )?,
            in_flight: reg(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "edp_handler_in_flight",
                        "Events taken by a worker and not yet settled.",
                    ),
                    &["group"],
                )?,
            )?,
            retries: reg(
                r,
                IntCounterVec::new(
                    Opts::new("edp_retries_total", "Calls retried after a failure."),
                    &["policy"],
                )?,
            )?,
            dead_letters: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "edp_dead_letters_total",
                        "Events sent to a dead-letter topic.",
                    ),
                    &["group", "event_type"],
                )?,
            )?,
            consumer_lag: reg(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "edp_consumer_lag",
                        "Records on a partition not yet consumed by the group.",
                    ),
                    &["group", "topic", "partition"],
                )?,
            )?,
            outbox_backlog: reg(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "edp_outbox_backlog",
                        "Outbox rows written and not yet published.",
                    ),
                    &["database"],
                )?,
            )?,
            projection_lag: reg(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "edp_projection_lag",
                        "Events in the store a projection has not applied yet.",
                    ),
                    &["projection"],
                )?,
            )?,
            projection_lag_seconds: reg(
                r,
                GaugeVec::new(
                    Opts::new(
                        "edp_projection_lag_seconds",
                        "How long the oldest event a projection has not applied has waited.",
                    ),
                    &["projection"],
                )?,
            )?,
            outbox_oldest_age: reg(
                r,
                GaugeVec::new(
                    Opts::new(
                        "edp_outbox_oldest_age_seconds",
                        "How long the oldest unpublished outbox row has waited.",
                    ),
                    &["database"],
                )?,
            )?,
            breaker_state: reg(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "edp_circuit_breaker_state",
                        "Circuit breaker state: 0 closed, 1 open, 2 half-open.",
                    ),
                    &["breaker"],
                )?,
            )?,
            breaker_transitions: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "edp_circuit_breaker_transitions_total",
                        "Circuit breaker state changes, by the state entered.",
                    ),
                    &["breaker", "to"],
                )?,
            )?,
            http_duration: reg(
                r,
                hist(
                    "http_server_request_duration_seconds",
                    "Time to answer one HTTP request.",
                    &["method", "route", "status"],
                )?,
            )?,
            http_active: reg(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "http_server_active_requests",
                        "HTTP requests being answered now.",
                    ),
                    &["method"],
                )?,
            )?,
            upstream_errors: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "edp_gateway_upstream_errors_total",
                        "Upstream calls of the gateway that failed, by kind.",
                    ),
                    &["upstream", "kind"],
                )?,
            )?,
            rate_limited: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "edp_gateway_rate_limited_total",
                        "Requests the gateway refused for a rate limit.",
                    ),
                    &["route"],
                )?,
            )?,
            rejected: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "edp_gateway_rejected_total",
                        "Requests the gateway refused for their credentials.",
                    ),
                    &["status"],
                )?,
            )?,
        })
    }
}
