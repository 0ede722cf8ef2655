//! The consumer: a group member whose records are handed to many workers at once.
//!
//! A dedicated thread owns the librdkafka consumer: it polls, sorts fetched records
//! into per-partition [lanes](partition), stores the commit offsets the workers' acks
//! made safe, pauses partitions whose buffer is full, and serves rebalances. Workers
//! ([`KafkaSubscriber::recv_batch`]) lease lanes; acks and nacks settle them. Offsets
//! are stored only up to the lowest record not yet acked and committed by librdkafka's
//! auto-commit, when a partition is revoked, and when the subscriber closes.
//!
//! The known pitfalls, and how they are avoided here:
//! - *Offsets stored before processing*: `enable.auto.offset.store=false`; an offset
//!   is stored only after every record before it was acked.
//! - *A later offset committed while an earlier one is in flight*: the commit offset
//!   is the lowest unacked offset of the partition, whatever order lanes finish in.
//! - *Prefetched records skipped on rebalance*: on revoke, leasing stops, in-flight
//!   records get up to `revoke_timeout` to finish, and the commit is the lowest
//!   unfinished offset: records fetched but not handled are delivered again to the
//!   new owner, never skipped.

mod context;
pub(crate) mod partition;
mod poll;

pub use partition::Sequencing;

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use edp_core::transport::{AckError, AckToken, CloseError, Delivery, ReceiveError, Subscriber};
use tokio::sync::{Notify, watch};

use self::partition::{Entry, Partition};
use crate::config::KafkaConfig;

pub(crate) use self::context::GroupContext;
pub(crate) use self::poll::spawn;

/// One assigned partition.
struct Assigned {
    /// Unique per assignment: acks of an earlier assignment are refused.
    epoch: u64,
    buf: Partition,
    /// In [`State::ready`].
    queued: bool,
    /// Fetching paused because the buffer is full.
    paused: bool,
}

#[derive(Default)]
struct State {
    /// topic -> partition -> buffer.
    parts: HashMap<String, HashMap<i32, Assigned>>,
    /// Partitions with a lane ready to lease, round robin.
    ready: VecDeque<(&'static str, i32)>,
    /// No more leases; the poll thread is shutting down.
    closing: bool,
    next_epoch: u64,
    /// Some acks moved a commit offset.
    dirty: bool,
    /// The member has an assignment: the last rebalance callback was an assign.
    joined: bool,
}

impl State {
    fn part(&mut self, topic: &str, partition: i32) -> Option<&mut Assigned> {
        self.parts.get_mut(topic)?.get_mut(&partition)
    }

    fn in_flight(&self) -> usize {
        self.parts
            .values()
            .flat_map(HashMap::values)
            .map(|p| p.buf.in_flight())
            .sum()
    }
}

/// What the subscriber, its poll thread and its rebalance callbacks share.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Signalled when leases are settled (revoke and close wait on it).
    settled: Condvar,
    /// Wakes workers waiting for a lane.
    ready: Notify,
    config: Arc<KafkaConfig>,
    group: String,
    /// Set by the poll thread when it has left the group.
    stopped: watch::Sender<bool>,
    /// When the last rebalance callback ran.
    last_rebalance: Mutex<Instant>,
}

