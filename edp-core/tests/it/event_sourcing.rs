//! Event sourcing on the in-memory store: aggregates, optimistic concurrency,
//! snapshots, upcaster chains, projections, and the given/when/then testkit.

use edp_core::Event;
use edp_core::event_sourcing::{
    Aggregate, DecodeEventError, EventSet, EventStore, ExpectedVersion, MemoryEventStore,
    MemoryProjection, Metadata, Projector, Repository, StreamId, Upcasters,
};
use edp_core::testkit::aggregate::given;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "cart.item_added", version = 1, topic = "carts", key = cart)]
struct ItemAdded {
    cart: String,
    sku: String,
    qty: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "cart.checked_out", version = 1, topic = "carts", key = cart)]
struct CheckedOut {
    cart: String,
}

#[derive(Debug, Clone, PartialEq, EventSet)]
enum CartEvent {
    ItemAdded(ItemAdded),
    CheckedOut(CheckedOut),
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Cart {
    items: u32,
    checked_out: bool,
}

#[derive(Debug, Clone)]
enum CartCommand {
    Add { cart: String, sku: String, qty: u32 },
    CheckOut { cart: String },
}

#[derive(Debug, PartialEq, thiserror::Error)]
enum CartError {
    #[error("the cart is checked out")]
    CheckedOut,
    #[error("the cart is empty")]
    Empty,
}

impl Aggregate for Cart {
    const KIND: &'static str = "cart";
    type Command = CartCommand;
    type Event = CartEvent;
    type Error = CartError;

    fn handle(&self, command: CartCommand) -> Result<Vec<CartEvent>, CartError> {
        if self.checked_out {
            return Err(CartError::CheckedOut);
        }
        match command {
            CartCommand::Add { cart, sku, qty } => Ok(vec![ItemAdded { cart, sku, qty }.into()]),
            CartCommand::CheckOut { .. } if self.items == 0 => Err(CartError::Empty),
            CartCommand::CheckOut { cart } => Ok(vec![CheckedOut { cart }.into()]),
        }
    }

