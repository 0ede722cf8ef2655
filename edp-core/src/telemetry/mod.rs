//! Telemetry: logs, traces and metrics.
//!
//! - [`Telemetry`] sets up a process: `tracing` logs (pretty or JSON) and, with the
//!   `otel` feature, OpenTelemetry span export over OTLP.
//! - Trace context travels in W3C `traceparent` / `tracestate` headers, on events
//!   ([`stamp`]) and HTTP requests ([`http`], feature `http`). While spans are
//!   exported, edp makes `publish`, `receive` and `process` spans for events
//!   (OpenTelemetry messaging conventions) and a `server` span per HTTP request, all
//!   in one trace. New traces are sampled ([`sample_ratio`]); a trace sampled
//!   upstream is always followed.
//! - [`metrics`]: Prometheus metrics (feature `prometheus`) of handlers, retries,
//!   dead letters, consumer lag, the outbox, circuit breakers and HTTP.

mod events;
#[cfg(feature = "http")]
pub mod http;
mod init;
pub mod metrics;
#[cfg(feature = "otel")]
mod otel;
mod sampling;
mod trace_context;

pub use events::{PublishSpans, publish_spans, stamp};
pub(crate) use events::{consume_spans, in_spans};
pub use init::{DEFAULT_SAMPLE_RATIO, LogFormat, Telemetry, TelemetryError, TelemetryGuard};
pub use sampling::{sample_ratio, tracing_active};
pub use trace_context::TraceParent;

/// The current span's trace context, when spans are exported and the current span
/// is one of them: what a log line or an error page can show to find the trace.
///
/// ```
/// // Nothing exported here, so there is no current trace.
/// assert!(edp_core::telemetry::current_trace().is_none());
/// ```
pub fn current_trace() -> Option<TraceParent> {
    #[cfg(feature = "otel")]
    if tracing_active() {
        return otel::current_span_context().map(|(tp, _)| tp);
    }
    None
}
