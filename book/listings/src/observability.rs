//! The Observability chapter: telemetry set-up, metrics, HTTP tracing and readiness.

use edp_core::error::BoxError;
use edp_core::handler::RunningService;
use edp_core::health::Health;
use edp_core::telemetry::{self, Telemetry, TelemetryError, TelemetryGuard};
use tower::ServiceBuilder;

// ANCHOR: init
/// The first lines of `main`: logs (pretty, or JSON with `EDP_LOG_FORMAT=json`),
/// filtered by `RUST_LOG`, and spans exported over OTLP when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Call `shutdown().await` on the guard before
/// the process exits, so that buffered spans are sent.
pub fn init_telemetry() -> Result<TelemetryGuard, TelemetryError> {
    Telemetry::from_env("payment")?
        .version(env!("CARGO_PKG_VERSION"))
        .init()
}
// ANCHOR_END: init

// ANCHOR: metrics
/// `GET /metrics`: the content type and body Prometheus scrapes. Whatever your web
/// framework, answer with these two.
pub fn metrics_response() -> (&'static str, String) {
    (
        telemetry::metrics::CONTENT_TYPE,
        telemetry::metrics::render(),
    )
}
// ANCHOR_END: metrics

// ANCHOR: http
/// Wraps an HTTP service (an axum `Router`, a hyper service) so that each request
/// continues the caller's trace and is measured by its route template.
pub fn traced<S>(app: S) -> telemetry::http::Server<S> {
    ServiceBuilder::new()
        .layer(telemetry::http::ServerLayer::new().route(|head| {
            // With axum: head.extensions.get::<axum::extract::MatchedPath>()
            head.extensions.get::<Route>().map(|r| r.0.to_owned())
        }))
        .service(app)
}

/// A route template, as a router would leave it in the request's extensions.
#[derive(Debug, Clone)]
pub struct Route(pub &'static str);
// ANCHOR_END: http

// ANCHOR: readiness
/// Readiness: the database answers, and every consumer holds its partitions.
pub fn readiness(services: &[RunningService], ping_db: fn() -> Result<(), BoxError>) -> Health {
    let mut health = Health::new().check("database", move || std::future::ready(ping_db()));
    for service in services {
        let assignment = service.assignment();
        health = health.check(
            format!("{}-consumer", assignment.group()),
            assignment.check(),
        );
    }
    health
}
// ANCHOR_END: readiness

#[cfg(test)]
mod tests;
