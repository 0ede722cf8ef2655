//! Whether edp makes spans, and which traces it starts.
//!
//! A span costs about as much CPU as a whole in-memory event, so edp makes per-event
//! spans only while an OpenTelemetry pipeline is installed ([`Telemetry`] with an
//! exporter), and samples at the edges: an event or request that carries a
//! `traceparent` follows its flag (parent-based: a trace sampled upstream is always
//! traced), and one that starts a trace is sampled with the configured ratio.
//!
//! [`Telemetry`]: super::Telemetry

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static ACTIVE: AtomicBool = AtomicBool::new(false);
/// The root sampling ratio, as `f64` bits.
static RATIO: AtomicU64 = AtomicU64::new(0);

/// Whether edp makes spans: an OpenTelemetry pipeline is installed.
///
/// ```
/// // No pipeline installed: events carry trace context through, and make no spans.
/// assert!(!edp_core::telemetry::tracing_active());
/// ```
pub fn tracing_active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// The share of new traces that are sampled, from 0.0 to 1.0.
pub fn sample_ratio() -> f64 {
    f64::from_bits(RATIO.load(Ordering::Relaxed))
}

#[cfg_attr(not(feature = "otel"), allow(dead_code))]
pub(crate) fn activate(ratio: f64) {
    RATIO.store(ratio.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    ACTIVE.store(true, Ordering::Relaxed);
}

#[cfg_attr(not(feature = "otel"), allow(dead_code))]
pub(crate) fn deactivate() {
    ACTIVE.store(false, Ordering::Relaxed);
}

/// Whether a new trace (no parent) is sampled.
#[cfg_attr(not(all(feature = "otel", feature = "http")), allow(dead_code))]
pub(crate) fn sample_root() -> bool {
    let ratio = sample_ratio();
    ratio >= 1.0 || (ratio > 0.0 && super::trace_context::unit_draw() < ratio)
}
