//! The routes every App serves: `/health/live`, `/health/ready` and `/metrics`.

use axum::http::{StatusCode, header};
use axum::routing::get;

use crate::health::{Condition, Health};

/// `GET /health/live` (200 while the process answers), `GET /health/ready` (200 when
/// every check is up, else 503; the [`Report`](crate::health::Report) as JSON either
/// way) and `GET /metrics` (every metric in the Prometheus text format).
pub(super) fn management(health: Health) -> axum::Router {
    let live = health.clone();
    axum::Router::new()
        .route(
            "/health/live",
            get(move || {
                let report = live.live();
                async move { axum::Json(report) }
            }),
        )
        .route(
            "/health/ready",
            get(move || {
                let health = health.clone();
                async move {
                    let report = health.ready().await;
                    let status = match report.status {
                        Condition::Up => StatusCode::OK,
                        Condition::Down => StatusCode::SERVICE_UNAVAILABLE,
                    };
                    (status, axum::Json(report))
                }
            }),
        )
        .route("/metrics", get(metrics))
}

async fn metrics() -> impl axum::response::IntoResponse {
    use crate::telemetry::metrics;
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics::render(),
    )
}

/// The App's router with the telemetry layer applied once, around every route: each
/// request traced (continuing an incoming `traceparent`) and measured by its route
/// template.
pub(super) fn instrument(router: axum::Router) -> axum::Router {
    router.layer(crate::telemetry::http::ServerLayer::new().route(|head| {
        head.extensions
            .get::<axum::extract::MatchedPath>()
            .map(|p| p.as_str().to_owned())
    }))
}
