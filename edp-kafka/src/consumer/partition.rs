//! One assigned partition's buffer: fetched records sorted into lanes, leases handed
//! to workers, and the offset that is safe to commit.
//!
//! A lane is a queue of records that must be handled in order: one per key (the
//! default), or one for the whole partition. A lane is leased to one worker at a time,
//! so a key never runs twice at once, while different lanes run in parallel. A record
//! is done when acked; the commit offset is the lowest offset not yet done (or the next
//! to fetch when every fetched record is done), so a commit never passes a record that
//! is still in flight or waiting, whatever order the lanes finish in.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use edp_core::SharedEnvelope;

/// How records of one partition may run in parallel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sequencing {
    /// Records with different keys run in parallel; each key stays in order. Records
    /// without a key run in parallel with everything. The default.
    #[default]
    PerKey,
    /// The whole partition runs in order, one record (or batch) at a time.
    PerPartition,
}

/// A fetched record waiting in its lane or leased.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) offset: i64,
    pub(crate) envelope: SharedEnvelope,
    pub(crate) redeliveries: u32,
}

#[derive(Debug, Default)]
struct Lane {
    queue: VecDeque<Entry>,
    /// How many entries at the front are leased; 0 when the lane is free.
    leased: usize,
}

/// Settling a lease failed: the delivery is not (or no longer) leased here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotLeased;

/// The lane a record belongs to.
pub(crate) fn lane_of(ordering: Sequencing, key: Option<&str>, offset: i64) -> u64 {
    match (ordering, key) {
        (Sequencing::PerPartition, _) => 0,
        // The top bit is left for keyless records.
        (Sequencing::PerKey, Some(key)) => fnv1a(key.as_bytes()) >> 1,
        (Sequencing::PerKey, None) => (1 << 63) | (offset as u64),
    }
}

/// FNV-1a: keys are short and hashed once per record on the poll thread, where
/// SipHash showed in profiles. Lanes only need an even spread, not DoS resistance: a
/// collision merely makes two keys share a lane (and so run in order).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Lane ids are hashes already: the lane map uses them as they are.
#[derive(Debug, Default)]
struct LaneIdHasher(u64);

impl Hasher for LaneIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 ids are hashed; this keeps any other use correct.
        for b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id;
    }
}

type Lanes = HashMap<u64, Lane, BuildHasherDefault<LaneIdHasher>>;

/// Emptied lane queues kept for reuse, so lanes that come and go (a key with a
/// record now and then) do not allocate each time.
const SPARE_QUEUES: usize = 64;

/// The offsets fetched and not yet acked, oldest first. Offsets arrive in increasing
/// order (with gaps: transaction markers, compaction), so this is a window: push at
/// the back, mark done anywhere, and drop the done ones from the front. The commit
/// offset is the front's.
#[derive(Debug, Default)]
struct Window {
    /// (offset, done), offsets increasing.
    slots: VecDeque<(i64, bool)>,
    /// Slots not done.
    undone: usize,
}

impl Window {
    fn push(&mut self, offset: i64) {
        self.slots.push_back((offset, false));
        self.undone += 1;
    }

    fn done(&mut self, offset: i64) {
        let (a, b) = self.slots.as_slices();
        let found = match a.last() {
            Some(&(last, _)) if offset <= last => a.binary_search_by_key(&offset, |s| s.0).ok(),
            _ => b
                .binary_search_by_key(&offset, |s| s.0)
                .ok()
                .map(|i| i + a.len()),
        };
        let Some(i) = found else { return };
        if let Some(slot) = self.slots.get_mut(i) {
            if !slot.1 {
                slot.1 = true;
                self.undone -= 1;
            }
        }
        while self.slots.front().is_some_and(|s| s.1) {
            self.slots.pop_front();
        }
    }

    fn first(&self) -> Option<i64> {
        self.slots.front().map(|s| s.0)
    }

    fn len(&self) -> usize {
        self.undone
    }
}

/// The buffer of one assigned partition.
#[derive(Debug)]
pub(crate) struct Partition {
    ordering: Sequencing,
    lanes: Lanes,
    /// Empty queues of removed lanes, for reuse.
    spare: Vec<VecDeque<Entry>>,
    /// Lanes with entries and no lease, in the order they became ready.
    ready: VecDeque<u64>,
    /// Offsets fetched and not yet acked (waiting or leased).
    undone: Window,
    /// The offset after the last fetched record; `None` before the first.
    next: Option<i64>,
    /// The commit offset last handed out by [`Partition::take_commit`].
    committed: Option<i64>,
    /// Entries leased right now.
    in_flight: usize,
    /// No more leases: the partition is being revoked or the subscriber closes.
    stopped: bool,
    /// Nacked lanes and when they may be delivered again.
    delayed: Vec<(Instant, u64)>,
    /// How long a nacked record waits: `base * 2^(redeliveries - 1)`, at most `max`.
    backoff: (Duration, Duration),
}

