use edp_core::Event;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "order.placed", version = 3, topic = "orders", key = order_id)]
struct OrderPlaced {
    order_id: u64,
}

#[derive(Serialize, Deserialize, Event)]
#[event(name = "audit.logged")]
struct Audit {
    line: String,
}

#[derive(Serialize, Deserialize, Event)]
#[event(name = "generic.wrapped", key = "id")]
struct Wrapped<T> {
    id: String,
    inner: T,
}

#[test]
fn attributes_become_constants() {
    assert_eq!(OrderPlaced::NAME, "order.placed");
    assert_eq!(OrderPlaced::VERSION, 3);
    assert_eq!(OrderPlaced::TOPIC, "orders");
    assert_eq!(OrderPlaced { order_id: 42 }.key().as_deref(), Some("42"));
}

#[test]
fn defaults_are_version_1_topic_name_no_key() {
    assert_eq!(Audit::VERSION, 1);
    assert_eq!(Audit::TOPIC, "audit.logged");
    assert_eq!(Audit { line: "x".into() }.key(), None);
}

#[test]
fn generics_and_string_key() {
    let w = Wrapped {
        id: "w-1".into(),
        inner: 5u8,
    };
    assert_eq!(w.key().as_deref(), Some("w-1"));
    assert_eq!(<Wrapped<u8> as Event>::NAME, "generic.wrapped");
}
