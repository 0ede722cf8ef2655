//! The shared state of an in-memory broker: topics, groups and their members.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::MemoryConfig;
use super::member::Member;
use super::topic::{Cursor, Fnv, Topic, lock};
use crate::transport::PublishError;
use crate::{Envelope, SharedEnvelope};

/// The most envelopes of one publish that share an allocation. Larger saves
/// allocations; smaller bounds what a lagging partition pins (at most its capacity
/// times this many envelopes).
const SEGMENT: usize = 16;

pub(super) struct Broker {
    pub(super) config: MemoryConfig,
    topics: Mutex<HashMap<String, Arc<Topic>, BuildHasherDefault<Fnv>>>,
    /// Members of each group, in join order.
    groups: Mutex<HashMap<Arc<str>, Vec<Arc<Member>>>>,
    next_member: AtomicU64,
}

impl Broker {
    pub(super) fn new(config: MemoryConfig) -> Self {
        // The fields are public: clamp here too, not only in the setters.
        let config = config
            .partitions(config.partitions)
            .capacity(config.capacity);
        Self {
            config,
            topics: Mutex::new(HashMap::default()),
            groups: Mutex::new(HashMap::new()),
            next_member: AtomicU64::new(1),
        }
    }

    pub(super) fn topic(&self, name: &str) -> Arc<Topic> {
        let mut topics = lock(&self.topics);
        if let Some(t) = topics.get(name) {
            return t.clone();
        }
        let t = Arc::new(Topic::new(name, self.config.partitions));
        topics.insert(name.to_owned(), t.clone());
        t
    }

    pub(super) fn topic_names(&self) -> Vec<String> {
        lock(&self.topics).keys().cloned().collect()
    }

    /// Events currently retained in `topic`, in partition then offset order.
    pub(super) fn retained(&self, topic: &str) -> Vec<SharedEnvelope> {
        let Some(t) = lock(&self.topics).get(topic).cloned() else {
            return Vec::new();
        };
        t.partitions
            .iter()
            .flat_map(|p| {
                let st = p.lock();
                // Events every group acked are gone, even if not yet dropped.
                let acked = st.cursors.iter().map(|c| c.pos).min().unwrap_or(st.base);
                let skip = acked.saturating_sub(st.base) as usize;
                st.log.iter().skip(skip).cloned().collect::<Vec<_>>()
            })
            .collect()
    }

    pub(super) fn join(&self, group: &str, topics: &[String]) -> Arc<Member> {
        let topics: Vec<Arc<Topic>> = topics.iter().map(|t| self.topic(t)).collect();
        let mut groups = lock(&self.groups);
        let key: Arc<str> = groups
            .keys()
            .find(|k| &***k == group)
            .cloned()
            .unwrap_or_else(|| Arc::from(group));
        let id = self.next_member.fetch_add(1, Ordering::Relaxed);
        let member = Arc::new(Member::new(id, key.clone(), topics));
        let members = groups.entry(key.clone()).or_default();
        members.push(member.clone());
        rebalance(&key, members);
        member
    }

    pub(super) fn leave(&self, member: &Arc<Member>) {
        if member.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        member.notify.notify_waiters();
        let mut groups = lock(&self.groups);
        if let Some(members) = groups.get_mut(&member.group) {
            members.retain(|m| m.id != member.id);
            rebalance(&member.group, members);
            // The departed member owns nothing now; clear ownership it may keep
            // on topics no remaining member subscribes to.
            for topic in &member.topics {
                for part in topic.partitions.iter() {
                    let mut st = part.lock();
                    if let Some(c) = st.cursor_mut(&member.group) {
                        if matches!(&c.owner, Some((m, _)) if m.id == member.id) {
                            c.owner = None;
                            c.queued = false;
                        }
                    }
                    // The group may have no active member now: a publisher waiting for
                    // it can evict instead.
                    wake_publisher(&mut st, part);
                }
            }
        }
    }

    /// Forgets `group` if it has no member: its positions in every partition go, so it
    /// no longer holds events back. Returns whether it was deleted.
    pub(super) fn delete_group(&self, group: &str) -> bool {
        let mut groups = lock(&self.groups);
        if groups.get(group).is_some_and(|m| !m.is_empty()) {
            return false;
        }
        groups.remove(group);
        let topics: Vec<Arc<Topic>> = lock(&self.topics).values().cloned().collect();
        for topic in topics {
            for part in topic.partitions.iter() {
                let mut st = part.lock();
                st.cursors.retain(|c| &*c.group != group);
                wake_publisher(&mut st, part);
            }
        }
        true
    }

    /// Puts back every delivery `member` holds, for the new owners.
    pub(super) fn release_in_flight(&self, member: &Arc<Member>) {
        for topic in &member.topics {
            for part in topic.partitions.iter() {
                let mut st = part.lock();
                let Some(i) = st.cursors.iter().position(|c| *c.group == *member.group) else {
                    continue;
                };
                let c = &mut st.cursors[i];
                if c.in_flight == Some(member.id) {
                    c.in_flight = None;
                    c.redeliveries = c.redeliveries.saturating_add(1);
                    st.wake_owner(part.id, i, true);
                    wake_publisher(&mut st, part);
                    member.finish_one();
                }
            }
        }
    }

