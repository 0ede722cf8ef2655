//! The inbox on a running service: redeliveries apply their effects once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use edp_core::handler::Status;
use edp_core::transport::Transport;
use edp_core::transport::memory::MemoryTransport;
use edp_core::{Context, Envelope, Service, error::BoxError};
use edp_sql::inbox::{Inbox, InboxTx};

use crate::common::{Deposited, both};

/// Inserts `$ev` into `ledger` through the inbox transaction `$tx` (a macro: the
/// closures around it are compiled once per database).
macro_rules! insert_ledger {
    ($tx:ident, $ev:ident) => {
        sqlx::query("INSERT INTO ledger (account, cents) VALUES ($1, $2)")
            .bind(&$ev.account)
            .bind($ev.cents)
            .execute(&mut *$tx)
            .await?
    };
}

fn deposit_envelope(account: &str, cents: i64) -> Envelope {
    let data = serde_json::to_vec(&Deposited {
        account: account.into(),
        cents,
    })
    .unwrap_or_default();
    Envelope::builder("account.deposited", data)
        .subject(account)
        .build()
}

async fn await_outcomes(
    outcomes: &mut tokio::sync::broadcast::Receiver<edp_core::handler::Outcome>,
    n: usize,
) -> Result<Vec<Status>, BoxError> {
    let mut seen = Vec::new();
    while seen.len() < n {
        let o = tokio::time::timeout(Duration::from_secs(20), outcomes.recv()).await??;
        seen.push(o.status);
    }
    Ok(seen)
}

both!(
    the_same_event_delivered_three_times_is_applied_once,
    |pool| async move {
        let transport = MemoryTransport::new();
        let inbox = Inbox::new(pool.clone());
        let handler = inbox.handler(
            |_ctx: Context, mut tx: InboxTx<Db>, ev: Deposited| async move {
                insert_ledger!(tx, ev);
                tx.commit().await?;
                Ok::<_, BoxError>(())
            },
        );
        let mut service = Service::builder("ledger", transport.clone())
            .handler(handler)
            .build();
        let mut outcomes = service.observe();
        let running = service.start().await?;

        let env = deposit_envelope("a-1", 700);
        for _ in 0..3 {
            transport.publish("deposits", vec![env.clone()]).await?;
        }
        let statuses = await_outcomes(&mut outcomes, 3).await?;
        assert!(
            statuses.iter().all(|s| matches!(s, Status::Handled)),
            "{statuses:?}"
        );
        running.shutdown().await?;

        let rows: Vec<(String, i64)> = sqlx::query_as("SELECT account, cents FROM ledger")
            .fetch_all(&pool)
            .await?;
        assert_eq!(
            rows,
            vec![("a-1".to_owned(), 700)],
            "applied once, acknowledged three times"
        );
        assert!(inbox.contains("ledger", env.id).await?);
        Ok(())
    }
);

both!(
    a_failed_handler_leaves_no_record_and_its_retry_applies_the_effect,
    |pool| async move {
        let transport = MemoryTransport::new();
        let calls = Arc::new(AtomicU32::new(0));
        let seen = calls.clone();
        let handler = Inbox::new(pool.clone()).handler(
            move |_ctx: Context, mut tx: InboxTx<Db>, ev: Deposited| {
                let calls = seen.clone();
                async move {
                    insert_ledger!(tx, ev);
                    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        return Err::<(), BoxError>("the first attempt fails after writing".into());
                    }
                    tx.commit().await?;
                    Ok(())
                }
            },
        );
        let mut service = Service::builder("ledger", transport.clone())
            .handler(handler)
            .without_dead_letters() // a failure is redelivered
            .build();
        let mut outcomes = service.observe();
        let running = service.start().await?;
        transport
            .publish("deposits", vec![deposit_envelope("a-1", 5)])
            .await?;
        let mut statuses = Vec::new();
        while !statuses.iter().any(|s| matches!(s, Status::Handled)) {
            statuses.extend(await_outcomes(&mut outcomes, 1).await?);
        }
        running.shutdown().await?;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM ledger")
            .fetch_one(&pool)
            .await?;
        assert_eq!(
            n, 1,
            "the failed attempt's write was rolled back with its inbox record"
        );
        Ok(())
    }
);

both!(
    returning_ok_without_commit_is_an_error_not_a_silent_loss,
    |pool| async move {
        let transport = MemoryTransport::new();
        let handler = Inbox::new(pool.clone()).handler(
            |_ctx: Context, mut tx: InboxTx<Db>, ev: Deposited| async move {
                insert_ledger!(tx, ev);
                Ok::<_, BoxError>(()) // forgot tx.commit()
            },
        );
        let mut service = Service::builder("ledger", transport.clone())
            .handler(handler)
            .build();
        let mut outcomes = service.observe();
        let running = service.start().await?;
        let env = deposit_envelope("a-1", 5);
        transport.publish("deposits", vec![env.clone()]).await?;
        let statuses = await_outcomes(&mut outcomes, 1).await?;
        running.shutdown().await?;
        assert!(
            matches!(&statuses[..], [Status::DeadLettered { error }] if error.contains("without committing")),
            "{statuses:?}"
        );
        let dead = transport.retained("deposits.dlq");
        assert_eq!(dead.len(), 1);
        let reason = dead[0]
            .headers
            .get(edp_core::event::headers::DLQ_ERROR)
            .unwrap_or_default();
        assert!(reason.contains("without committing"), "{reason}");
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM ledger")
            .fetch_one(&pool)
            .await?;
        assert_eq!(n, 0);
        Ok(())
    }
);
