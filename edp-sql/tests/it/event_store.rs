//! The event store on SQLite and PostgreSQL: optimistic concurrency, events and outbox
//! rows in one transaction, snapshots, upcasters, and projections that see every
//! committed event exactly once, resume from their checkpoint and match a rebuild.

use std::time::Duration;

use edp_core::Event;
use edp_core::error::BoxError;
use edp_core::event_sourcing::{
    Aggregate, EventSet, EventStore, ExpectedVersion, Metadata, Projector, Recorded, Repository,
    Snapshot, StreamId, Upcasters,
};
use edp_sql::event_store::{Checkpointed, SqlEventStore, SqlProjection};
use edp_sql::outbox::Outbox;
use serde::{Deserialize, Serialize};
use sqlx::Transaction;

use crate::common::{Deposited, TestResult, both, deposit};

#[derive(Debug, Clone, PartialEq, EventSet)]
pub(crate) enum AccountEvent {
    Deposited(Deposited),
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Account {
    balance: i64,
    deposits: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("a deposit must be positive")]
pub(crate) struct NotPositive;

impl Aggregate for Account {
    const KIND: &'static str = "account";
    type Command = Deposited;
    type Event = AccountEvent;
    type Error = NotPositive;

    fn handle(&self, command: Deposited) -> Result<Vec<AccountEvent>, NotPositive> {
        if command.cents <= 0 {
            return Err(NotPositive);
        }
        Ok(vec![command.into()])
    }

    fn apply(&mut self, event: &AccountEvent) {
        let AccountEvent::Deposited(d) = event;
        self.balance += d.cents;
        self.deposits += 1;
    }
}

fn stream(id: &str) -> StreamId {
    StreamId::new(Account::KIND, id)
}

fn events(account: &str, n: usize) -> Vec<AccountEvent> {
    (0..n)
        .map(|i| deposit(account, i as i64 + 1).into())
        .collect()
}

both!(
    two_appends_at_one_version_exactly_one_wins,
    |pool| async move {
        let store = SqlEventStore::new(pool.clone());
        let meta = Metadata::default();
        let s = stream("a-1");
        assert_eq!(
            store
                .append(&s, ExpectedVersion::NoStream, &events("a-1", 1), &meta)
                .await?,
            1
        );
        let mut racers = Vec::new();
        for _ in 0..8 {
            let store = store.clone();
            let s = s.clone();
            racers.push(tokio::spawn(async move {
                store
                    .append(
                        &s,
                        ExpectedVersion::Exact(1),
                        &events("a-1", 2),
                        &Metadata::default(),
                    )
                    .await
            }));
        }
        let (mut won, mut conflicts) = (0, 0);
        for r in racers {
            match r.await? {
                Ok(v) => {
                    assert_eq!(v, 3);
                    won += 1;
                }
                Err(e) if e.is_conflict() => conflicts += 1,
                Err(e) => return Err(e.into()),
            }
        }
        assert_eq!((won, conflicts), (1, 7));
        // A gap (expecting a version the stream has not reached) is a conflict too.
        let gap = store
            .append(&s, ExpectedVersion::Exact(7), &events("a-1", 1), &meta)
            .await;
        assert!(gap.unwrap_err().is_conflict());
        let again = store
            .append(&s, ExpectedVersion::NoStream, &events("a-1", 1), &meta)
            .await;
        assert!(again.unwrap_err().is_conflict());
        let stored = store.read_stream(&s, 0).await?;
        assert_eq!(
            stored.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(
            store
                .append(&s, ExpectedVersion::Any, &events("a-1", 1), &meta)
                .await?,
            4
        );
        Ok(())
    }
);

both!(
    events_and_their_outbox_rows_commit_together,
    |pool| async move {
        let store = SqlEventStore::new(pool.clone()).with_outbox(Outbox::new("bank"));
        let accounts = Repository::<Account, _>::new(store.clone());
        let meta = Metadata {
            correlation_id: Some("flow-1".into()),
            causation_id: None,
        };
        let done = accounts
            .execute_with("a-1", deposit("a-1", 5), &meta)
            .await?;
        assert_eq!((done.version, done.state.balance), (1, 5));
        let refused = accounts.execute("a-1", deposit("a-1", -1)).await;
        assert!(matches!(
            refused,
            Err(edp_core::event_sourcing::CommandError::Rejected(
                NotPositive
            ))
        ));
        // A conflicting append writes no outbox row.
        let lost = store
            .append(
                &stream("a-1"),
                ExpectedVersion::NoStream,
                &events("a-1", 1),
                &meta,
            )
            .await;
        assert!(lost.unwrap_err().is_conflict());

        let stored = store.read_stream(&stream("a-1"), 0).await?;
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].metadata, meta);
        let rows: Vec<(uuid::Uuid, String)> =
            sqlx::query_as("SELECT event_id, topic FROM edp_outbox")
                .fetch_all(&pool)
                .await?;
        assert_eq!(rows, [(stored[0].event_id, Deposited::TOPIC.to_owned())]);
        Ok(())
    }
);

