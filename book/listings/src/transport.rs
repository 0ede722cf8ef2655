//! The in-memory transport's guarantees, from the Handlers and middleware chapter:
//! partitions by key, consumer groups, backpressure, redelivery.

use edp_core::SharedEnvelope;
use edp_core::error::BoxError;
use edp_core::transport::memory::{MemoryConfig, MemoryTransport};
use edp_core::transport::{SubscribeOptions, Subscriber, Transport};

// ANCHOR: config
/// The embedded bus of a system: 16 partitions per topic, at most 4096 unconsumed
/// events per partition before publishers wait.
pub fn embedded_bus() -> MemoryTransport {
    MemoryTransport::with_config(MemoryConfig::default().partitions(16).capacity(4096))
}
// ANCHOR_END: config

// ANCHOR: raw
/// Reads `n` events of `topic` as consumer group `group`, acking each: the transport
/// API under the service runtime.
pub async fn take<T: Transport>(
    transport: &T,
    group: &str,
    topic: &str,
    n: usize,
) -> Result<Vec<SharedEnvelope>, BoxError> {
    let subscriber = transport
        .subscribe(SubscribeOptions::new(group, [topic]))
        .await?;
    let mut taken = Vec::with_capacity(n);
    while taken.len() < n {
        let Some(delivery) = subscriber.recv().await else {
            break; // closed
        };
        let delivery = delivery?;
        subscriber.ack(&delivery).await?; // done: never delivered to this group again
        taken.push(delivery.envelope);
    }
    subscriber.close().await?;
    Ok(taken)
}
// ANCHOR_END: raw

#[cfg(test)]
mod tests;
