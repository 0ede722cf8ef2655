//! The ecommerce example in one process: the order, product, payment and
//! notification services on one in-memory event bus, and their REST APIs on one HTTP
//! listener. No external servers.
//!
//! ```text
//!            HTTP  POST /v1/orders, GET /v1/orders[/{id}], GET /v1/notifications
//!                                    │
//!   order ── OrderPlaced ──> payment ── PaymentSucceeded | PaymentFailed ──> order
//!   order ── OrderConfirmed | OrderCancelled ──> notification
//! ```
//!
//! - [`start`] / [`start_on`]: the wiring; returns the running [`System`].
//! - [`apps`]: each service as an App of its own, which [`start`] merges into one.
//! - [`demo`]: places orders over real HTTP and checks every outcome against
//!   [`ecommerce_payment::decide`].
//! - [`client`]: the small hyper client the demo and the tests use.
//! - [`Cli`] and [`parse_args`]: the command line of the `ecommerce` binary (clap).
//!
//! ```no_run
//! # async fn run() -> Result<(), ecommerce::LaunchError> {
//! let system = ecommerce::start("127.0.0.1:8080".parse().unwrap()).await?;
//! println!("serving on {}", system.base_url());
//! system.run_until(edp_core::shutdown::signal()).await
//! # }
//! ```

pub mod apps;
mod cli;
pub mod client;
mod demo;
mod front;
mod storage;
mod system;

pub use cli::{
    Choices, Cli, CodecChoice, Command, DEFAULT_ADDR, DemoArgs, RunArgs, TransportChoice,
    parse_args,
};
pub use demo::{
    DemoError, DemoOptions, DemoOrder, DemoReport, demo, demo_on, demo_order, demo_with, drive,
};
pub use front::{Front, front};
pub use storage::{Storage, StorageError};
pub use system::{
    LaunchError, OutboxBacklog, Roles, System, avro, avro_or_embedded, kafka, start, start_full,
    start_on, start_with,
};