impl Partition {
    #[cfg(test)]
    pub(crate) fn new(ordering: Sequencing) -> Self {
        Self::with_backoff(ordering, Duration::ZERO, Duration::ZERO)
    }

    /// A partition whose nacked records wait before they are delivered again.
    pub(crate) fn with_backoff(ordering: Sequencing, base: Duration, max: Duration) -> Self {
        Self {
            ordering,
            lanes: Lanes::default(),
            spare: Vec::new(),
            ready: VecDeque::new(),
            undone: Window::default(),
            next: None,
            committed: None,
            in_flight: 0,
            stopped: false,
            delayed: Vec::new(),
            backoff: (base, max),
        }
    }

    /// Adds a fetched record. Returns whether a lane became ready. A record at or
    /// below an offset seen already (a fetch repeated by the client) is ignored.
    pub(crate) fn push(&mut self, entry: Entry) -> bool {
        if self.next.is_some_and(|n| entry.offset < n) {
            return false;
        }
        self.next = Some(entry.offset + 1);
        self.undone.push(entry.offset);
        let lane_id = lane_of(
            self.ordering,
            entry.envelope.subject.as_deref(),
            entry.offset,
        );
        let spare = &mut self.spare;
        let lane = self.lanes.entry(lane_id).or_insert_with(|| Lane {
            queue: spare.pop().unwrap_or_default(),
            leased: 0,
        });
        lane.queue.push_back(entry);
        if lane.leased == 0 && lane.queue.len() == 1 && !self.stopped {
            self.ready.push_back(lane_id);
            return true;
        }
        false
    }

    /// Leases the next ready lane: up to `max` of its entries, in order.
    pub(crate) fn lease(&mut self, max: usize) -> Option<Vec<Entry>> {
        if self.stopped {
            return None;
        }
        while let Some(id) = self.ready.pop_front() {
            let Some(lane) = self.lanes.get_mut(&id) else {
                continue;
            };
            if lane.leased > 0 || lane.queue.is_empty() {
                continue;
            }
            let n = max.max(1).min(lane.queue.len());
            lane.leased = n;
            self.in_flight += n;
            return Some(lane.queue.iter().take(n).cloned().collect());
        }
        None
    }

    /// Whether a lane is ready to lease.
    pub(crate) fn has_ready(&self) -> bool {
        !self.stopped && !self.ready.is_empty()
    }

    /// Acks (`ack`) or nacks the leased entry at `offset` of `key`'s lane. An ack
    /// settles the leased entries up to it; a nack settles the ones before it and
    /// puts it and the rest of the lease back, to be delivered again. Returns whether
    /// the lane became ready again.
    pub(crate) fn settle(
        &mut self,
        key: Option<&str>,
        offset: i64,
        ack: bool,
    ) -> Result<bool, NotLeased> {
        let lane_id = lane_of(self.ordering, key, offset);
        let lane = self.lanes.get_mut(&lane_id).ok_or(NotLeased)?;
        let at = lane
            .queue
            .iter()
            .take(lane.leased)
            .position(|e| e.offset == offset)
            .ok_or(NotLeased)?;
        let done = if ack { at + 1 } else { at };
        for e in lane.queue.drain(..done) {
            self.undone.done(e.offset);
        }
        if ack {
            lane.leased -= done;
            self.in_flight -= done;
        } else {
            let released = lane.leased - done;
            for e in lane.queue.iter_mut().take(released) {
                e.redeliveries += 1;
            }
            self.in_flight -= lane.leased;
            lane.leased = 0;
        }
        if lane.leased > 0 {
            return Ok(false);
        }
        if lane.queue.is_empty() {
            if let Some(lane) = self.lanes.remove(&lane_id) {
                if self.spare.len() < SPARE_QUEUES && lane.queue.capacity() <= 64 {
                    self.spare.push(lane.queue);
                }
            }
            return Ok(false);
        }
        if self.stopped {
            return Ok(false);
        }
        if ack {
            self.ready.push_back(lane_id);
            return Ok(true);
        }
        let redeliveries = lane.queue.front().map_or(1, |e| e.redeliveries);
        let wait = self.redelivery_wait(redeliveries);
        if wait.is_zero() {
            // Delivered again before the lanes that waited behind it.
            self.ready.push_front(lane_id);
            return Ok(true);
        }
        // A failure that repeats at once (a dependency down) must not spin: the lane
        // waits, growing with each redelivery, then goes first in line.
        self.delayed.push((Instant::now() + wait, lane_id));
        Ok(false)
    }

