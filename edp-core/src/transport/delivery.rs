use std::borrow::Cow;

use crate::SharedEnvelope;

/// One envelope handed to a subscriber, with where it came from.
///
/// Ack or nack it through the [`Subscriber`](super::Subscriber) that returned it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Delivery {
    /// The envelope; shared, so cloning a delivery is cheap.
    pub envelope: SharedEnvelope,
    /// The topic it was consumed from.
    pub topic: Cow<'static, str>,
    /// The partition, where the transport has them.
    pub partition: Option<u32>,
    /// The offset within the partition, where the transport has them.
    pub offset: Option<u64>,
    /// How many times this event was delivered to this group before (0 the first time).
    pub redeliveries: u32,
    /// Transport-specific data that identifies the delivery for ack and nack.
    pub token: AckToken,
}

impl Delivery {
    /// Builds a delivery; for transport implementations.
    pub fn new(envelope: SharedEnvelope, topic: Cow<'static, str>, token: AckToken) -> Self {
        Self {
            envelope,
            topic,
            partition: None,
            offset: None,
            redeliveries: 0,
            token,
        }
    }

    /// Sets the partition and offset; for transport implementations.
    pub fn at(mut self, partition: u32, offset: u64) -> Self {
        self.partition = Some(partition);
        self.offset = Some(offset);
        self
    }

    /// Sets the redelivery count; for transport implementations.
    pub fn redelivered(mut self, times: u32) -> Self {
        self.redeliveries = times;
        self
    }
}

/// Opaque data a transport attaches to a delivery to find it again on ack or nack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AckToken {
    /// First word, meaning chosen by the transport.
    pub a: u64,
    /// Second word, meaning chosen by the transport.
    pub b: u64,
}
