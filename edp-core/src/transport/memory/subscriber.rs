use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::broker::Broker;
use super::member::Member;
use crate::transport::{AckError, AckToken, CloseError, Delivery, ReceiveError, Subscriber};

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
    /// Leases up to `max` events of the next ready partition.
    fn try_take(&self, max: usize, out: &mut Vec<Delivery>) -> bool {
        let member = &self.member;
        while let Some((topic_index, partition)) = member.pop_ready() {
            // invariant: ready entries are made from this member's own topic list and
            // the topic's partition count, both fixed for the member's life.
            let topic = &member.topics[topic_index as usize];
            let part = &topic.partitions[partition as usize];
            let mut st = part.lock();
            let base = st.base;
            let end = st.end();
            let Some(index) = st.cursors.iter().position(|c| *c.group == *member.group) else {
                continue;
            };
            let c = &mut st.cursors[index];
            if !matches!(&c.owner, Some((m, _)) if m.id == member.id) {
                continue;
            }
            c.queued = false;
            if c.in_flight.is_some() || c.pos >= end {
                continue;
            }
            let first = c.pos;
            let last = end.min(first.saturating_add(max.max(1) as u64));
            c.in_flight = Some(member.id);
            c.in_flight_end = last;
            c.lease = c.lease.wrapping_add(1);
            let lease = c.lease;
            let redeliveries = c.redeliveries;
            out.reserve((last - first) as usize);
            for offset in first..last {
                // invariant: base <= pos < offset < end, so the index is inside the log.
                let envelope = st.log[(offset - base) as usize].clone();
                // a: topic index (16 bits) | partition (16 bits) | lease (32 bits).
                let token = AckToken {
                    a: (u64::from(topic_index) << 48)
                        | (u64::from(partition) << 32)
                        | u64::from(lease),
                    b: offset,
                };
                out.push(
                    Delivery::new(envelope, std::borrow::Cow::Borrowed(topic.name), token)
                        .at(partition, offset)
                        .redelivered(if offset == first { redeliveries } else { 0 }),
                );
            }
            // Counted before the lock is released: `leave` takes every partition lock,
            // so a close that drains cannot miss this lease.
            member.in_flight.fetch_add(1, Ordering::AcqRel);
            drop(st);
            return true;
        }
        false
    }

    fn settle(&self, delivery: &Delivery, ack: bool) -> Result<(), AckError> {
        let member = &self.member;
        let topic_index = (delivery.token.a >> 48) as usize;
        let partition = ((delivery.token.a >> 32) & 0xffff) as u32;
        let lease = (delivery.token.a & 0xffff_ffff) as u32;
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
        // Settling a delivery settles the earlier ones of its batch as acked.
        if c.in_flight != Some(member.id)
            || c.lease != lease
            || offset < c.pos
            || offset >= c.in_flight_end
        {
            return Err(not_owned());
        }
        let released = if ack {
            c.pos = offset + 1;
            c.redeliveries = 0;
            c.pos >= c.in_flight_end
        } else {
            if offset > c.pos {
                c.redeliveries = 0;
            }
            c.pos = offset;
            c.redeliveries = c.redeliveries.saturating_add(1);
            true
        };
        if released {
            c.in_flight = None;
            // Acked events are dropped by the next publish, on the thread that
            // allocated them: freeing them here, on another thread, made the system
            // allocator contend (measured). A waiting publisher is woken to do it.
            if st.publisher_waiting {
                st.publisher_waiting = false;
                part.space.notify_waiters();
            }
            // Wake an idle receiver even when this subscriber owns the partition: the
            // task that acks need not be one that receives next.
            st.wake_owner(partition, index, true);
        }
        drop(st);
        if released {
            member.finish_one();
        }
        Ok(())
    }

    async fn recv_into(&self, max: usize, out: &mut Vec<Delivery>) -> bool {
        loop {
            if self.member.is_closed() {
                return false;
            }
            if self.try_take(max, out) {
                return true;
            }
            let notified = self.member.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let _idle = IdleGuard::new(&self.member);
            if self.member.is_closed() {
                return false;
            }
            if self.try_take(max, out) {
                return true;
            }
            notified.await;
        }
    }
}

impl Subscriber for MemorySubscriber {
    async fn recv(&self) -> Option<Result<Delivery, ReceiveError>> {
        let mut out = Vec::with_capacity(1);
        if self.recv_into(1, &mut out).await {
            out.pop().map(Ok)
        } else {
            None
        }
    }

    async fn recv_batch(&self, max: usize) -> Option<Result<Vec<Delivery>, ReceiveError>> {
        let mut out = Vec::new();
        if self.recv_into(max, &mut out).await {
            Some(Ok(out))
        } else {
            None
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
    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.member.group
    }

    /// Leaves the group now and deletes it if it has no other member (for
    /// short-lived groups, such as a test's recorder).
    pub fn leave_and_delete_group(&self) -> bool {
        self.broker.leave(&self.member);
        self.broker.release_in_flight(&self.member);
        self.broker.delete_group(&self.member.group)
    }

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

/// Counts a receiver as idle while it waits; dropped on wake or cancellation.
struct IdleGuard<'a>(&'a Member);

impl<'a> IdleGuard<'a> {
    fn new(member: &'a Member) -> Self {
        member.idle.fetch_add(1, Ordering::AcqRel);
        Self(member)
    }
}

impl Drop for IdleGuard<'_> {
    fn drop(&mut self) {
        self.0.idle.fetch_sub(1, Ordering::AcqRel);
    }
}