    fn redelivery_wait(&self, redeliveries: u32) -> Duration {
        let (base, max) = self.backoff;
        edp_core::backoff::Backoff::new(base, max)
            .jitter(false)
            .cap(redeliveries)
    }

    /// Makes the nacked lanes whose wait is over at `now` ready again, first in line.
    /// Returns how many.
    pub(crate) fn promote(&mut self, now: Instant) -> usize {
        if self.stopped || self.delayed.is_empty() {
            return 0;
        }
        let mut promoted = 0;
        let mut i = 0;
        while i < self.delayed.len() {
            if self.delayed[i].0 <= now {
                let (_, lane) = self.delayed.swap_remove(i);
                self.ready.push_front(lane);
                promoted += 1;
            } else {
                i += 1;
            }
        }
        promoted
    }

    /// Entries leased and not yet settled.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Entries fetched and not yet acked (waiting or leased).
    pub(crate) fn buffered(&self) -> usize {
        self.undone.len()
    }

    /// The offset safe to commit: the lowest not done, or the next to fetch.
    pub(crate) fn commit_offset(&self) -> Option<i64> {
        self.undone.first().or(self.next)
    }

    /// The commit offset if it moved since the last call.
    pub(crate) fn take_commit(&mut self) -> Option<i64> {
        let at = self.commit_offset()?;
        if self.committed == Some(at) {
            return None;
        }
        self.committed = Some(at);
        Some(at)
    }

