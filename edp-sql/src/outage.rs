//! Telling a database that is down from a query that is wrong.

/// Whether `err` means the database is unavailable for now (unreachable, restarting,
/// out of connections, busy), as opposed to a query or data error that would fail
/// again. The inbox handler turns such errors into
/// [`edp_core::error::Unavailable`], so the event is redelivered, not dead-lettered.
///
/// ```
/// assert!(edp_sql::is_unavailable(&sqlx::Error::PoolTimedOut));
/// assert!(!edp_sql::is_unavailable(&sqlx::Error::RowNotFound));
/// ```
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // PostgreSQL: connection exceptions (08), shutdown or recovery (57P01-03),
            // too many connections (53300). SQLite: busy (5), locked (6).
            code.starts_with("08")
                || matches!(
                    code.as_ref(),
                    "57P01" | "57P02" | "57P03" | "53300" | "5" | "6"
                )
        }),
        _ => false,
    }
}