    fn apply(&mut self, event: &CartEvent) {
        match event {
            CartEvent::ItemAdded(e) => self.items += e.qty,
            CartEvent::CheckedOut(_) => self.checked_out = true,
        }
    }
}

fn add(qty: u32) -> CartCommand {
    CartCommand::Add {
        cart: "c-1".into(),
        sku: "sku-1".into(),
        qty,
    }
}

fn added(qty: u32) -> CartEvent {
    ItemAdded {
        cart: "c-1".into(),
        sku: "sku-1".into(),
        qty,
    }
    .into()
}

#[test]
fn given_when_then() {
    let state = given::<Cart>([added(2)])
        .when(CartCommand::CheckOut { cart: "c-1".into() })
        .then([CheckedOut { cart: "c-1".into() }.into()]);
    assert!(state.checked_out);
    let err = given::<Cart>([])
        .when(CartCommand::CheckOut { cart: "c-1".into() })
        .then_error();
    assert_eq!(err, CartError::Empty);
    let err = given::<Cart>([added(1), CheckedOut { cart: "c-1".into() }.into()])
        .when(add(1))
        .then_error();
    assert_eq!(err, CartError::CheckedOut);
}

#[test]
#[should_panic(expected = "the command recorded other events")]
fn then_fails_on_other_events() {
    given::<Cart>([]).when(add(1)).then([added(2)]);
}

#[tokio::test]
async fn concurrent_commands_conflict_and_retries_lose_nothing() {
    let carts = Repository::<Cart, _>::new(MemoryEventStore::new());
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let carts = carts.clone();
        tasks.push(tokio::spawn(async move {
            carts
                .execute_retrying("c-1", add(1), &Metadata::default(), 100)
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let cart = carts.load("c-1").await.unwrap();
    assert_eq!((cart.version, cart.state.items), (20, 20));

    let store = carts.store();
    let stream = StreamId::new("cart", "c-1");
    let stale = store
        .append(
            &stream,
            ExpectedVersion::Exact(19),
            &[added(1)],
            &Metadata::default(),
        )
        .await;
    assert!(stale.unwrap_err().is_conflict());
    assert_eq!(store.len(), 20);
}

#[tokio::test]
async fn snapshots_are_taken_every_n_events_and_used() {
    let store = MemoryEventStore::new();
    let carts = Repository::<Cart, _>::new(store.clone()).snapshot_every(10);
    for _ in 0..25 {
        carts.execute("c-1", add(1)).await.unwrap();
    }
    let snapshot = store
        .load_snapshot(&StreamId::new("cart", "c-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(snapshot.stream_version, 20);
    let loaded = carts.load("c-1").await.unwrap();
    assert_eq!((loaded.version, loaded.state.items), (25, 25));
}

// Three versions of one event; the store holds v1 and v2, the code reads v3.
#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "cart.item_added", version = 1, topic = "carts")]
struct ItemAddedV1 {
    cart: String,
    sku: String,
}

#[derive(Debug, Serialize, Deserialize, Event)]
#[event(name = "cart.item_added", version = 2, topic = "carts")]
struct ItemAddedV2 {
    cart: String,
    sku: String,
    qty: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "cart.item_added", version = 3, topic = "carts")]
struct ItemAddedV3 {
    cart: String,
    sku: String,
    qty: u32,
    gift: bool,
}

#[derive(Debug, Clone, PartialEq, EventSet)]
enum CartEventV3 {
    ItemAdded(ItemAddedV3),
}

#[test]
fn upcasters_chain_versions_and_say_what_is_missing() {
    let upcasters = Upcasters::new()
        .upcast(|v1: ItemAddedV1| ItemAddedV2 {
            cart: v1.cart,
            sku: v1.sku,
            qty: 1,
        })
        .upcast(|v2: ItemAddedV2| ItemAddedV3 {
            cart: v2.cart,
            sku: v2.sku,
            qty: v2.qty,
            gift: false,
        });
    let v3: CartEventV3 = upcasters
        .decode_set("cart.item_added", 1, br#"{"cart":"c-1","sku":"s"}"#)
        .unwrap();
    assert_eq!(
        v3,
        ItemAddedV3 {
            cart: "c-1".into(),
            sku: "s".into(),
            qty: 1,
            gift: false
        }
        .into()
    );

    let none = Upcasters::new()
        .decode::<ItemAddedV3>(1, b"{}")
        .unwrap_err();
    assert!(
        matches!(none, DecodeEventError::NoUpcaster { from: 1, to: 3, .. }),
        "{none}"
    );
    let newer = Upcasters::new()
        .decode::<ItemAddedV1>(3, b"{}")
        .unwrap_err();
    assert!(
        matches!(
            newer,
            DecodeEventError::Newer {
                stored: 3,
                known: 1,
                ..
            }
        ),
        "{newer}"
    );
    let unknown = Upcasters::new()
        .decode_set::<CartEventV3>("cart.gone", 1, b"{}")
        .unwrap_err();
    assert!(
        matches!(unknown, DecodeEventError::Unknown { .. }),
        "{unknown}"
    );
    let bad = upcasters
        .decode_set::<CartEventV3>("cart.item_added", 2, b"{")
        .unwrap_err();
    assert!(
        matches!(bad, DecodeEventError::Json { version: 2, .. }),
        "{bad}"
    );
}

#[tokio::test]
async fn a_projection_sees_every_event_once_and_rebuilds_the_same() {
    let store = MemoryEventStore::new();
    let carts = Repository::<Cart, _>::new(store.clone());
    for i in 0..50 {
        carts
            .execute(&format!("c-{}", i % 5), add(i))
            .await
            .unwrap();
    }
    let items = MemoryProjection::new("items", (0u32, 0u32), |(events, qty), e| {
        *events += 1;
        if let CartEvent::ItemAdded(a) = &e.event {
            *qty += a.qty;
        }
    });
    let mut projector = Projector::new(store.clone(), items.clone()).batch(7);
    assert_eq!(projector.catch_up().await.unwrap(), 50);
    assert_eq!(items.read(|m| *m), (50, (0..50).sum()));
    assert_eq!(projector.catch_up().await.unwrap(), 0, "nothing new");
    carts.execute("c-0", add(1)).await.unwrap();
    projector.catch_up().await.unwrap();
    let before = items.read(|m| *m);
    assert_eq!(before.0, 51);
    assert_eq!(projector.rebuild().await.unwrap(), 51);
    assert_eq!(items.read(|m| *m), before);
}

#[tokio::test]
async fn projection_lag_is_a_metric() {
    let store = MemoryEventStore::new();
    let carts = Repository::<Cart, _>::new(store.clone());
    for i in 0..20 {
        carts.execute(&format!("c-{i}"), add(1)).await.unwrap();
    }
    let model = MemoryProjection::new(
        "lag-test",
        0u32,
        |n, _: &edp_core::event_sourcing::Recorded<CartEvent>| *n += 1,
    );
    let mut projector = Projector::new(store, model).batch(5);
    assert_eq!(projector.step().await.unwrap(), 5);
    let metrics = edp_core::telemetry::metrics::render();
    assert!(
        metrics.contains("edp_projection_lag{projection=\"lag-test\"} 15"),
        "{metrics}"
    );
    projector.catch_up().await.unwrap();
    let metrics = edp_core::telemetry::metrics::render();
    assert!(
        metrics.contains("edp_projection_lag{projection=\"lag-test\"} 0"),
        "{metrics}"
    );
}
