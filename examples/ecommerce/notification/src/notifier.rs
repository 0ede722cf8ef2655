//! The event handlers: one notification per settled order.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ecommerce_contracts::{OrderCancelled, OrderConfirmed, OrderPlaced, format_cents};
use edp_core::error::BoxError;
use edp_core::{Codec, Context};

use crate::sender::{Notification, NotificationKind, Sender};

/// The notification service's state: who placed each open order, which orders were
/// notified, and the [`Sender`]. Cheap to clone.
///
/// Each order gets exactly one notification, even when an event is delivered twice,
/// and even when both copies are handled at the same time (a consumer that lost its
/// partition may still be working on it while the new owner starts): the notifier
/// claims an order before it sends, and remembers the orders it notified (in memory,
/// for the life of the process, until persistence arrives).
#[derive(Debug, Clone)]
pub struct Notifier<S> {
    sender: S,
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// Open orders: order id -> (customer id, total in cents).
    open: HashMap<String, (String, u64)>,
    /// Orders whose notification is being sent right now.
    sending: HashSet<String>,
    /// Orders that got their notification.
    notified: HashSet<String>,
}

/// Another delivery of an event for this order is sending its notification right now.
///
/// Handling: transient. The retry finds the order notified (and does nothing) or, if
/// the other send failed, sends it itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the notification of order `{0}` is being sent by another delivery; retrying")]
pub struct SendInProgress(pub String);

impl<S: Sender> Notifier<S> {
    /// A notifier that delivers through `sender`.
    pub fn new(sender: S) -> Self {
        Self {
            sender,
            state: Arc::default(),
        }
    }

    /// The sender.
    pub fn sender(&self) -> &S {
        &self.sender
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends `notification` unless its order was notified already.
    async fn notify(
        &self,
        order_id: &str,
        kind: NotificationKind,
        subject: String,
        body: impl FnOnce(Option<u64>) -> String,
    ) -> Result<(), BoxError> {
        let (recipient, total) = {
            let mut state = self.state();
            if state.notified.contains(order_id) {
                tracing::debug!(%order_id, "order notified already; duplicate event ignored");
                return Ok(());
            }
            if !state.sending.insert(order_id.to_owned()) {
                return Err(SendInProgress(order_id.to_owned()).into());
            }
            match state.open.get(order_id) {
                Some((customer, total)) => (customer.clone(), Some(*total)),
                None => (format!("order:{order_id}"), None),
            }
        };
        let notification = Notification {
            order_id: order_id.to_owned(),
            recipient,
            kind,
            subject,
            body: body(total),
        };
        // Released however the send ends, also when the handler is cancelled mid-send.
        let claim = Claim {
            state: &self.state,
            order_id,
        };
        self.sender.send(&notification).await?;
        let mut state = self.state();
        state.open.remove(order_id);
        state.notified.insert(order_id.to_owned());
        drop(state);
        // Released after the order is marked notified, so no delivery sees neither.
        drop(claim);
        tracing::info!(%order_id, recipient = %notification.recipient, subject = %notification.subject, "notification sent");
        Ok(())
    }
}

/// An order claimed for sending; dropping it releases the claim.
struct Claim<'a> {
    state: &'a Mutex<State>,
    order_id: &'a str,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.sending.remove(self.order_id);
    }
}

/// `OrderPlaced` -> remembers who placed the order, to address its notification.
pub async fn on_order_placed<S: Sender, C: Codec>(
    notifier: Notifier<S>,
    _ctx: Context<C>,
    event: OrderPlaced,
) -> Result<(), BoxError> {
    let mut state = notifier.state();
    if !state.notified.contains(&event.order_id) {
        state
            .open
            .insert(event.order_id, (event.customer_id, event.total_cents));
    }
    Ok(())
}

/// `OrderConfirmed` -> "Order ... confirmed", once per order.
pub async fn on_order_confirmed<S: Sender, C: Codec>(
    notifier: Notifier<S>,
    _ctx: Context<C>,
    event: OrderConfirmed,
) -> Result<(), BoxError> {
    let id = &event.order_id;
    notifier
        .notify(
            id,
            NotificationKind::OrderConfirmed,
            format!("Order {id} confirmed"),
            |total| match total {
                Some(t) => format!(
                    "Thank you! Your payment of {} went through and order {id} is confirmed.",
                    format_cents(t)
                ),
                None => format!("Thank you! Order {id} is paid and confirmed."),
            },
        )
        .await
}

/// `OrderCancelled` -> "Order ... cancelled" with the reason, once per order.
pub async fn on_order_cancelled<S: Sender, C: Codec>(
    notifier: Notifier<S>,
    _ctx: Context<C>,
    event: OrderCancelled,
) -> Result<(), BoxError> {
    let id = &event.order_id;
    let reason = &event.reason;
    notifier
        .notify(
            id,
            NotificationKind::OrderCancelled,
            format!("Order {id} cancelled"),
            |_| format!("We are sorry: order {id} was cancelled ({reason})."),
        )
        .await
}
