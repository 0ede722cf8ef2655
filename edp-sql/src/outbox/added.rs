//! Wakes the relays of this process when a row is added, so that an event leaves
//! within milliseconds without notifications from the database (SQLite) and without
//! waiting for the next poll.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

static GENERATION: AtomicU64 = AtomicU64::new(0);
static ADDED: Notify = Notify::const_new();

/// A row was added (its transaction may not have committed yet).
pub(crate) fn wake() {
    GENERATION.fetch_add(1, Ordering::Release);
    ADDED.notify_waiters();
}

/// Counts [`wake`] calls: a relay that sees it change while reading looks again.
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Completes at the next [`wake`] after this call.
pub(crate) fn notified() -> tokio::sync::futures::Notified<'static> {
    ADDED.notified()
}
