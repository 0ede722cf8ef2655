//! The event store on PostgreSQL against plain SQL, same run, same database.
//!
//! **Append.** Each transaction appends `K` events to one stream of its client (an
//! account per client, so no conflicts), at the expected version:
//!
//! - edp: `SqlEventStore::append(&stream, Exact(v), &events, &metadata)`: JSON
//!   encoding, the version check, one `INSERT .. SELECT .. FROM UNNEST(..)`, commit;
//! - plain: `BEGIN`; `K` plain `INSERT`s of the same rows (same columns, the same
//!   JSON by `serde_json`) into `plain_events`, a copy of `edp_events` with the same
//!   indexes and defaults; `COMMIT`.
//!
//! Run for K = 1 and K = 10. Each side runs for a fixed time per round, alternating
//! which goes first, after an untimed warm-up; reported as ratios, since absolute
//! rates drift on shared machines.
//!
//! **Load.** An aggregate of 10,000 events, loaded with `Repository::load` from the
//! events alone and from a snapshot taken at 10,000 (the same state). Reported as
//! milliseconds per load and their ratio.
//!
//! The PostgreSQL is the edp-sql testkit's throwaway cluster (`fsync=off`), or the
//! server at `DATABASE_URL`.
//!
//! Run: `cargo bench -p edp-sql --bench event_store`. Options: `--clients C` (8),
//! `--secs S` (per side and round, 3), `--rounds R` (5), `--loads L` (20).
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{arg, median};
use edp_core::Event;
use edp_core::event_sourcing::{
    Aggregate, EventSet, EventStore, ExpectedVersion, Metadata, Repository, StreamId,
};
use edp_sql::event_store::SqlEventStore;
use edp_sql::testkit::Postgres;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// About 150 bytes of JSON.
#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "account.deposited", version = 1, topic = "accounts", key = account)]
struct Deposited {
    account: String,
    cents: i64,
    currency: String,
    reference: String,
    channel: String,
}

#[derive(Debug, Clone, EventSet)]
enum AccountEvent {
    Deposited(Deposited),
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Account {
    balance: i64,
    deposits: u64,
}

impl Aggregate for Account {
    const KIND: &'static str = "account";
    type Command = ();
    type Event = AccountEvent;
    type Error = std::convert::Infallible;

    fn handle(&self, (): ()) -> Result<Vec<AccountEvent>, Self::Error> {
        Ok(Vec::new())
    }

