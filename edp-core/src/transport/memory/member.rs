//! A member of a consumer group: its ready queue and in-flight count.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;

use super::topic::{Topic, lock};

pub(super) struct Member {
    pub(super) id: u64,
    pub(super) group: Arc<str>,
    pub(super) topics: Vec<Arc<Topic>>,
    /// Partitions (topic index, partition) that have something to deliver.
    ready: Mutex<VecDeque<(u32, u32)>>,
    /// Wakes a receiver when `ready` gains an entry or the member closes.
    pub(super) notify: Notify,
    pub(super) closed: AtomicBool,
    pub(super) in_flight: AtomicUsize,
    /// Receivers waiting in `recv`.
    pub(super) idle: AtomicUsize,
    /// Wakes `close` when `in_flight` reaches zero.
    pub(super) drained: Notify,
}

impl Member {
    pub(super) fn new(id: u64, group: Arc<str>, topics: Vec<Arc<Topic>>) -> Self {
        Self {
            id,
            group,
            topics,
            ready: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            closed: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
            drained: Notify::new(),
        }
    }

    /// Queues a partition; `wake` wakes an idle receiver (not needed when the caller
    /// is a receiver that will look at the queue next).
    pub(super) fn push_ready(&self, topic_index: u32, partition: u32, wake: bool) {
        lock(&self.ready).push_back((topic_index, partition));
        if wake && self.idle.load(Ordering::Acquire) > 0 {
            self.notify.notify_one();
        }
    }

    /// Wakes one idle receiver, if any.
    pub(super) fn wake_one(&self) {
        if self.idle.load(Ordering::Acquire) > 0 {
            self.notify.notify_one();
        }
    }

    /// Takes a queued partition; if more remain, wakes another idle receiver, so that
    /// work spreads without waking receivers that would find nothing.
    pub(super) fn pop_ready(&self) -> Option<(u32, u32)> {
        let mut ready = lock(&self.ready);
        let next = ready.pop_front();
        let more = !ready.is_empty();
        drop(ready);
        if more && self.idle.load(Ordering::Acquire) > 0 {
            self.notify.notify_one();
        }
        next
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(super) fn finish_one(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.drained.notify_waiters();
        }
    }

    /// Waits until no delivery of this member is in flight.
    pub(super) async fn wait_drained(&self) {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}