    /// Stops handing out leases: nothing waiting is delivered from now on (the new
    /// owner of the partition gets it). Leased entries may still be settled.
    pub(crate) fn stop(&mut self) {
        self.stopped = true;
        self.ready.clear();
        self.delayed.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edp_core::Envelope;

    fn entry(offset: i64, key: Option<&str>) -> Entry {
        let env = Envelope::builder("t", Vec::new())
            .subject_opt(key.map(str::to_owned))
            .build();
        Entry {
            offset,
            envelope: SharedEnvelope::new(env),
            redeliveries: 0,
        }
    }

    fn offsets(v: &[Entry]) -> Vec<i64> {
        v.iter().map(|e| e.offset).collect()
    }

    #[test]
    fn the_window_keeps_the_lowest_unfinished_offset_across_gaps_and_wraps() {
        let mut w = Window::default();
        // Wrap the ring: fill, drain, refill.
        for o in 0..6 {
            w.push(o);
        }
        for o in 0..6 {
            w.done(o);
        }
        assert_eq!((w.first(), w.len()), (None, 0));
        for o in [10, 11, 15, 16, 20] {
            w.push(o);
        }
        w.done(15);
        w.done(11);
        w.done(12); // never fetched (a gap): ignored
        assert_eq!((w.first(), w.len()), (Some(10), 3));
        w.done(10);
        assert_eq!(
            (w.first(), w.len()),
            (Some(16), 2),
            "10, 11 and 15 are done"
        );
        w.done(20);
        w.done(20); // twice: counted once
        assert_eq!((w.first(), w.len()), (Some(16), 1));
        w.done(16);
        assert_eq!((w.first(), w.len()), (None, 0));
    }

    #[test]
    fn keys_run_in_parallel_and_each_key_in_order() {
        let mut p = Partition::new(Sequencing::PerKey);
        for (o, k) in [(0, "a"), (1, "b"), (2, "a"), (3, "b")] {
            p.push(entry(o, Some(k)));
        }
        let a = p.lease(10).unwrap();
        let b = p.lease(10).unwrap();
        assert_eq!(offsets(&a), [0, 2]);
        assert_eq!(offsets(&b), [1, 3]);
        assert!(p.lease(10).is_none(), "both lanes are leased");
        assert_eq!(p.in_flight(), 4);
    }

    #[test]
    fn a_key_waits_for_its_lease_to_settle() {
        let mut p = Partition::new(Sequencing::PerKey);
        p.push(entry(0, Some("a")));
        p.push(entry(1, Some("a")));
        assert_eq!(offsets(&p.lease(1).unwrap()), [0]);
        assert!(p.lease(1).is_none(), "offset 1 waits for offset 0");
        assert_eq!(p.settle(Some("a"), 0, true), Ok(true));
        assert_eq!(offsets(&p.lease(1).unwrap()), [1]);
    }

    #[test]
    fn the_commit_offset_never_passes_an_unfinished_record() {
        let mut p = Partition::new(Sequencing::PerKey);
        for (o, k) in [(10, "a"), (11, "b"), (12, "c")] {
            p.push(entry(o, Some(k)));
        }
        let _a = p.lease(1).unwrap();
        let _b = p.lease(1).unwrap();
        let _c = p.lease(1).unwrap();
        assert_eq!(p.commit_offset(), Some(10));
        // b and c finish first: the commit stays at a.
        p.settle(Some("b"), 11, true).unwrap();
        p.settle(Some("c"), 12, true).unwrap();
        assert_eq!(p.commit_offset(), Some(10));
        p.settle(Some("a"), 10, true).unwrap();
        assert_eq!(p.commit_offset(), Some(13), "the lowest contiguous done");
        assert_eq!(p.take_commit(), Some(13));
        assert_eq!(p.take_commit(), None, "unchanged");
    }

    #[test]
    fn a_nack_puts_the_rest_of_the_lease_back_first_in_line() {
        let mut p = Partition::new(Sequencing::PerPartition);
        for o in 0..5 {
            p.push(entry(o, Some(&format!("k{o}"))));
        }
        let batch = p.lease(4).unwrap();
        assert_eq!(offsets(&batch), [0, 1, 2, 3]);
        assert_eq!(p.settle(Some("k2"), 2, false), Ok(true));
        assert_eq!(p.commit_offset(), Some(2), "0 and 1 count as done");
        let again = p.lease(10).unwrap();
        assert_eq!(offsets(&again), [2, 3, 4]);
        assert_eq!(again[0].redeliveries, 1);
        assert_eq!(again[1].redeliveries, 1);
        assert_eq!(again[2].redeliveries, 0, "offset 4 was never handed out");
    }

    #[test]
    fn a_nacked_lane_waits_with_growing_backoff_then_goes_first() {
        let ms = Duration::from_millis;
        let mut p = Partition::with_backoff(Sequencing::PerKey, ms(100), ms(250));
        p.push(entry(0, Some("a")));
        p.push(entry(1, Some("b")));
        let a = p.lease(1).unwrap();
        assert_eq!(
            p.settle(Some("a"), 0, false),
            Ok(false),
            "not ready at once"
        );
        assert_eq!(offsets(&p.lease(1).unwrap()), [1], "b is not held up");
        assert!(p.lease(1).is_none(), "a waits");
        let now = Instant::now();
        assert_eq!(p.promote(now), 0);
        assert_eq!(p.promote(now + ms(100)), 1);
        let again = p.lease(1).unwrap();
        assert_eq!((again[0].offset, again[0].redeliveries), (a[0].offset, 1));
        // The second nack waits twice as long, the third is capped.
        assert_eq!(p.redelivery_wait(2), ms(200));
        assert_eq!(p.redelivery_wait(3), ms(250));
        assert_eq!(p.redelivery_wait(u32::MAX), ms(250));
    }

    #[test]
    fn settling_what_is_not_leased_is_refused() {
        let mut p = Partition::new(Sequencing::PerKey);
        p.push(entry(0, Some("a")));
        p.push(entry(1, Some("a")));
        assert_eq!(p.settle(Some("a"), 0, true), Err(NotLeased));
        let _ = p.lease(1).unwrap();
        assert_eq!(p.settle(Some("a"), 1, true), Err(NotLeased), "not leased");
        assert_eq!(p.settle(Some("a"), 0, true), Ok(true));
        assert_eq!(p.settle(Some("a"), 0, true), Err(NotLeased), "twice");
    }

    #[test]
    fn keyless_records_run_in_parallel() {
        let mut p = Partition::new(Sequencing::PerKey);
        for o in 0..3 {
            p.push(entry(o, None));
        }
        assert!(p.lease(8).is_some());
        assert!(p.lease(8).is_some());
        assert!(p.lease(8).is_some());
        assert_eq!(p.in_flight(), 3);
    }

    #[test]
    fn a_repeated_fetch_is_ignored_and_stop_ends_leasing() {
        let mut p = Partition::new(Sequencing::PerKey);
        assert!(p.push(entry(5, Some("a"))));
        assert!(!p.push(entry(5, Some("a"))));
        assert_eq!(p.buffered(), 1);
        p.stop();
        assert!(p.lease(1).is_none());
        assert_eq!(p.commit_offset(), Some(5));
    }
}
