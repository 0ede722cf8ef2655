//! The notification service of the ecommerce example: tells the customer how each
//! order ended, once per order.
//!
//! - [`service`]: an [`edp_core::Service`] named `notification` that consumes
//!   `OrderPlaced` (to learn the customer), `OrderConfirmed` and `OrderCancelled`.
//! - [`Sender`]: where notifications go, pluggable; [`Outbox`] keeps them in memory.
//! - [`router`]: `GET /v1/notifications` lists the outbox.
//!
//! ```no_run
//! use ecommerce_notification::Outbox;
//! use edp_core::transport::memory::MemoryTransport;
//!
//! # async fn run() -> Result<(), edp_core::ServiceError> {
//! let outbox = Outbox::new();
//! let _running = ecommerce_notification::service(MemoryTransport::new(), outbox.clone())
//!     .start()
//!     .await?;
//! let _app = ecommerce_notification::router(outbox);
//! # Ok(()) }
//! ```

mod api;
mod notifier;
mod sender;

pub use api::{NotificationList, router};
pub use notifier::{
    Notifier, SendInProgress, on_order_cancelled, on_order_confirmed, on_order_placed,
};
pub use sender::{Notification, NotificationKind, Outbox, SendError, Sender};

use edp_core::middleware::retry::{RetryLayer, RetryPolicy};
use edp_core::transport::Transport;
use edp_core::{Codec, JsonCodec, Service};

/// The service's name: its consumer group and the `source` of its events.
pub const NAME: &str = "notification";

/// The notification service on `transport`, delivering through `sender`.
pub fn service<T: Transport, S: Sender>(transport: T, sender: S) -> Service<T> {
    service_with(transport, JsonCodec, sender)
}

/// The notification service with another codec (Avro, for example).
pub fn service_with<T: Transport, C: Codec, S: Sender>(
    transport: T,
    codec: C,
    sender: S,
) -> Service<T, C> {
    let notifier = Notifier::new(sender);
    Service::builder(NAME, transport)
        .codec(codec)
        .layer(RetryLayer::new(RetryPolicy::default()))
        .handler_with(notifier.clone(), on_order_placed)
        .handler_with(notifier.clone(), on_order_confirmed)
        .handler_with(notifier, on_order_cancelled)
        .build()
}
