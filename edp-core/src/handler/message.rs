use std::borrow::Cow;

use crate::transport::Delivery;
use crate::{Envelope, SharedEnvelope};

/// The request that flows through a handler's middleware stack: an envelope and where
/// it was consumed. Cheap to clone (two reference counts), so retries can resend it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Message {
    /// The envelope.
    pub envelope: SharedEnvelope,
    /// The topic it was consumed from.
    pub topic: Cow<'static, str>,
    /// The consumer group that consumes it.
    pub group: Cow<'static, str>,
    /// The partition, where the transport has them.
    pub partition: Option<u32>,
    /// The offset, where the transport has them.
    pub offset: Option<u64>,
    /// How many times it was delivered to this group before.
    pub redeliveries: u32,
}

impl Message {
    /// A message from a transport delivery.
    pub fn from_delivery(delivery: &Delivery, group: Cow<'static, str>) -> Self {
        Self {
            envelope: delivery.envelope.clone(),
            topic: delivery.topic.clone(),
            group,
            partition: delivery.partition,
            offset: delivery.offset,
            redeliveries: delivery.redeliveries,
        }
    }

    /// A message that was not consumed from a transport (tests, direct calls).
    pub fn new(envelope: Envelope, topic: impl Into<Cow<'static, str>>) -> Self {
        Self {
            envelope: SharedEnvelope::new(envelope),
            topic: topic.into(),
            group: Cow::Borrowed(""),
            partition: None,
            offset: None,
            redeliveries: 0,
        }
    }
}
