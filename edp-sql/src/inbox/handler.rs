//! The handler adapter: record in the inbox, then call the handler with the open
//! transaction.

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use edp_core::codec::Codec;
use edp_core::error::{BoxError, find, unavailable};
use edp_core::{Context, Handler};
use futures_util::future::BoxFuture;
use sqlx::{Pool, Transaction};

use crate::outbox::row::now_us;
use crate::transaction::InTransaction;
use crate::{Database, is_unavailable};

/// The open transaction an inbox handler writes through. It holds the inbox record
/// of the event being handled; [`commit`](Self::commit) it to apply the effects and
/// the record together. Dropping it uncommitted rolls both back.
///
/// It dereferences to the database connection, so queries run on it as on a
/// [`sqlx::Transaction`]: `query.execute(&mut *tx)`.
pub struct InboxTx<DB: Database> {
    tx: Transaction<'static, DB>,
    committed: Arc<AtomicBool>,
}

impl<DB: Database> std::fmt::Debug for InboxTx<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboxTx").finish_non_exhaustive()
    }
}

impl<DB: Database> InboxTx<DB> {
    /// Commits the handler's writes and the inbox record.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await?;
        self.committed.store(true, Ordering::Release);
        Ok(())
    }

    /// Rolls everything back; the event is not recorded as applied.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }

    /// The transaction itself.
    pub fn transaction(&mut self) -> &mut Transaction<'static, DB> {
        &mut self.tx
    }
}

impl<DB: Database> Deref for InboxTx<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        &self.tx
    }
}

impl<DB: Database> DerefMut for InboxTx<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }
}

impl<DB: Database> InTransaction for InboxTx<DB> {
    type Database = DB;

    fn connection(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }
}

/// An inbox handler returned `Ok` without committing its [`InboxTx`]: its writes
/// were rolled back, so the event is retried rather than acknowledged.
///
/// Handling: a bug in the handler; call `tx.commit().await?` before returning `Ok`.
#[derive(Debug, thiserror::Error)]
#[error(
    "inbox handler for `{event_type}` returned Ok without committing its InboxTx; call tx.commit().await? before returning"
)]
pub struct NotCommitted {
    /// The event type being handled.
    pub event_type: String,
}

/// A handler wrapped by [`Inbox::handler`](super::Inbox::handler).
#[derive(Debug)]
pub struct InboxHandler<DB: Database, F> {
    pool: Pool<DB>,
    handler: F,
}

impl<DB: Database, F: Clone> Clone for InboxHandler<DB, F> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            handler: self.handler.clone(),
        }
    }
}

impl<DB: Database, F> InboxHandler<DB, F> {
    pub(super) fn new(pool: Pool<DB>, handler: F) -> Self {
        Self { pool, handler }
    }
}

impl<DB, F, Fut, E, C, Err> Handler<E, C> for InboxHandler<DB, F>
where
    DB: Database,
    F: Fn(Context<C>, InboxTx<DB>, E) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Err>> + Send + 'static,
    Err: Into<BoxError> + 'static,
    E: Send + 'static,
    C: Codec,
{
    type Future = BoxFuture<'static, Result<(), BoxError>>;

    fn call(&self, ctx: Context<C>, event: E) -> Self::Future {
        let pool = self.pool.clone();
        let handler = self.handler.clone();
        Box::pin(once(pool, ctx, move |ctx, tx| handler(ctx, tx, event)))
    }
}

/// A stateful handler wrapped by [`Inbox::handler_with`](super::Inbox::handler_with).
#[derive(Debug)]
pub struct InboxStateHandler<DB: Database, S, F> {
    pool: Pool<DB>,
    state: S,
    handler: F,
}

impl<DB: Database, S: Clone, F: Clone> Clone for InboxStateHandler<DB, S, F> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            state: self.state.clone(),
            handler: self.handler.clone(),
        }
    }
}

impl<DB: Database, S, F> InboxStateHandler<DB, S, F> {
    pub(super) fn new(pool: Pool<DB>, state: S, handler: F) -> Self {
        Self {
            pool,
            state,
            handler,
        }
    }
}

impl<DB, S, F, Fut, E, C, Err> Handler<E, C> for InboxStateHandler<DB, S, F>
where
    DB: Database,
    S: Clone + Send + Sync + 'static,
    F: Fn(S, Context<C>, InboxTx<DB>, E) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Err>> + Send + 'static,
    Err: Into<BoxError> + 'static,
    E: Send + 'static,
    C: Codec,
{
    type Future = BoxFuture<'static, Result<(), BoxError>>;

    fn call(&self, ctx: Context<C>, event: E) -> Self::Future {
        let pool = self.pool.clone();
        let handler = self.handler.clone();
        let state = self.state.clone();
        Box::pin(once(pool, ctx, move |ctx, tx| {
            handler(state, ctx, tx, event)
        }))
    }
}

/// A database error as the service should see it: [`Unavailable`](edp_core::error::Unavailable)
/// (redeliver) when the database is down, as is otherwise.
fn classify(e: sqlx::Error) -> BoxError {
    if is_unavailable(&e) {
        unavailable(e)
    } else {
        Box::new(e)
    }
}

/// Records the event in the inbox, then runs `call` unless it was recorded before.
/// Database outages, in the inbox or in the handler's own queries, come out as
/// [`Unavailable`](edp_core::error::Unavailable), so the event is redelivered.
async fn once<DB, C, Fut, Err>(
    pool: Pool<DB>,
    ctx: Context<C>,
    call: impl FnOnce(Context<C>, InboxTx<DB>) -> Fut,
) -> Result<(), BoxError>
where
    DB: Database,
    C: Codec,
    Fut: Future<Output = Result<(), Err>>,
    Err: Into<BoxError> + 'static,
{
    let group = match ctx.message().group.as_ref() {
        "" => "default".to_owned(),
        g => g.to_owned(),
    };
    let id = ctx.id();
    let mut tx = pool.begin().await.map_err(classify)?;
    if !DB::inbox_claim(&mut tx, &group, id, now_us())
        .await
        .map_err(classify)?
    {
        tracing::debug!(event = %id, %group, "event applied already; acknowledged without effects");
        return Ok(());
    }
    let committed = Arc::new(AtomicBool::new(false));
    let event_type = ctx.envelope().event_type.to_string();
    call(
        ctx,
        InboxTx {
            tx,
            committed: committed.clone(),
        },
    )
    .await
    .map_err(|e| {
        let e: BoxError = e.into();
        if find::<sqlx::Error>(&*e).is_some_and(is_unavailable) {
            unavailable(e)
        } else {
            e
        }
    })?;
    if committed.load(Ordering::Acquire) {
        Ok(())
    } else {
        Err(Box::new(NotCommitted { event_type }))
    }
}