both!(
    snapshots_are_used_and_a_stale_one_is_skipped,
    |pool| async move {
        let store = SqlEventStore::new(pool.clone());
        let accounts = Repository::<Account, _>::new(store.clone()).snapshot_every(10);
        for i in 1..=25 {
            accounts.execute("a-1", deposit("a-1", i)).await?;
        }
        let snapshot = store
            .load_snapshot(&stream("a-1"))
            .await?
            .expect("a snapshot at 20");
        assert_eq!(snapshot.stream_version, 20);
        let loaded = accounts.load("a-1").await?;
        assert_eq!(
            (loaded.version, loaded.state.balance, loaded.state.deposits),
            (25, 325, 25)
        );

        // The snapshot is what load reads: a doctored one shows through...
        store
            .save_snapshot(
                &stream("a-1"),
                Snapshot {
                    stream_version: 21,
                    schema: 1,
                    data: br#"{"balance":0,"deposits":0}"#.to_vec(),
                },
            )
            .await?;
        assert_eq!(accounts.load("a-1").await?.state.deposits, 4);
        // ...and one of another shape, or that does not decode, is skipped.
        for (schema, data) in [
            (2, &br#"{"balance":0,"deposits":0}"#[..]),
            (1, &br#"{"nope":true}"#[..]),
        ] {
            store
                .save_snapshot(
                    &stream("a-1"),
                    Snapshot {
                        stream_version: 22 + u64::from(schema),
                        schema,
                        data: data.to_vec(),
                    },
                )
                .await?;
            let loaded = accounts.load("a-1").await?;
            assert_eq!((loaded.version, loaded.state.balance), (25, 325));
        }
        Ok(())
    }
);

/// Version 1 of an event, as an older release stored it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "account.credited", version = 1, topic = "credits", key = account)]
pub(crate) struct CreditedV1 {
    account: String,
    amount: f64,
}

/// Version 2: cents and a currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "account.credited", version = 2, topic = "credits", key = account)]
pub(crate) struct Credited {
    account: String,
    cents: i64,
    currency: String,
}

#[derive(Debug, Clone, PartialEq, EventSet)]
pub(crate) enum OldEvents {
    Credited(CreditedV1),
}

#[derive(Debug, Clone, PartialEq, EventSet)]
pub(crate) enum NewEvents {
    Credited(Credited),
}

both!(v1_events_are_read_back_as_v2, |pool| async move {
    let store = SqlEventStore::new(pool.clone());
    let s = stream("a-1");
    let old = [OldEvents::from(CreditedV1 {
        account: "a-1".into(),
        amount: 12.34,
    })];
    store
        .append(&s, ExpectedVersion::Any, &old, &Metadata::default())
        .await?;
    let new = [NewEvents::from(Credited {
        account: "a-1".into(),
        cents: 5,
        currency: "USD".into(),
    })];
    store
        .append(&s, ExpectedVersion::Any, &new, &Metadata::default())
        .await?;

    let upcasters = Upcasters::new().upcast(|v1: CreditedV1| Credited {
        account: v1.account,
        cents: (v1.amount * 100.0).round() as i64,
        currency: "EUR".into(),
    });
    let read = store
        .read_stream(&s, 0)
        .await?
        .into_iter()
        .map(|e| upcasters.decode_set::<NewEvents>(&e.name, e.version, &e.data))
        .collect::<Result<Vec<_>, _>>()?;
    assert_eq!(
        read,
        [
            NewEvents::from(Credited {
                account: "a-1".into(),
                cents: 1234,
                currency: "EUR".into()
            }),
            new[0].clone(),
        ]
    );
    // Without the upcaster, the v1 event is an error that says what to add.
    let first = store.read_stream(&s, 0).await?.remove(0);
    let err = Upcasters::new().decode_set::<NewEvents>(&first.name, first.version, &first.data);
    assert!(err.unwrap_err().to_string().contains("Upcasters::upcast"));
    Ok(())
});

/// A read model: per account, the events seen, their sum and the last version; and
/// every event id seen, in `seen` (no unique constraint, so a repeat would show).
pub(crate) struct Totals;

macro_rules! totals_projection {
    ($db:ty) => {
        impl SqlProjection<$db> for Totals {
            type Event = AccountEvent;

            fn name(&self) -> &str {
                "totals"
            }

            async fn apply(
                &self,
                tx: &mut Transaction<'static, $db>,
                event: &Recorded<AccountEvent>,
            ) -> Result<(), BoxError> {
                let AccountEvent::Deposited(d) = &event.event;
                sqlx::query(
                    "INSERT INTO totals (account, events, cents, last_version) VALUES ($1, 1, $2, $3) \
                     ON CONFLICT (account) DO UPDATE SET events = totals.events + 1, \
                     cents = totals.cents + excluded.cents, last_version = excluded.last_version",
                )
                .bind(&event.stream.id)
                .bind(d.cents)
                .bind(event.stream_version as i64)
                .execute(&mut **tx)
                .await?;
                sqlx::query("INSERT INTO seen (event_id) VALUES ($1)")
                    .bind(event.event_id)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            async fn reset(&self, tx: &mut Transaction<'static, $db>) -> Result<(), BoxError> {
                sqlx::query("DELETE FROM totals").execute(&mut **tx).await?;
                sqlx::query("DELETE FROM seen").execute(&mut **tx).await?;
                Ok(())
            }
        }
    };
}
totals_projection!(sqlx::Sqlite);
totals_projection!(sqlx::Postgres);

const READ_MODEL: [&str; 2] = [
    "CREATE TABLE totals (account TEXT PRIMARY KEY, events BIGINT NOT NULL, cents BIGINT NOT NULL, last_version BIGINT NOT NULL)",
    "CREATE TABLE seen (event_id UUID NOT NULL)",
];

const WRITERS: usize = 100;
const STREAMS: usize = 10;
const APPENDS: usize = 10;

both!(
    hundred_writers_on_ten_streams_lose_nothing_and_the_projection_sees_each_event_once,
    |pool| async move {
        for ddl in READ_MODEL {
            sqlx::query(ddl).execute(&pool).await?;
        }
        let store = SqlEventStore::new(pool.clone());
        // Two runners of one projection, as two replicas would run it.
        let projectors = [0, 1].map(|_| {
            Projector::new(store.clone(), Checkpointed::new(pool.clone(), Totals))
                .batch(50)
                .poll_interval(Duration::from_millis(5))
                .start()
        });
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let store = store.clone();
            let pool = pool.clone();
            writers.push(tokio::spawn(async move {
                let account = format!("a-{}", w % STREAMS);
                let mut seed = 0x9E37_79B9_7F4A_7C15_u64 ^ (w as u64 + 1);
                for i in 0..APPENDS {
                    loop {
                        // Hold the transaction open a while, so commits land late and out
                        // of order.
                        let mut tx = pool.begin().await?;
                        let appended = store
                            .append_in(
                                &mut tx,
                                &stream(&account),
                                ExpectedVersion::Any,
                                &[AccountEvent::from(deposit(&account, (w * 100 + i) as i64))],
                                &Metadata::default(),
                            )
                            .await;
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        tokio::time::sleep(Duration::from_micros(seed % 3000)).await;
                        match appended {
                            Ok(_) => match tx.commit().await {
                                Ok(()) => break,
                                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                                    continue;
                                }
                                Err(e) => return Err(BoxError::from(e)),
                            },
                            Err(e) if e.is_conflict() => continue,
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
                Ok::<_, BoxError>(())
            }));
        }
        for w in writers {
            w.await??;
        }
        let total = (WRITERS * APPENDS) as i64;
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM edp_events")
            .fetch_one(&pool)
            .await?;
        assert_eq!(stored, total, "every committed append is stored");

        let [first, second] = projectors;
        second.shutdown().await?;
        let mut projector = first.shutdown().await?;
        projector.catch_up().await?;
        let (seen, distinct): (i64, i64) =
            sqlx::query_as("SELECT count(*), count(DISTINCT event_id) FROM seen")
                .fetch_one(&pool)
                .await?;
        assert_eq!(
            (seen, distinct),
            (total, total),
            "each committed event seen exactly once"
        );
        let versions: Vec<(String, i64, i64)> =
            sqlx::query_as("SELECT account, events, last_version FROM totals ORDER BY account")
                .fetch_all(&pool)
                .await?;
        assert_eq!(versions.len(), STREAMS);
        for (account, events, last) in versions {
            assert_eq!(
                (events, last),
                (
                    (WRITERS / STREAMS * APPENDS) as i64,
                    (WRITERS / STREAMS * APPENDS) as i64
                ),
                "{account}"
            );
        }
        Ok(())
    }
);

both!(
    a_projection_killed_mid_catch_up_resumes_and_ends_as_a_rebuild,
    |pool| async move {
        for ddl in READ_MODEL {
            sqlx::query(ddl).execute(&pool).await?;
        }
        let store = SqlEventStore::new(pool.clone());
        for s in 0..20 {
            let account = format!("a-{s}");
            for chunk in 0..5 {
                let evs = events(&account, 20);
                store
                    .append(
                        &stream(&account),
                        ExpectedVersion::Exact(chunk * 20),
                        &evs,
                        &Metadata::default(),
                    )
                    .await?;
            }
        }
        // Kill the projector in the middle of its catch-up, many times over.
        let mut kills = 0;
        for round in 0..20u64 {
            let mut projector =
                Projector::new(store.clone(), Checkpointed::new(pool.clone(), Totals)).batch(7);
            let task = tokio::spawn(async move { projector.catch_up().await });
            tokio::time::sleep(Duration::from_micros(500 + round * 300)).await;
            if !task.is_finished() {
                kills += 1;
            }
            task.abort();
            let _ = task.await;
        }
        assert!(kills > 0, "no projector was killed mid-catch-up");
        let mut projector =
            Projector::new(store.clone(), Checkpointed::new(pool.clone(), Totals)).batch(7);
        projector.catch_up().await?;
        let totals = |pool| async move {
            sqlx::query_as::<_, (String, i64, i64, i64)>(
                "SELECT account, events, cents, last_version FROM totals ORDER BY account",
            )
            .fetch_all(pool)
            .await
        };
        let resumed = totals(&pool).await?;
        assert_eq!(resumed.len(), 20);
        for (account, events, cents, last) in &resumed {
            // 5 chunks of deposits 1..=20 each.
            assert_eq!((*events, *cents, *last), (100, 5 * 210, 100), "{account}");
        }
        assert_eq!(projector.rebuild().await?, 2000);
        assert_eq!(totals(&pool).await?, resumed);
        let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM seen")
            .fetch_one(&pool)
            .await?;
        assert_eq!(seen, 2000);
        Ok(())
    }
);
