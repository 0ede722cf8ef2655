//! The databases the outbox and inbox live in, and what each must do for them.

use std::future::Future;

use sqlx::Pool;
use sqlx::migrate::Migrator;
use uuid::Uuid;

use crate::outbox::row::{NewRow, StoredRow};

mod sealed {
    pub trait Sealed {}
}

/// A database the outbox and inbox can live in: [`sqlx::Postgres`] (feature
/// `postgres`) or [`sqlx::Sqlite`] (feature `sqlite`).
///
/// Its methods are the SQL of each backend; they are not part of the public API.
/// Call [`migrate`](crate::migrate) once at start-up to create the tables.
pub trait Database: sqlx::Database + sealed::Sealed {
    /// A relay's hold on the right to publish: at most one relay publishes from a
    /// database at a time, so per-key order holds with several instances running.
    #[doc(hidden)]
    type Leadership: Send + 'static;

    /// Wakes a relay when rows are committed (PostgreSQL's LISTEN); `()` where the
    /// relay polls.
    #[doc(hidden)]
    type Wakeup: Send + 'static;

    #[doc(hidden)]
    fn migrator() -> Migrator;

    #[doc(hidden)]
    fn insert_outbox<'c>(
        conn: &'c mut Self::Connection,
        row: &'c NewRow<'c>,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'c;

    /// Up to `limit` committed, unpublished rows with ids above `after`, in id order.
    #[doc(hidden)]
    fn fetch_unpublished(
        pool: &Pool<Self>,
        after: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<StoredRow>, sqlx::Error>> + Send;

    /// Refreshes the planner's statistics of the outbox table, so that a sudden
    /// backlog is read through the index in order (not scanned and sorted whole).
    #[doc(hidden)]
    fn refresh_stats(pool: &Pool<Self>) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// Marks rows as published at `now_us`, or deletes them when `delete`.
    #[doc(hidden)]
    fn settle_published(
        pool: &Pool<Self>,
        ids: &[i64],
        now_us: i64,
        delete: bool,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    #[doc(hidden)]
    fn purge_published(
        pool: &Pool<Self>,
        before_us: i64,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;

    /// (unpublished rows, `created_us` of the oldest one).
    #[doc(hidden)]
    fn backlog(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<(i64, Option<i64>), sqlx::Error>> + Send;

    #[doc(hidden)]
    fn try_lead(
        pool: &Pool<Self>,
        owner: &str,
        lease_us: i64,
    ) -> impl Future<Output = Result<Option<Self::Leadership>, sqlx::Error>> + Send;

    /// Whether `leadership` still holds (renewing it where it is a lease).
    #[doc(hidden)]
    fn still_leading(
        pool: &Pool<Self>,
        leadership: &mut Self::Leadership,
        lease_us: i64,
    ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send;

    /// Gives leadership up at a graceful stop, so that a standby takes over at once.
    #[doc(hidden)]
    fn release(
        pool: &Pool<Self>,
        leadership: Self::Leadership,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    #[doc(hidden)]
    fn listen(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Option<Self::Wakeup>, sqlx::Error>> + Send;

    /// Returns when rows may have been committed (or the listener failed).
    #[doc(hidden)]
    fn woken(wakeup: &mut Self::Wakeup) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// Records `(group, event_id)`; `false` when it was recorded already.
    #[doc(hidden)]
    fn inbox_claim<'c>(
        conn: &'c mut Self::Connection,
        group: &'c str,
        event_id: Uuid,
        now_us: i64,
    ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send + 'c;

    #[doc(hidden)]
    fn inbox_contains<'c>(
        conn: &'c mut Self::Connection,
        group: &'c str,
        event_id: Uuid,
    ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send + 'c;

    #[doc(hidden)]
    fn inbox_purge(
        pool: &Pool<Self>,
        before_us: i64,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;
}

/// The migrations of one backend, recorded in `_edp_migrations` so that they never
/// mix with the application's own `_sqlx_migrations`.
pub(crate) fn migrator(migrations: &[(i64, &'static str, &'static str)]) -> Migrator {
    use sqlx::SqlSafeStr;
    use sqlx::migrate::{Migration, MigrationType};
    let mut migrator = Migrator::with_migrations(
        migrations
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    std::borrow::Cow::Borrowed(*description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    );
    migrator.dangerous_set_table_name("_edp_migrations");
    migrator
}

#[cfg(feature = "postgres")]
impl sealed::Sealed for sqlx::Postgres {}
#[cfg(feature = "sqlite")]
impl sealed::Sealed for sqlx::Sqlite {}
