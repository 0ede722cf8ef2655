//! The relay: publishes committed outbox rows through a transport, in id order.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use edp_core::Envelope;
use edp_core::transport::Transport;
use sqlx::Pool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::row::now_us;
use super::{RelayError, added};
use crate::Database;

/// What happens to a row once it is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Retention {
    /// Delete it at once (the default: the table stays small).
    Delete,
    /// Mark it published and delete it after this long (for audit and replay by hand).
    Keep(Duration),
}

/// Publishes the outbox of one database through a transport.
///
/// ```no_run
/// use edp_sql::outbox::Relay;
/// use edp_core::transport::memory::MemoryTransport;
///
/// # async fn f(pool: sqlx::SqlitePool) {
/// let relay = Relay::new(pool, MemoryTransport::new()).start();
/// // ... serve ...
/// relay.shutdown().await; // finishes the batch in flight
/// # }
/// ```
///
/// Several relays may run against one database (one per service instance): one
/// publishes, the others wait to take over. On PostgreSQL the publishing relay holds an
/// advisory lock, which goes the moment its connection does, and it wakes on `NOTIFY`
/// as soon as rows commit, with polling as the fallback; on SQLite it holds a lease row
/// (renewed every batch, taken over once it expires) and polls.
pub struct Relay<DB: Database, T: Transport> {
    pool: Pool<DB>,
    transport: T,
    batch: usize,
    poll: Duration,
    lease: Duration,
    retention: Retention,
    backoff: (Duration, Duration),
    published: Arc<AtomicU64>,
    started: std::time::Instant,
    /// Seconds after `started` of the last statistics refresh (0: never).
    stats_refreshed: AtomicU64,
    /// The `database` label of the backlog metrics.
    name: String,
    /// When the backlog metrics were last refreshed.
    measured: std::sync::Mutex<Option<std::time::Instant>>,
}

impl<DB: Database, T: Transport> std::fmt::Debug for Relay<DB, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("batch", &self.batch)
            .field("poll", &self.poll)
            .field("lease", &self.lease)
            .field("retention", &self.retention)
            .finish()
    }
}

impl<DB: Database, T: Transport> Relay<DB, T> {
    /// A relay from the outbox behind `pool` to `transport`, with defaults: batches of
    /// up to 5,000 rows (one batch is published while the next is read and the one
    /// before is settled; measured fastest), a poll every 250 ms when there are no
    /// notifications (a standby relay also tries to take over at that pace), a 10 s
    /// lease on SQLite, published rows deleted.
    pub fn new(pool: Pool<DB>, transport: T) -> Self {
        Self {
            pool,
            transport,
            batch: 5000,
            poll: Duration::from_millis(250),
            lease: Duration::from_secs(10),
            retention: Retention::Delete,
            backoff: (Duration::from_millis(100), Duration::from_secs(5)),
            published: Arc::new(AtomicU64::new(0)),
            started: std::time::Instant::now(),
            stats_refreshed: AtomicU64::new(0),
            name: "outbox".to_owned(),
            measured: std::sync::Mutex::new(None),
        }
    }

