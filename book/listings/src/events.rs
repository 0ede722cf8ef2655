//! The Events and envelopes chapter: deriving `Event`, keys, versions, envelopes,
//! correlation and causation.

use edp_core::error::BoxError;
use edp_core::event::headers;
use edp_core::transport::PublishError;
use edp_core::{Context, Envelope, Event, Publisher};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

// ANCHOR: derive
/// An order left the warehouse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "order.shipped", version = 1, topic = "shipping", key = order_id)]
pub struct OrderShipped {
    /// The order; its `Display` value is the partition key.
    pub order_id: u64,
    /// The carrier's tracking code.
    pub tracking_code: String,
}
// ANCHOR_END: derive

// ANCHOR: minimal
/// A line of the audit log: no key, so audit events spread over all partitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "audit.logged")] // version 1, topic "audit.logged", no key
pub struct AuditLogged {
    /// What happened, for people.
    pub line: String,
}
// ANCHOR_END: minimal

// ANCHOR: by_hand
/// A refund was issued. A goodwill refund belongs to no order, so the key is optional:
/// more than `key = field` can say, hence `Event` by hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefundIssued {
    /// The order refunded; `None` for a goodwill refund.
    pub order_id: Option<String>,
    /// The amount, in cents.
    pub amount_cents: u64,
}

impl Event for RefundIssued {
    const NAME: &'static str = "refund.issued";
    const VERSION: u32 = 1;
    const TOPIC: &'static str = "payments";

    fn key(&self) -> Option<String> {
        self.order_id.clone() // with the order's events, or spread when there is none
    }
}
// ANCHOR_END: by_hand

// ANCHOR: versioning
/// A customer registered. Version 2 added `marketing_opt_in`; with a default, a
/// version 1 payload still decodes, so one type reads both versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "customer.registered", version = 2, topic = "customers", key = customer_id)]
pub struct CustomerRegistered {
    /// The customer.
    pub customer_id: String,
    /// Where to write.
    pub email: String,
    /// Added in version 2: absent in version 1 payloads, which means "no".
    #[serde(default)]
    pub marketing_opt_in: bool,
}
// ANCHOR_END: versioning

// ANCHOR: version_branch
/// Welcomes a customer; asks version 1 customers for consent, which they never gave.
pub async fn welcome(ctx: Context, customer: CustomerRegistered) -> Result<(), BoxError> {
    let version = ctx.envelope().dataversion;
    if version < 2 {
        tracing::info!(customer = %customer.customer_id, "registered before consent existed; asking");
    } else if customer.marketing_opt_in {
        tracing::info!(customer = %customer.customer_id, "subscribed to the newsletter");
    }
    Ok(())
}
// ANCHOR_END: version_branch

// ANCHOR: envelope
/// An envelope built by hand, as a transport or a test would: CloudEvents attributes,
/// extension headers and the encoded payload.
pub fn envelope_by_hand() -> Envelope {
    Envelope::builder(
        "order.shipped",
        &br#"{"order_id":42,"tracking_code":"TR-1"}"#[..],
    )
    .source("warehouse") // CloudEvents `source`
    .subject("42") // CloudEvents `subject`: the partition key
    .dataversion(1) // extension `dataversion`
    .header(headers::CORRELATION_ID, "req-7f3a") // extension attributes
    .build()
}
// ANCHOR_END: envelope

// ANCHOR: correlation_from_request
/// Publishes `shipped` as the first event of an HTTP request: the request id becomes
/// the correlation id, which every event that follows from this one carries.
pub async fn publish_for_request(
    publisher: &Publisher,
    shipped: &OrderShipped,
    request_id: &str,
) -> Result<Uuid, PublishError> {
    let id = publisher.publish_correlated(shipped, request_id).await?;
    Ok(id)
}
// ANCHOR_END: correlation_from_request

// ANCHOR: forward
/// `OrderShipped` -> an audit line. Published through the context, the audit event
/// carries the shipment's correlation id, and its causation id is the shipment's id.
pub async fn audit_shipment(ctx: Context, shipped: OrderShipped) -> Result<(), BoxError> {
    ctx.publish(&AuditLogged {
        line: format!(
            "order {} shipped: {}",
            shipped.order_id, shipped.tracking_code
        ),
    })
    .await?;
    Ok(())
}
// ANCHOR_END: forward

#[cfg(test)]
mod tests;
