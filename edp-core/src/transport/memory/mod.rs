//! The in-memory transport: the embedded default and the test transport.
//!
//! It behaves like a small Kafka inside the process:
//!
//! - **Partitions by key**: events with the same key land in the same partition and
//!   keep their order; a partition delivers its next event only after the previous
//!   one is acked.
//! - **Consumer groups**: every group gets every event; the members of one group share
//!   the partitions, and a member that leaves hands its partitions (and unacked
//!   deliveries) to the others.
//! - **Redelivery on nack**, at once, to the partition's owner.
//! - **Bounded memory**: a partition keeps at most [`MemoryConfig::capacity`] events;
//!   a publisher waits while an active group is that far behind (backpressure). Events
//!   needed only by groups with no member left are dropped oldest first, as a broker's
//!   retention would.
//! - **Close drains**: [`Transport::close`] stops intake and returns once in-flight
//!   deliveries are settled.
//!
//! A [`MemoryTransport`] is one client; [`MemoryTransport::connect`] opens another
//! client of the same broker, as a second service process would.

mod broker;
mod config;
mod member;
mod subscriber;
mod topic;

pub use config::{MAX_PARTITIONS, MemoryConfig};
pub use subscriber::MemorySubscriber;

use std::sync::{Arc, Mutex, Weak};

use tokio_util::sync::CancellationToken;

use self::broker::Broker;
use self::member::Member;
use self::topic::lock;
use super::{Capabilities, CloseError, PublishError, SubscribeError, SubscribeOptions, Transport};
use crate::{Envelope, SharedEnvelope};

/// A client of an in-process broker. Clones share the client.
///
/// ```
/// use edp_core::transport::memory::MemoryTransport;
/// let a = MemoryTransport::new();
/// let b = a.connect(); // another client of the same broker
/// ```
#[derive(Clone)]
pub struct MemoryTransport {
    broker: Arc<Broker>,
    client: Arc<Client>,
}

struct Client {
    closed: CancellationToken,
    members: Mutex<Vec<Weak<Member>>>,
}

impl std::fmt::Debug for MemoryTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryTransport")
            .field("config", &self.broker.config)
            .field("closed", &self.client.closed.is_cancelled())
            .finish()
    }
}

impl Default for MemoryTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryTransport {
    /// A new broker with default settings, and a client of it.
    pub fn new() -> Self {
        Self::with_config(MemoryConfig::default())
    }

    /// A new broker with `config`, and a client of it.
    pub fn with_config(config: MemoryConfig) -> Self {
        Self::client_of(Arc::new(Broker::new(config)))
    }

    fn client_of(broker: Arc<Broker>) -> Self {
        Self {
            broker,
            client: Arc::new(Client {
                closed: CancellationToken::new(),
                members: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Another client of the same broker, with its own close.
    pub fn connect(&self) -> Self {
        Self::client_of(self.broker.clone())
    }

    /// The events of `topic` that some group has not acked yet (with no group: the
    /// last `capacity` published per partition), for tests and debugging.
    pub fn retained(&self, topic: &str) -> Vec<SharedEnvelope> {
        self.broker.retained(topic)
    }

    /// Deletes consumer group `group` if no member is left, as Kafka's
    /// `deleteConsumerGroups`: its positions go, and it no longer holds events back.
    /// Returns false (and changes nothing) while the group has members.
    pub fn delete_group(&self, group: &str) -> bool {
        self.broker.delete_group(group)
    }

    /// The topics that exist.
    pub fn topics(&self) -> Vec<String> {
        self.broker.topic_names()
    }
}

impl Transport for MemoryTransport {
    type Subscriber = MemorySubscriber;

    fn messaging_system(&self) -> &'static str {
        "edp_memory"
    }

    async fn publish(&self, topic: &str, batch: Vec<Envelope>) -> Result<(), PublishError> {
        if self.client.closed.is_cancelled() {
            return Err(PublishError::Closed {
                topic: topic.to_owned(),
            });
        }
        self.broker.publish(topic, batch, &self.client.closed).await
    }

    async fn subscribe(
        &self,
        options: SubscribeOptions,
    ) -> Result<MemorySubscriber, SubscribeError> {
        if self.client.closed.is_cancelled() {
            return Err(SubscribeError::Closed {
                group: options.group,
            });
        }
        if options.topics.is_empty() {
            return Err(SubscribeError::Invalid {
                group: options.group,
                reason: "no topics given; name at least one".into(),
            });
        }
        if options.topics.len() > usize::from(u16::MAX) {
            return Err(SubscribeError::Invalid {
                group: options.group,
                reason: format!(
                    "{} topics in one subscription; at most 65,535",
                    options.topics.len()
                ),
            });
        }
        let member = self.broker.join(&options.group, &options.topics);
        let mut members = lock(&self.client.members);
        members.retain(|m| m.strong_count() > 0);
        members.push(Arc::downgrade(&member));
        if self.client.closed.is_cancelled() {
            // `close` ran meanwhile and did not see this member.
            drop(members);
            self.broker.leave(&member);
            return Err(SubscribeError::Closed {
                group: options.group,
            });
        }
        Ok(MemorySubscriber {
            member,
            broker: self.broker.clone(),
        })
    }

    async fn close(&self) -> Result<(), CloseError> {
        self.client.closed.cancel();
        let members: Vec<Arc<Member>> = lock(&self.client.members)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for m in &members {
            self.broker.leave(m);
        }
        for m in &members {
            m.wait_drained().await;
        }
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::all()
    }
}