    /// The name of this outbox in metrics: the `database` label of
    /// `edp_outbox_backlog` and `edp_outbox_oldest_age_seconds` (default `outbox`).
    /// The publishing relay refreshes them every 5 s, with the `prometheus` feature
    /// of edp-core.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Rows read and published per batch (at least 1).
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.batch = rows.max(1);
        self
    }

    /// How often to look for rows when no notification came (PostgreSQL) or at all
    /// (SQLite).
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll = every;
        self
    }

    /// How long a SQLite relay's lease lasts unless renewed: a relay that dies is
    /// replaced after at most this long. (PostgreSQL needs none.)
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(10));
        self
    }

    /// What to do with published rows.
    pub fn retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// The backoff after a failure: from `first`, doubling up to `max`.
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = (first, max.max(first));
        self
    }

    /// Publishes the rows committed now, in batches, until none is left; returns how
    /// many it published. Ignores leadership: for tests, tools and one-off drains
    /// (run it where no relay runs, or rows may be published twice).
    ///
    /// # Errors
    ///
    /// The first [`RelayError`]; rows published before it are settled.
    pub async fn drain(&self) -> Result<u64, RelayError> {
        self.publish_pass().await
    }

    /// Runs the relay on a task of its own until [`RelayHandle::shutdown`].
    pub fn start(self) -> RelayHandle {
        let cancel = CancellationToken::new();
        let published = self.published.clone();
        let task = tokio::spawn(self.run(cancel.clone()));
        RelayHandle {
            cancel,
            task,
            published,
        }
    }

    /// Runs the relay until `cancel` fires.
    pub async fn run(self, cancel: CancellationToken) {
        self.relay_until(&cancel).await;
    }

    async fn relay_until(&self, cancel: &CancellationToken) {
        let owner = uuid::Uuid::now_v7().to_string();
        let lease_us = i64::try_from(self.lease.as_micros()).unwrap_or(i64::MAX);
        let mut failures = 0u32;
        while !cancel.is_cancelled() {
            let leadership = match DB::try_lead(&self.pool, &owner, lease_us).await {
                Ok(Some(l)) => l,
                Ok(None) => {
                    tracing::debug!("another relay publishes this outbox; standing by");
                    failures = 0;
                    self.pause(cancel, self.poll).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay cannot reach its database; retrying");
                    failures += 1;
                    self.pause(cancel, self.backoff_for(failures)).await;
                    continue;
                }
            };
            tracing::info!("outbox relay publishing");
            failures = 0;
            self.lead(leadership, lease_us, cancel, &mut failures).await;
        }
    }

    /// Publishes while this relay leads; returns when it no longer does or on cancel.
    async fn lead(
        &self,
        mut leadership: DB::Leadership,
        lease_us: i64,
        cancel: &CancellationToken,
        failures: &mut u32,
    ) {
        // Listen before the first read, so no commit falls between the two.
        let mut wakeup = match DB::listen(&self.pool).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "outbox relay cannot LISTEN; polling instead");
                None
            }
        };
        // Quick looks left after an in-process `Outbox::add` woke this relay.
        let mut follow_ups = 0_usize;
        while !cancel.is_cancelled() {
            match DB::still_leading(&self.pool, &mut leadership, lease_us).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!("outbox relay lost its lease; standing by");
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay lost its database connection");
                    *failures += 1;
                    self.pause(cancel, self.backoff_for(*failures)).await;
                    return;
                }
            }
            let seen = added::generation();
            match self.publish_pass().await {
                Ok(n) => {
                    *failures = 0;
                    if n > 0 {
                        follow_ups = 0;
                    }
                    self.idle(cancel, &mut wakeup, seen, &mut follow_ups).await;
                }
                Err(e) => {
                    *failures += 1;
                    let wait = self.backoff_for(*failures);
                    tracing::warn!(error = %e, source = ?std::error::Error::source(&e), retry_in = ?wait, "outbox relay failed; rows stay until published");
                    self.pause(cancel, wait).await;
                    if matches!(e, RelayError::Database(_)) {
                        return; // take leadership again: the connection may be gone
                    }
                }
            }
            if let Retention::Keep(keep) = self.retention {
                self.purge(keep).await;
            }
            self.measure_backlog().await;
        }
        // Stopped on purpose: hand over now rather than when a lease expires.
        if let Err(e) = DB::release(&self.pool, leadership).await {
            tracing::debug!(error = %e, "outbox relay could not release its leadership; it expires");
        }
    }

    /// Refreshes the backlog metrics, at most every 5 s.
    async fn measure_backlog(&self) {
        if !edp_core::telemetry::metrics::enabled() {
            return;
        }
        {
            let Ok(mut last) = self.measured.lock() else {
                return;
            };
            if last.is_some_and(|t| t.elapsed() < Duration::from_secs(5)) {
                return;
            }
            *last = Some(std::time::Instant::now());
        }
        match super::backlog(&self.pool).await {
            Ok(b) => edp_core::telemetry::metrics::set_outbox_backlog(
                &self.name,
                b.unpublished,
                b.oldest_age,
            ),
            Err(e) => tracing::debug!(error = %e, "cannot measure the outbox backlog"),
        }
    }

    /// Waits for a notification, the poll interval or cancellation.
    ///
    /// An [`Outbox::add`](super::Outbox::add) in this process wakes the relay at once;
    /// the row commits a moment after the add, so the relay looks again after 2, 10
    /// and 50 ms before it goes back to waiting (a row that commits later still
    /// arrives with the next poll or notification).
    async fn idle(
        &self,
        cancel: &CancellationToken,
        wakeup: &mut Option<DB::Wakeup>,
        seen: u64,
        follow_ups: &mut usize,
    ) {
        const FOLLOW_UPS: [Duration; 3] = [
            Duration::from_millis(50),
            Duration::from_millis(10),
            Duration::from_millis(2),
        ];
        let added = added::notified();
        if added::generation() != seen {
            // Rows were added while this relay was reading: look again soon.
            *follow_ups = FOLLOW_UPS.len();
        }
        if *follow_ups > 0 {
            *follow_ups -= 1;
            self.pause(cancel, FOLLOW_UPS[*follow_ups]).await;
            return;
        }
        let listen = async {
            match wakeup.as_mut() {
                Some(w) => DB::woken(w).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = listen => if let Err(e) = r {
                tracing::warn!(error = %e, "outbox relay stopped listening; polling");
                *wakeup = None;
            },
            () = added => {
                *follow_ups = FOLLOW_UPS.len();
            }
            () = tokio::time::sleep(self.poll) => {}
            () = cancel.cancelled() => {}
        }
    }

    async fn pause(&self, cancel: &CancellationToken, wait: Duration) {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = cancel.cancelled() => {}
        }
    }

    fn backoff_for(&self, failures: u32) -> Duration {
        let (first, max) = self.backoff;
        edp_core::backoff::Backoff::new(first, max)
            .jitter(false)
            .cap(failures)
    }

    async fn purge(&self, keep: Duration) {
        let before = now_us().saturating_sub(i64::try_from(keep.as_micros()).unwrap_or(i64::MAX));
        if let Err(e) = DB::purge_published(&self.pool, before).await {
            tracing::warn!(error = %e, "outbox relay cannot delete old published rows");
        }
    }

    /// One pass over the outbox: publishes every row committed now, in id order, and
    /// settles them; returns how many it published.
    ///
    /// The work overlaps: while a batch is being published (one at a time, so order
    /// holds), the next one is read and the previous one settled. Within a pass the
    /// reads go on from the last id read; each pass starts from the lowest
    /// unpublished id again, so a row that commits late is found by the next pass
    /// rather than skipped.
    async fn publish_pass(&self) -> Result<u64, RelayError> {
        let limit = i64::try_from(self.batch).unwrap_or(i64::MAX);
        let mut batch = DB::fetch_unpublished(&self.pool, 0, limit)
            .await
            .map_err(RelayError::Database)?;
        if batch.len() >= self.batch {
            self.refresh_stats_now_and_then().await;
        }
        let mut settling: Vec<i64> = Vec::new();
        let mut total = 0;
        loop {
            if batch.is_empty() {
                self.settle(&settling).await?;
                return Ok(total);
            }
            let last = batch.last().map_or(0, |r| r.id);
            let more = batch.len() >= self.batch;
            let fetch = async {
                if more {
                    DB::fetch_unpublished(&self.pool, last, limit).await
                } else {
                    Ok(Vec::new())
                }
            };
            let ((done, published), fetched, settled) =
                tokio::join!(self.publish_rows(batch), fetch, self.settle(&settling));
            settled?;
            total += done.len() as u64;
            settling = done;
            if let Err(e) = published {
                self.settle(&settling).await?;
                return Err(e);
            }
            batch = match fetched {
                Ok(rows) => rows,
                Err(e) => {
                    self.settle(&settling).await?;
                    return Err(RelayError::Database(e));
                }
            };
        }
    }

    /// Refreshes the table's statistics when a pass meets a backlog, at most once a
    /// minute: a burst of rows must not be read with a plan made for an empty table.
    async fn refresh_stats_now_and_then(&self) {
        let now = self.started.elapsed().as_secs();
        let last = self.stats_refreshed.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < 60 {
            return;
        }
        self.stats_refreshed.store(now.max(1), Ordering::Relaxed);
        if let Err(e) = DB::refresh_stats(&self.pool).await {
            tracing::debug!(error = %e, "cannot refresh the outbox statistics");
        }
    }

    /// Marks or deletes published rows.
    async fn settle(&self, ids: &[i64]) -> Result<(), RelayError> {
        if ids.is_empty() {
            return Ok(());
        }
        let delete = self.retention == Retention::Delete;
        DB::settle_published(&self.pool, ids, now_us(), delete)
            .await
            .map_err(RelayError::Database)?;
        self.published
            .fetch_add(ids.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Publishes rows in order, a run of one topic per transport call; returns the ids
    /// published, and the error that stopped it if one did.
    async fn publish_rows(
        &self,
        rows: Vec<super::row::StoredRow>,
    ) -> (Vec<i64>, Result<(), RelayError>) {
        let mut done: Vec<i64> = Vec::with_capacity(rows.len());
        let mut run: Vec<Envelope> = Vec::new();
        let mut run_ids: Vec<i64> = Vec::new();
        let mut run_topic = String::new();
        for row in rows {
            let (id, topic) = (row.id, row.topic.clone());
            let env = match row.into_envelope() {
                Ok(env) => env,
                Err(reason) => {
                    // Left in place for an operator; the rows after it go on.
                    tracing::error!(row = id, %reason, "outbox row cannot be read; it stays unpublished");
                    continue;
                }
            };
            if topic != run_topic && !run.is_empty() {
                if let Err(e) = self
                    .publish_run(&run_topic, &mut run, &mut run_ids, &mut done)
                    .await
                {
                    return (done, Err(e));
                }
            }
            run_topic = topic;
            run.push(env);
            run_ids.push(id);
        }
        if !run.is_empty() {
            if let Err(e) = self
                .publish_run(&run_topic, &mut run, &mut run_ids, &mut done)
                .await
            {
                return (done, Err(e));
            }
        }
        (done, Ok(()))
    }

    async fn publish_run(
        &self,
        topic: &str,
        run: &mut Vec<Envelope>,
        run_ids: &mut Vec<i64>,
        done: &mut Vec<i64>,
    ) -> Result<(), RelayError> {
        let count = run.len();
        // Each row's trace goes on from where it was written; the spans end when
        // this returns.
        let _spans =
            edp_core::telemetry::publish_spans(self.transport.messaging_system(), topic, run);
        let sent = self.transport.publish(topic, std::mem::take(run)).await;
        sent.map_err(|source| RelayError::Publish {
            topic: topic.to_owned(),
            count,
            source,
        })?;
        done.append(run_ids);
        Ok(())
    }
}

/// The relay as an [`App`](edp_core::app) task named `outbox-relay:<name>`: it
/// publishes until stopped, then finishes its batch in flight. Database and broker
/// failures are retried inside with backoff, so the task itself does not fail.
impl<DB: Database, T: Transport> edp_core::app::Task for Relay<DB, T> {
    fn name(&self) -> std::borrow::Cow<'static, str> {
        format!("outbox-relay:{}", self.name).into()
    }

    async fn run(&mut self, stop: CancellationToken) -> Result<(), edp_core::error::BoxError> {
        self.relay_until(&stop).await;
        Ok(())
    }
}

/// A running [`Relay`].
#[derive(Debug)]
pub struct RelayHandle {
    cancel: CancellationToken,
    task: JoinHandle<()>,
    published: Arc<AtomicU64>,
}

impl RelayHandle {
    /// How many events this relay has published.
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// Stops the relay after the batch in flight (its rows are settled or stay
    /// unpublished, never half-settled).
    pub async fn shutdown(self) {
        self.cancel.cancel();
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "outbox relay task failed");
        }
    }
}