impl Shared {
    pub(crate) fn new(config: Arc<KafkaConfig>, group: String) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::default()),
            settled: Condvar::new(),
            ready: Notify::new(),
            config,
            group,
            stopped: watch::Sender::new(false),
            last_rebalance: Mutex::new(Instant::now()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks a rebalance callback.
    pub(crate) fn rebalanced(&self) {
        *self
            .last_rebalance
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    /// How long since the last rebalance callback.
    fn since_rebalance(&self) -> Duration {
        self.last_rebalance
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed()
    }

    /// Whether the member has its assignment (no join in flight).
    fn joined(&self) -> bool {
        self.lock().joined
    }

    fn closing(&self) -> bool {
        self.lock().closing
    }

    /// Leases the next ready lane, as deliveries.
    fn lease(&self, max: usize) -> Result<Option<Vec<Delivery>>, ()> {
        let mut st = self.lock();
        while let Some((topic, partition)) = st.ready.pop_front() {
            let Some(part) = st.part(topic, partition) else {
                continue;
            };
            part.queued = false;
            let Some(entries) = part.buf.lease(max) else {
                continue;
            };
            let epoch = part.epoch;
            if part.buf.has_ready() {
                part.queued = true;
                st.ready.push_back((topic, partition));
            }
            if !st.ready.is_empty() {
                // Wakes are chained: another worker takes the next ready lane, and
                // wakes the next (the poll thread wakes only one per fetch).
                self.ready.notify_one();
            }
            return Ok(Some(
                entries
                    .into_iter()
                    .map(|e| delivery(topic, partition, epoch, e))
                    .collect(),
            ));
        }
        if st.closing { Err(()) } else { Ok(None) }
    }

    fn settle(&self, d: &Delivery, ack: bool) -> Result<(), AckError> {
        let not_owned = || AckError::NotOwned {
            topic: d.topic.to_string(),
            offset: d.offset,
        };
        let (Some(partition), Some(offset)) = (d.partition, d.offset) else {
            return Err(not_owned());
        };
        let partition = i32::try_from(partition).map_err(|_| not_owned())?;
        let offset = i64::try_from(offset).map_err(|_| not_owned())?;
        let mut st = self.lock();
        let closing = st.closing;
        let part = st.part(&d.topic, partition).ok_or_else(not_owned)?;
        if part.epoch != d.token.a {
            return Err(not_owned());
        }
        let ready = part
            .buf
            .settle(d.envelope.subject.as_deref(), offset, ack)
            .map_err(|_| not_owned())?;
        let wake = ready && !part.queued && !closing;
        if wake {
            part.queued = true;
        }
        let waiters = part.buf.in_flight() == 0;
        if wake {
            let topic = edp_core::intern::intern(&d.topic);
            st.ready.push_back((topic, partition));
        }
        st.dirty = true;
        drop(st);
        if wake {
            self.ready.notify_one();
        }
        if waiters {
            self.settled.notify_all();
        }
        Ok(())
    }

    /// Adds fetched records. Returns the partitions whose buffer is now full.
    fn push(&self, fetched: Vec<(&'static str, i32, Entry)>) -> Vec<(&'static str, i32)> {
        let mut full = Vec::new();
        let mut wakes = 0;
        let max = self.config.max_buffered;
        let mut st = self.lock();
        for (topic, partition, entry) in fetched {
            let Some(part) = st.part(topic, partition) else {
                // Revoked while the record was in flight from the broker.
                continue;
            };
            let became_ready = part.buf.push(entry);
            if part.buf.buffered() >= max && !part.paused {
                part.paused = true;
                full.push((topic, partition));
            }
            if became_ready {
                wakes += 1;
                if !part.queued {
                    part.queued = true;
                    st.ready.push_back((topic, partition));
                }
            }
        }
        drop(st);
        if wakes > 0 {
            // One wake: the woken worker wakes the next (see `lease`), so the poll
            // thread does not pay a wake-up per lane.
            self.ready.notify_one();
        }
        full
    }

    /// Makes nacked lanes whose wait is over ready again, and wakes workers for them.
    fn promote_due(&self) {
        let now = Instant::now();
        let mut woken = 0;
        let mut st = self.lock();
        let mut ready = Vec::new();
        for (topic, parts) in &mut st.parts {
            for (p, part) in parts.iter_mut() {
                let n = part.buf.promote(now);
                if n > 0 {
                    woken += n;
                    if !part.queued {
                        part.queued = true;
                        ready.push((edp_core::intern::intern(topic), *p));
                    }
                }
            }
        }
        for r in ready {
            st.ready.push_front(r);
        }
        drop(st);
        for _ in 0..woken {
            self.ready.notify_one();
        }
    }

    /// Paused partitions whose buffer drained to half; marks them resumed.
    fn drained(&self) -> Vec<(&'static str, i32)> {
        let low = self.config.max_buffered / 2;
        let mut st = self.lock();
        let mut out = Vec::new();
        for (topic, parts) in &mut st.parts {
            for (p, part) in parts.iter_mut() {
                if part.paused && part.buf.buffered() <= low {
                    part.paused = false;
                    out.push((edp_core::intern::intern(topic), *p));
                }
            }
        }
        out
    }

    /// Commit offsets that moved since the last call.
    fn take_commits(&self, all: bool) -> Vec<(&'static str, i32, i64)> {
        let mut st = self.lock();
        if !st.dirty && !all {
            return Vec::new();
        }
        st.dirty = false;
        let mut out = Vec::new();
        for (topic, parts) in &mut st.parts {
            for (p, part) in parts.iter_mut() {
                let at = if all {
                    part.buf.commit_offset()
                } else {
                    part.buf.take_commit()
                };
                if let Some(at) = at {
                    out.push((edp_core::intern::intern(topic), *p, at));
                }
            }
        }
        out
    }

    /// Partitions assigned: fresh buffers.
    fn assign(&self, assigned: &[(String, i32)]) {
        let ordering = self.config.ordering;
        let mut st = self.lock();
        for (topic, partition) in assigned {
            st.next_epoch += 1;
            let epoch = st.next_epoch;
            st.parts.entry(topic.clone()).or_default().insert(
                *partition,
                Assigned {
                    epoch,
                    buf: Partition::with_backoff(
                        ordering,
                        self.config.redelivery_backoff.0,
                        self.config.redelivery_backoff.1,
                    ),
                    queued: false,
                    paused: false,
                },
            );
        }
        st.joined = true;
        tracing::info!(group = %self.group, partitions = ?assigned, "partitions assigned");
    }

    /// Partitions revoked: stops leasing them, waits for their in-flight records (up
    /// to the revoke timeout), and returns their commit offsets; forgets them.
    fn revoke(&self, revoked: &[(String, i32)]) -> Vec<(String, i32, i64)> {
        let mut st = self.lock();
        for (topic, partition) in revoked {
            if let Some(part) = st.part(topic, *partition) {
                part.buf.stop();
            }
        }
        let busy = |st: &State| {
            revoked.iter().any(|(t, p)| {
                st.parts
                    .get(t)
                    .and_then(|m| m.get(p))
                    .is_some_and(|a| a.buf.in_flight() > 0)
            })
        };
        let deadline = Instant::now() + self.config.revoke_timeout;
        while busy(&st) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!(group = %self.group, timeout = ?self.config.revoke_timeout, "revoked partitions still have handlers running; their records go to the new owner");
                break;
            }
            st = self
                .settled
                .wait_timeout(st, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let mut commits = Vec::new();
        for (topic, partition) in revoked {
            let removed = st.parts.get_mut(topic).and_then(|m| m.remove(partition));
            if let Some(at) = removed.and_then(|a| a.buf.commit_offset()) {
                commits.push((topic.clone(), *partition, at));
            }
        }
        st.parts.retain(|_, m| !m.is_empty());
        st.joined = false;
        tracing::info!(group = %self.group, partitions = ?revoked, "partitions revoked");
        commits
    }

    /// Starts closing: no more leases; waiting workers get `None`.
    fn close(&self) {
        let mut st = self.lock();
        st.closing = true;
        st.ready.clear();
        for part in st.parts.values_mut().flat_map(HashMap::values_mut) {
            part.buf.stop();
        }
        drop(st);
        self.ready.notify_waiters();
    }

    /// Closes and waits until the poll thread has committed and left the group.
    pub(crate) async fn shutdown(&self) -> Result<(), CloseError> {
        self.close();
        let mut stopped = self.stopped.subscribe();
        let limit = self.config.revoke_timeout + self.config.request_timeout;
        match tokio::time::timeout(limit, stopped.wait_for(|s| *s)).await {
            Ok(_) => Ok(()),
            Err(_) => Err(CloseError(
                format!(
                    "group `{}` did not leave within {limit:?}; its uncommitted records will be delivered again",
                    self.group
                )
                .into(),
            )),
        }
    }

    /// Waits (blocking, on the poll thread) until nothing is in flight or `timeout`.
    fn wait_in_flight(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        while st.in_flight() > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!(group = %self.group, in_flight = st.in_flight(), "closing with handlers still running; their records will be delivered again");
                return;
            }
            st = self
                .settled
                .wait_timeout(st, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

fn delivery(topic: &'static str, partition: i32, epoch: u64, e: Entry) -> Delivery {
    Delivery::new(
        e.envelope,
        Cow::Borrowed(topic),
        AckToken {
            a: epoch,
            b: e.offset as u64,
        },
    )
    .at(partition as u32, e.offset as u64)
    .redelivered(e.redeliveries)
}

/// A member of a consumer group on Kafka. Made by
/// [`KafkaTransport::subscribe`](edp_core::transport::Transport::subscribe).
pub struct KafkaSubscriber {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for KafkaSubscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSubscriber")
            .field("group", &self.shared.group)
            .finish_non_exhaustive()
    }
}

impl KafkaSubscriber {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl Subscriber for KafkaSubscriber {
    async fn recv(&self) -> Option<Result<Delivery, ReceiveError>> {
        let batch = self.recv_batch(1).await?;
        Some(batch.and_then(|mut b| {
            b.pop()
                .ok_or_else(|| ReceiveError("an empty lease (a bug in edp-kafka)".into()))
        }))
    }

    async fn recv_batch(&self, max: usize) -> Option<Result<Vec<Delivery>, ReceiveError>> {
        loop {
            let notified = self.shared.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.shared.lease(max) {
                Ok(Some(batch)) => return Some(Ok(batch)),
                Ok(None) => {}
                Err(()) => return None,
            }
            notified.await;
        }
    }

    async fn ack(&self, delivery: &Delivery) -> Result<(), AckError> {
        self.shared.settle(delivery, true)
    }

    async fn nack(&self, delivery: &Delivery) -> Result<(), AckError> {
        self.shared.settle(delivery, false)
    }

    async fn close(&self) -> Result<(), CloseError> {
        self.shared.shutdown().await
    }

    fn assigned(&self) -> bool {
        self.shared.joined() && !self.shared.closing()
    }
}

impl Drop for KafkaSubscriber {
    fn drop(&mut self) {
        // The poll thread commits what was handled and leaves the group.
        if !self.shared.closing() {
            self.shared.close();
        }
    }
}