    fn apply(&mut self, event: &AccountEvent) {
        let AccountEvent::Deposited(d) = event;
        self.balance += d.cents;
        self.deposits += 1;
    }
}

fn deposit(account: &str, n: u64) -> AccountEvent {
    AccountEvent::Deposited(Deposited {
        account: account.to_owned(),
        cents: 100 + (n % 1000) as i64,
        currency: "EUR".into(),
        reference: format!("transfer {n:08} from the savings account"),
        channel: "mobile".into(),
    })
}

const PLAIN: &str = "INSERT INTO plain_events (stream_kind, stream_id, stream_version, event_id, \
     event_type, event_version, data, metadata, recorded_us) \
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9)";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Side {
    Edp,
    Plain,
}

fn micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// Runs `clients` tasks appending `k` events a transaction for `secs`; events/s.
async fn run(pool: &PgPool, side: Side, clients: u64, k: u64, secs: f64, tag: &str) -> f64 {
    let store = SqlEventStore::new(pool.clone());
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..clients {
        let (pool, store) = (pool.clone(), store.clone());
        let account = format!("{tag}-{client}");
        tasks.spawn(async move {
            let stream = StreamId::new("account", account.clone());
            let mut version = 0u64;
            while Instant::now() < deadline {
                let events: Vec<AccountEvent> =
                    (0..k).map(|i| deposit(&account, version + i)).collect();
                match side {
                    Side::Edp => {
                        version = store
                            .append(
                                &stream,
                                ExpectedVersion::Exact(version),
                                &events,
                                &Metadata::default(),
                            )
                            .await
                            .unwrap();
                    }
                    Side::Plain => {
                        let mut tx = pool.begin().await.unwrap();
                        for event in &events {
                            version += 1;
                            let AccountEvent::Deposited(d) = event;
                            sqlx::query(PLAIN)
                                .bind("account")
                                .bind(&account)
                                .bind(version as i64)
                                .bind(edp_core::event::new_id())
                                .bind(Deposited::NAME)
                                .bind(Deposited::VERSION as i32)
                                .bind(serde_json::to_string(d).unwrap())
                                .bind(None::<&str>)
                                .bind(micros())
                                .execute(&mut *tx)
                                .await
                                .unwrap();
                        }
                        tx.commit().await.unwrap();
                    }
                }
            }
            version
        });
    }
    let mut total = 0;
    while let Some(n) = tasks.join_next().await {
        total += n.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let clients = arg("--clients", 8);
    let secs = arg("--secs", 3) as f64;
    let rounds = arg("--rounds", 5);
    let loads = arg("--loads", 20);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let postgres = Postgres::shared().expect("a PostgreSQL");
    let db = rt.block_on(postgres.database()).unwrap();
    let pool = rt.block_on(async {
        edp_sql::migrate(db.pool()).await.unwrap();
        sqlx::query("CREATE TABLE plain_events (LIKE edp_events INCLUDING ALL)")
            .execute(db.pool())
            .await
            .unwrap();
        PgPoolOptions::new()
            .max_connections(clients as u32)
            .min_connections(clients as u32)
            .connect_with(db.options())
            .await
            .unwrap()
    });
    println!(
        "{clients} clients, {secs} s per side and round, {rounds} rounds; PostgreSQL testkit \
         cluster (fsync=off) unless DATABASE_URL"
    );
    let mut tag = 0u64;
    let mut next_tag = |side: &str| {
        tag += 1;
        format!("{side}{tag}")
    };
    for k in [1u64, 10] {
        rt.block_on(async {
            run(&pool, Side::Edp, clients, k, 1.0, &next_tag("we")).await;
            run(&pool, Side::Plain, clients, k, 1.0, &next_tag("wp")).await;
        });
        let (mut plains, mut edps, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for round in 1..=rounds {
            let plain_first = round % 2 == 1;
            let (e, p) = (next_tag("e"), next_tag("p"));
            let (plain, edp) = rt.block_on(async {
                if plain_first {
                    let plain = run(&pool, Side::Plain, clients, k, secs, &p).await;
                    (plain, run(&pool, Side::Edp, clients, k, secs, &e).await)
                } else {
                    let edp = run(&pool, Side::Edp, clients, k, secs, &e).await;
                    (run(&pool, Side::Plain, clients, k, secs, &p).await, edp)
                }
            });
            println!(
                "append K={k:<2} round {round}: plain {plain:>7.0} events/s  edp {edp:>7.0} events/s  edp/plain {:.2}x",
                edp / plain
            );
            plains.push(plain);
            edps.push(edp);
            ratios.push(edp / plain);
        }
        println!(
            "append K={k:<2} median: plain {:>7.0} events/s  edp {:>7.0} events/s  edp/plain {:.2}x",
            median(plains),
            median(edps),
            median(ratios)
        );
    }

    // Load: 10,000 events, with and without a snapshot.
    let (without, with) = rt.block_on(async {
        let store = SqlEventStore::new(pool.clone());
        let stream = StreamId::new("account", "big");
        for chunk in 0..100u64 {
            let events: Vec<AccountEvent> =
                (0..100).map(|i| deposit("big", chunk * 100 + i)).collect();
            store
                .append(
                    &stream,
                    ExpectedVersion::Exact(chunk * 100),
                    &events,
                    &Metadata::default(),
                )
                .await
                .unwrap();
        }
        let plain = Repository::<Account, _>::new(store.clone());
        let snapshotting = Repository::<Account, _>::new(store.clone());
        let state = plain.load("big").await.unwrap();
        assert_eq!(state.version, 10_000);
        let time = |repo: Repository<Account, SqlEventStore<sqlx::Postgres>>| async move {
            let mut times = Vec::new();
            for _ in 0..loads {
                let t = Instant::now();
                let loaded = repo.load("big").await.unwrap();
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                assert_eq!(loaded.state.deposits, 10_000);
            }
            median(times)
        };
        // Without a snapshot first, then with one.
        let without = time(plain).await;
        // Take the snapshot the way a repository does at a multiple of its interval.
        store
            .save_snapshot(
                &stream,
                edp_core::event_sourcing::Snapshot {
                    stream_version: 10_000,
                    schema: Account::SNAPSHOT_VERSION,
                    data: serde_json::to_vec(&state.state).unwrap(),
                },
            )
            .await
            .unwrap();
        let with = time(snapshotting).await;
        (without, with)
    });
    println!(
        "load 10,000 events: from the events {without:.2} ms, from a snapshot {with:.2} ms, {:.0}x faster",
        without / with
    );
    rt.block_on(pool.close());
    drop(db);
}
