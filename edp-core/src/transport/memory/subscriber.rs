use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::broker::Broker;
use super::member::Member;
use crate::transport::{
    AckError, AckToken, CloseError, Delivery, ReceiveError, Subscriber,
};

/// A membership in a consumer group of a [`MemoryTransport`](super::MemoryTransport).
///
/// Dropping it leaves the group; deliveries it held and did not ack go to another
/// member.
pub struct MemorySubscriber {
    pub(super) member: Arc<Member>,
    pub(super) broker: Arc<Broker>,
}

impl std::fmt::Debug for MemorySubscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySubscriber")
            .field("group", &self.member.group)
            .field("member", &self.member.id)
            .finish()
    }
}

impl MemorySubscriber {
    fn try_take(&self) -> Option<Delivery> {
        let member = &self.member;
        while let Some((topic_index, partition)) = member.pop_ready() {
            let topic = &member.topics[topic_index as usize];
            let part = &topic.partitions[partition as usize];
            let mut st = part.lock();
            let base = st.base;
            let end = st.end();
            let Some(c) = st.cursor_mut(&member.group) else {
                continue;
            };
            if !matches!(&c.owner, Some((m, _)) if m.id == member.id) {
                continue;
            }
            c.queued = false;
            if c.in_flight.is_some() || c.pos >= end {
                continue;
            }
            let offset = c.pos;
            c.in_flight = Some(member.id);
            let redeliveries = c.redeliveries;
            let envelope = st.log[(offset - base) as usize].clone();
            drop(st);
            member.in_flight.fetch_add(1, Ordering::AcqRel);
            let token = AckToken {
                a: (u64::from(topic_index) << 32) | u64::from(partition),
                b: offset,
            };
            return Some(
                Delivery::new(envelope, topic.name.clone(), token)
                    .at(partition, offset)
                    .redelivered(redeliveries),
            );
        }
        None
    }

    fn settle(&self, delivery: &Delivery, ack: bool) -> Result<(), AckError> {
        let member = &self.member;
        let topic_index = (delivery.token.a >> 32) as usize;
        let partition = (delivery.token.a & 0xffff_ffff) as u32;
        let offset = delivery.token.b;
        let not_owned = || AckError::NotOwned {
            topic: delivery.topic.to_string(),
            offset: Some(offset),
        };
        let Some(topic) = member.topics.get(topic_index) else {
            return Err(not_owned());
        };
        let Some(part) = topic.partitions.get(partition as usize) else {
            return Err(not_owned());
        };
        let mut st = part.lock();
        let Some(index) = st.cursors.iter().position(|c| *c.group == *member.group) else {
            return Err(not_owned());
        };
        let c = &mut st.cursors[index];
        if c.in_flight != Some(member.id) || c.pos != offset {
            return Err(not_owned());
        }
        c.in_flight = None;
        if ack {
            c.pos += 1;
            c.redeliveries = 0;
            if st.trim() && st.publisher_waiting {
                st.publisher_waiting = false;
                part.space.notify_waiters();
            }
        } else {
            c.redeliveries = c.redeliveries.saturating_add(1);
        }
        st.wake_owner(partition, index);
        drop(st);
        member.finish_one();
        Ok(())
    }
}

impl Subscriber for MemorySubscriber {
    async fn recv(&self) -> Option<Result<Delivery, ReceiveError>> {
        loop {
            if self.member.is_closed() {
                return None;
            }
            if let Some(d) = self.try_take() {
                return Some(Ok(d));
            }
            let notified = self.member.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.member.is_closed() {
                return None;
            }
            if let Some(d) = self.try_take() {
                return Some(Ok(d));
            }
            notified.await;
        }
    }

    async fn ack(&self, delivery: &Delivery) -> Result<(), AckError> {
        self.settle(delivery, true)
    }

    async fn nack(&self, delivery: &Delivery) -> Result<(), AckError> {
        self.settle(delivery, false)
    }

    async fn close(&self) -> Result<(), CloseError> {
        self.broker.leave(&self.member);
        Ok(())
    }
}

impl MemorySubscriber {
    /// Waits until every delivery this subscriber handed out is acked or nacked.
    pub async fn drained(&self) {
        self.member.wait_drained().await;
    }
}

impl Drop for MemorySubscriber {
    fn drop(&mut self) {
        self.broker.leave(&self.member);
        self.broker.release_in_flight(&self.member);
    }
}
