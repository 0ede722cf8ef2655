//! The [`App`]: one value that owns a service's whole life — its event handlers, its
//! background [`Task`]s and its HTTP routes — runs them until a signal, and stops them
//! in a fixed order.
//!
//! ```no_run
//! use edp_core::app::{App, TaskFn};
//! use edp_core::error::BoxError;
//! use edp_core::transport::memory::MemoryTransport;
//! use edp_core::{Context, Service};
//! # use edp_core::Event;
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize, Event)]
//! # #[event(name = "order.placed", topic = "orders", key = order_id)]
//! # struct OrderPlaced { order_id: String }
//!
//! async fn charge(_ctx: Context, _order: OrderPlaced) -> Result<(), BoxError> { Ok(()) }
//!
//! # #[tokio::main] async fn main() -> Result<(), edp_core::app::AppError> {
//! let transport = MemoryTransport::new();
//! App::new("payment")
//!     .service(Service::builder("payment", transport.clone()).handler(charge).build())
//!     .task(TaskFn::new("heartbeat", |stop| async move {
//!         stop.cancelled().await;
//!         Ok::<_, BoxError>(())
//!     }))
//!     .routes(axum::Router::new().route("/v1/hello", axum::routing::get(|| async { "hi" })))
//!     .transport(transport)
//!     .run("127.0.0.1:8080") // until ctrl-c or SIGTERM; a second signal stops at once
//!     .await
//! # }
//! ```
//!
//! # What it serves
//!
//! Your routes, plus `GET /health/live`, `GET /health/ready` (every part's check, each
//! with its timeout: your [`check`](App::check)s, each task's state, each consumer's
//! partition assignment, each transport, and "not shutting down") and `GET /metrics`
//! (Prometheus). The telemetry layer ([`ServerLayer`](crate::telemetry::http::ServerLayer))
//! wraps every route once.
//!
//! # Starting
//!
//! The port is bound first (a port in use fails at once), then the tasks of
//! [`Phase::Background`] start, then every service subscribes, then the tasks of
//! [`Phase::Intake`] (discovery registration), and only then are requests taken: an
//! event caused by a request cannot be missed by a handler of the same App.
//!
//! # Shutdown order
//!
//! On the first signal (or [`RunningApp::shutdown`]), each step bounded by its grace
//! period ([`App::shutdown_grace`], 10 s by default):
//!
//! 1. readiness turns down; the listener closes (new connections are refused) and
//!    the [`Phase::Intake`] tasks stop (deregistration from discovery);
//! 2. HTTP requests in flight finish, idle connections close;
//! 3. each service stops intake, drains its handlers in flight and acks them;
//! 4. the [`Phase::Background`] tasks stop: relays finish their batch in flight,
//!    projectors their step;
//! 5. the transports close.
//!
//! A second signal during these steps ends the App at once with
//! [`AppError::Interrupted`].
//!
//! # Tasks
//!
//! A [`Task`] runs until its cancellation token fires. The outbox relay, projectors,
//! saga deadlines, inbox purging and discovery registration are tasks; so is any
//! closure given to [`TaskFn`]. A task that fails is restarted with backoff or ends
//! the App, as its [`TaskPolicy`] says; readiness reports it as down meanwhile, and
//! `edp_task_restarts_total` counts the restarts.

#[cfg(feature = "app")]
mod builder;
#[cfg(feature = "app")]
mod error;
#[cfg(feature = "app")]
mod http;
#[cfg(feature = "app")]
mod running;
#[cfg(feature = "app")]
mod supervisor;
mod task;

#[cfg(feature = "app")]
pub use builder::App;
#[cfg(feature = "app")]
pub use error::AppError;
#[cfg(feature = "app")]
pub use running::RunningApp;
pub use task::{Phase, Task, TaskFn, TaskPolicy};
