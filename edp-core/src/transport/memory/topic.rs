//! Topics, partitions and the per-group cursors inside each partition.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use super::member::Member;
use crate::SharedEnvelope;

pub(super) struct Topic {
    pub(super) name: &'static str,
    pub(super) partitions: Box<[Partition]>,
    round_robin: std::sync::atomic::AtomicUsize,
}

pub(super) struct Partition {
    pub(super) id: u32,
    state: Mutex<PartitionState>,
    /// Wakes publishers waiting for room.
    pub(super) space: Notify,
}

pub(super) struct PartitionState {
    /// Offset of `log[0]`.
    pub(super) base: u64,
    pub(super) log: VecDeque<SharedEnvelope>,
    pub(super) cursors: Vec<Cursor>,
    pub(super) publisher_waiting: bool,
    /// Events dropped because only inactive groups still needed them.
    pub(super) dropped: u64,
}

/// A consumer group's position in one partition.
pub(super) struct Cursor {
    pub(super) group: Arc<str>,
    /// The next offset to deliver, or the one in flight.
    pub(super) pos: u64,
    /// The member that holds `pos..in_flight_end` in flight.
    pub(super) in_flight: Option<u64>,
    /// End (exclusive) of the batch in flight.
    pub(super) in_flight_end: u64,
    /// Counts leases, so that a settle from an earlier lease of the same range is
    /// refused.
    pub(super) lease: u32,
    /// Deliveries of `pos` so far that were not acked.
    pub(super) redeliveries: u32,
    /// The member the partition is assigned to, with the topic's index in its list.
    pub(super) owner: Option<(Arc<Member>, u32)>,
    /// Whether the partition sits in the owner's ready queue.
    pub(super) queued: bool,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves the state consistent (every mutation is
    // a single step), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Topic {
    pub(super) fn new(name: &str, partitions: u32) -> Self {
        Self {
            name: crate::intern::intern(name),
            partitions: (0..partitions)
                .map(|id| Partition {
                    id,
                    state: Mutex::new(PartitionState {
                        base: 0,
                        log: VecDeque::new(),
                        cursors: Vec::new(),
                        publisher_waiting: false,
                        dropped: 0,
                    }),
                    space: Notify::new(),
                })
                .collect(),
            round_robin: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The partition for `key`: a stable hash, or round robin without a key.
    pub(super) fn partition_for(&self, key: Option<&str>) -> usize {
        let n = self.partitions.len();
        match key {
            Some(k) => (fnv1a(k.as_bytes()) % n as u64) as usize,
            None => {
                self.round_robin
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    % n
            }
        }
    }
}

/// FNV-1a as a `Hasher`, for the broker's small map of topic names: SipHash guards
/// against hash flooding, which names chosen by the application cannot do.
#[derive(Default)]
pub(super) struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Partition {
    pub(super) fn lock(&self) -> MutexGuard<'_, PartitionState> {
        lock(&self.state)
    }
}

impl PartitionState {
    pub(super) fn end(&self) -> u64 {
        self.base + self.log.len() as u64
    }

    pub(super) fn cursor_mut(&mut self, group: &str) -> Option<&mut Cursor> {
        self.cursors.iter_mut().find(|c| &*c.group == group)
    }

    /// Drops up to `max` events every group has acked. Returns whether room was made.
    ///
    /// Publishers call it, so that events are freed on the thread that allocated them,
    /// a few per publish rather than in bursts: both keep the allocator's per-thread
    /// caches working (measured).
    pub(super) fn trim(&mut self, max: usize) -> bool {
        let Some(min) = self.cursors.iter().map(|c| c.pos).min() else {
            return false;
        };
        let mut trimmed = 0;
        while self.base < min && trimmed < max {
            if self.log.pop_front().is_none() {
                break;
            }
            self.base += 1;
            trimmed += 1;
        }
        trimmed > 0
    }

    /// Makes room for one event when the log is full and the oldest event is needed
    /// only by groups with no active member (or by no group at all): it is dropped,
    /// as a broker's retention would. Returns false when an active group still needs it.
    pub(super) fn evict_for_inactive(&mut self) -> bool {
        let base = self.base;
        let needed_by_active = self
            .cursors
            .iter()
            .any(|c| c.pos <= base && (c.owner.is_some() || c.in_flight.is_some()));
        if needed_by_active || self.log.is_empty() {
            return false;
        }
        self.log.pop_front();
        self.base += 1;
        self.dropped += 1;
        for c in &mut self.cursors {
            if c.pos < self.base {
                c.pos = self.base;
                c.redeliveries = 0;
            }
        }
        true
    }

    /// Puts the partition in its owner's ready queue if the owner has something to
    /// take and it is not queued already.
    pub(super) fn wake_owner(&mut self, partition: u32, cursor: usize, wake: bool) {
        let end = self.end();
        let c = &mut self.cursors[cursor];
        if c.queued || c.in_flight.is_some() || c.pos >= end {
            return;
        }
        if let Some((member, topic_index)) = &c.owner {
            c.queued = true;
            member.push_ready(*topic_index, partition, wake);
        }
    }

    pub(super) fn wake_all_owners(&mut self, partition: u32) {
        for i in 0..self.cursors.len() {
            self.wake_owner(partition, i, true);
        }
    }

    /// Queues the partition with every owner that has something to take, without
    /// waking them: the caller wakes each member in `woken` once, after a whole batch,
    /// instead of once per partition.
    pub(super) fn queue_for_owners(&mut self, partition: u32, woken: &mut Vec<Arc<Member>>) {
        for i in 0..self.cursors.len() {
            let before = self.cursors[i].queued;
            self.wake_owner(partition, i, false);
            if !before && self.cursors[i].queued {
                if let Some((m, _)) = &self.cursors[i].owner {
                    if !woken.iter().any(|w| w.id == m.id) {
                        woken.push(m.clone());
                    }
                }
            }
        }
    }
}