    /// Appends `batch` to `topic`, waiting for room partition by partition.
    pub(super) async fn publish(
        &self,
        topic_name: &str,
        batch: Vec<Envelope>,
        closed: &CancellationToken,
    ) -> Result<(), PublishError> {
        if batch.is_empty() {
            return Ok(());
        }
        let topic = self.topic(topic_name);
        let n = topic.partitions.len();
        if n == 1 || batch.len() == 1 {
            // invariant: the batch is not empty (checked above).
            let p = topic.partition_for(batch[0].subject.as_deref());
            let mut woken = Vec::new();
            let shared = SharedEnvelope::chunked(batch, SEGMENT).into_iter();
            let result = self.append(&topic, p, shared, closed, &mut woken).await;
            wake(&woken);
            return result;
        }
        // Events published together share allocations of up to SEGMENT envelopes
        // across partitions: one allocation per partition's part of the batch cost
        // about a fifth of the pipeline's throughput (measured).
        let parts: Vec<usize> = batch
            .iter()
            .map(|env| topic.partition_for(env.subject.as_deref()))
            .collect();
        let shared = SharedEnvelope::chunked(batch, SEGMENT);
        let mut buckets: Vec<Vec<SharedEnvelope>> = (0..n).map(|_| Vec::new()).collect();
        for (env, p) in shared.into_iter().zip(parts) {
            // invariant: partition_for returns an index below the partition count.
            buckets[p].push(env);
        }
        let mut woken = Vec::new();
        for (p, events) in buckets.into_iter().enumerate() {
            if !events.is_empty() {
                if let Err(e) = self
                    .append(&topic, p, events.into_iter(), closed, &mut woken)
                    .await
                {
                    wake(&woken);
                    return Err(e);
                }
            }
        }
        wake(&woken);
        Ok(())
    }

    async fn append(
        &self,
        topic: &Topic,
        p: usize,
        events: impl ExactSizeIterator<Item = SharedEnvelope>,
        closed: &CancellationToken,
        woken: &mut Vec<Arc<Member>>,
    ) -> Result<(), PublishError> {
        // invariant: callers pass an index below the partition count.
        let part = &topic.partitions[p];
        let capacity = self.config.capacity;
        let mut events = events.peekable();
        loop {
            let notified = {
                let mut st = part.lock();
                // Free about as many as this call adds; all of them when full.
                let pending = events.len();
                let room = if st.log.len() >= capacity {
                    usize::MAX
                } else {
                    2 * pending
                };
                st.trim(room);
                while events.peek().is_some() {
                    if st.log.len() >= capacity && !st.evict_for_inactive() {
                        break;
                    }
                    if let Some(e) = events.next() {
                        st.log.push_back(e);
                    }
                }
                if events.peek().is_none() {
                    st.queue_for_owners(part.id, woken);
                    return Ok(());
                }
                // Waiting for room: consumers must run now. The waiter is registered
                // under the lock that acks take to wake it, so no wake-up is lost;
                // registering only when waiting keeps the common path free of it.
                st.wake_all_owners(part.id);
                st.publisher_waiting = true;
                let mut notified = Box::pin(part.space.notified());
                notified.as_mut().enable();
                notified
            };
            wake(woken);
            woken.clear();
            tokio::select! {
                _ = notified => {}
                _ = closed.cancelled() => {
                    return Err(PublishError::Closed { topic: topic.name.to_string() });
                }
            }
        }
    }
}

/// Spreads the partitions of every topic the group's members subscribe to over the
/// members subscribed to it, round robin in join order.
fn rebalance(group: &Arc<str>, members: &[Arc<Member>]) {
    let mut topics: Vec<Arc<Topic>> = Vec::new();
    for m in members {
        for t in &m.topics {
            if !topics.iter().any(|x| Arc::ptr_eq(x, t)) {
                topics.push(t.clone());
            }
        }
    }
    for topic in topics {
        let subscribed: Vec<(&Arc<Member>, u32)> = members
            .iter()
            .filter_map(|m| {
                m.topics
                    .iter()
                    .position(|t| Arc::ptr_eq(t, &topic))
                    .map(|i| (m, i as u32))
            })
            .collect();
        for (i, part) in topic.partitions.iter().enumerate() {
            let owner = (!subscribed.is_empty())
                .then(|| subscribed[i % subscribed.len()])
                .map(|(m, ti)| (m.clone(), ti));
            let mut st = part.lock();
            let index = match st.cursors.iter().position(|c| c.group == *group) {
                Some(index) => index,
                None => {
                    let base = st.base;
                    st.cursors.push(Cursor {
                        group: group.clone(),
                        pos: base,
                        in_flight: None,
                        in_flight_end: base,
                        lease: 0,
                        redeliveries: 0,
                        owner: None,
                        queued: false,
                    });
                    st.cursors.len() - 1
                }
            };
            let c = &mut st.cursors[index];
            let same = match (&c.owner, &owner) {
                (Some((a, _)), Some((b, _))) => a.id == b.id,
                (None, None) => true,
                _ => false,
            };
            if !same {
                c.owner = owner;
                c.queued = false;
            }
            st.wake_owner(part.id, index, true);
        }
    }
}

/// Wakes one idle receiver of each member; more follow by the chain in `pop_ready`.
fn wake(members: &[Arc<Member>]) {
    for m in members {
        m.wake_one();
    }
}

/// Wakes a publisher waiting for room in `part`, if any.
fn wake_publisher(st: &mut super::topic::PartitionState, part: &super::topic::Partition) {
    if st.publisher_waiting {
        st.publisher_waiting = false;
        part.space.notify_waiters();
    }
}
