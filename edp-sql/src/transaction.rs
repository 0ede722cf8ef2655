//! What the outbox writes into: an open transaction of a supported database.

use crate::Database;

/// An open database transaction: [`sqlx::Transaction`], or the
/// [`InboxTx`](crate::inbox::InboxTx) an inbox handler gets. The outbox writes its
/// rows through it, so they commit or roll back with the caller's own writes.
pub trait InTransaction: Send {
    /// The database it runs on.
    type Database: Database;

    /// The connection the transaction runs on.
    fn connection(&mut self) -> &mut <Self::Database as sqlx::Database>::Connection;
}

impl<DB: Database> InTransaction for sqlx::Transaction<'_, DB> {
    type Database = DB;

    fn connection(&mut self) -> &mut DB::Connection {
        self
    }
}
