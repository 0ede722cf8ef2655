use edp_core::event_sourcing::{
    EventStore, ExpectedVersion, Metadata, Projector, Repository, StreamId,
};
use edp_core::testkit::aggregate::given;
use edp_sql::event_store::{Checkpointed, SqlEventStore};
use edp_sql::outbox::Outbox;

use super::*;

fn add(quantity: u32) -> CartCommand {
    CartCommand::Add {
        cart_id: "c-1".into(),
        sku: "sku-1".into(),
        quantity,
    }
}

// ANCHOR: given_when_then
#[test]
fn a_cart_with_items_checks_out_and_then_refuses_more() {
    let added = ItemAdded {
        cart_id: "c-1".into(),
        sku: "sku-1".into(),
        quantity: 2,
    };
    given::<Cart>([added.into()])
        .when(CartCommand::CheckOut {
            cart_id: "c-1".into(),
        })
        .then([CheckedOut {
            cart_id: "c-1".into(),
        }
        .into()]);

    let refused = given::<Cart>([]).when(CartCommand::CheckOut {
        cart_id: "c-1".into(),
    });
    assert_eq!(refused.then_error(), CartError::Empty);
}
// ANCHOR_END: given_when_then

#[tokio::test]
async fn carts_on_sqlite_with_the_outbox_and_a_projection() -> Result<(), BoxError> {
    let dir = std::env::temp_dir().join(format!("edp-book-es-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite:{}?mode=rwc", dir.join("carts.db").display());
    // ANCHOR: repository
    let pool = sqlx::SqlitePool::connect(&url).await?;
    edp_sql::migrate(&pool).await?; // edp_events, edp_snapshots, edp_projections, outbox, inbox
    let store = SqlEventStore::new(pool.clone()).with_outbox(Outbox::new("cart"));
    let carts = Repository::<Cart, _>::new(store.clone())
        .upcasters(upcasters())
        .snapshot_every(100);

    carts.execute("c-1", add(2)).await?; // the event and its outbox row, one transaction
    let done = carts
        .execute(
            "c-1",
            CartCommand::CheckOut {
                cart_id: "c-1".into(),
            },
        )
        .await?;
    assert_eq!((done.version, done.state.checked_out), (2, true));
    // ANCHOR_END: repository

    // An event of the first release, stored as it was then, reads as v2.
    #[derive(Debug, EventSet)]
    enum OldCartEvent {
        ItemAdded(ItemAddedV1),
    }
    let old = [OldCartEvent::from(ItemAddedV1 {
        cart_id: "c-2".into(),
        sku: "sku-9".into(),
    })];
    store
        .append(
            &StreamId::new("cart", "c-2"),
            ExpectedVersion::NoStream,
            &old,
            &Metadata::default(),
        )
        .await?;
    assert_eq!(carts.load("c-2").await?.state.items, 1);

    // ANCHOR: projector
    sqlx::query("CREATE TABLE open_carts (cart_id TEXT PRIMARY KEY, items BIGINT NOT NULL)")
        .execute(&pool)
        .await?;
    let mut projector = Projector::new(store.clone(), Checkpointed::new(pool.clone(), OpenCarts))
        .upcasters(upcasters());
    projector.catch_up().await?; // from the checkpoint, in the store's global order
    let open: Vec<(String, i64)> = sqlx::query_as("SELECT cart_id, items FROM open_carts")
        .fetch_all(&pool)
        .await?;
    assert_eq!(open, [("c-2".to_owned(), 1)]);
    // ANCHOR_END: projector

    let outbox_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM edp_outbox")
        .fetch_one(&pool)
        .await?;
    assert_eq!(outbox_rows, 3, "one outbox row per appended event");
    pool.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
