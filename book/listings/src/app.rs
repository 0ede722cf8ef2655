//! The App chapter: one service's handlers, tasks and routes, run and stopped as one.

use std::time::Duration;

use edp_core::app::{App, Phase, Task, TaskFn, TaskPolicy};
use edp_core::error::BoxError;
use edp_core::transport::memory::MemoryTransport;
use edp_core::{Context, Service};
use tokio_util::sync::CancellationToken;

use crate::quickstart::OrderPlaced;

/// Charges an order.
pub async fn charge(_ctx: Context, _order: OrderPlaced) -> Result<(), BoxError> {
    Ok(())
}

// ANCHOR: task
/// Sends what the day's payments came to, once an hour.
#[derive(Debug, Default)]
pub struct HourlyReport {
    /// Reports sent so far; kept across restarts, because it lives in the task.
    pub sent: u64,
}

impl Task for HourlyReport {
    fn name(&self) -> std::borrow::Cow<'static, str> {
        "hourly-report".into()
    }

    async fn run(&mut self, stop: CancellationToken) -> Result<(), BoxError> {
        let mut hourly = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tokio::select! {
                () = stop.cancelled() => return Ok(()), // shutdown: finish and return
                _ = hourly.tick() => self.sent += 1,    // an Err here restarts the task
            }
        }
    }
}
// ANCHOR_END: task

// ANCHOR: app
/// The payment service as an App: its handlers, two tasks, a route, a readiness
/// check, and its transport, closed last.
pub fn payment_app(transport: MemoryTransport) -> App {
    App::new("payment")
        .service(
            Service::builder("payment", transport.clone())
                .handler(charge)
                .build(),
        )
        .task(HourlyReport::default())
        .task_with(
            TaskFn::new("announce", |stop: CancellationToken| async move {
                // Register with a discovery service here; stopped first at shutdown.
                stop.cancelled().await;
                Ok::<_, BoxError>(())
            })
            .phase(Phase::Intake),
            TaskPolicy::EndApp,
        )
        .routes(axum::Router::new().route("/v1/payments", axum::routing::get(|| async { "[]" })))
        .check("bank", || async { Ok::<_, BoxError>(()) })
        .transport(transport)
        .shutdown_grace(Duration::from_secs(10))
}
// ANCHOR_END: app

// ANCHOR: main
/// Serves the payment App on port 8080 until ctrl-c or SIGTERM.
pub async fn main() -> Result<(), edp_core::app::AppError> {
    payment_app(MemoryTransport::new())
        .run("127.0.0.1:8080")
        .await
}
// ANCHOR_END: main

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_payment_app_is_ready_then_stops_cleanly() {
        let app = payment_app(MemoryTransport::new())
            .start("127.0.0.1:0")
            .await
            .expect("starts");
        let report = app.health().ready().await;
        assert_eq!(report.status, edp_core::health::Condition::Up, "{report:?}");
        let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "shutdown",
                "consumers",
                "task:hourly-report",
                "task:announce",
                "bank",
                "transport"
            ]
        );
        app.shutdown().await.expect("a clean shutdown");
    }
}
