//! `#[derive(AvroSchema)]` and `#[event(avro)]`: the schema follows what serde writes.

use std::collections::BTreeMap;

use edp_core::codec::avro::schema_json;
use edp_core::{AvroSchema, Event};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// An order line.
#[derive(Debug, Serialize, Deserialize, AvroSchema)]
struct Line {
    sku: String,
    qty: u32,
}

fn two() -> u16 {
    2
}

/// Something shipped.
///
/// In parts, maybe.
#[derive(Debug, Serialize, Deserialize, Event, AvroSchema)]
#[event(name = "test.shipped", version = 3, topic = "shipping", avro)]
#[avro(name = "Shipped", namespace = "test.shipping")]
struct ShippedEvent {
    /// The order.
    #[serde(rename = "orderId", alias = "order")]
    order_id: String,
    lines: Vec<Line>,
    backup: Option<Line>,
    #[serde(default)]
    attempts: i64,
    #[serde(default = "two")]
    priority: u16,
    #[serde(default)]
    tags: BTreeMap<String, f64>,
    r#type: bool,
    weight: f32,
}

#[derive(Serialize, Deserialize, Event)]
#[event(name = "test.plain")]
struct Plain {
    n: u64,
}

fn parsed(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn the_schema_follows_serde_renames_aliases_defaults_and_docs() {
    let schema = parsed(&ShippedEvent::avro_schema().unwrap());
    assert_eq!(
        schema,
        json!({
            "type": "record", "name": "Shipped", "namespace": "test.shipping",
            "doc": "Something shipped.\n\nIn parts, maybe.",
            "fields": [
                {"name": "orderId", "type": "string", "aliases": ["order"], "doc": "The order."},
                {"name": "lines", "type": {"type": "array", "items": {
                    "type": "record", "name": "Line", "doc": "An order line.",
                    "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}}},
                {"name": "backup", "type": ["null", "test.shipping.Line"], "default": null},
                {"name": "attempts", "type": "long", "default": 0},
                {"name": "priority", "type": "int", "default": 2},
                {"name": "tags", "type": {"type": "map", "values": "double"}, "default": {}},
                {"name": "type", "type": "boolean"},
                {"name": "weight", "type": "float"}
            ]
        })
    );
    // The serde JSON of the same value has exactly the schema's field names.
    let value = serde_json::to_value(ShippedEvent {
        order_id: "o".into(),
        lines: vec![],
        backup: None,
        attempts: 0,
        priority: 2,
        tags: BTreeMap::new(),
        r#type: true,
        weight: 1.0,
    })
    .unwrap();
    let mut in_serde: Vec<&String> = value.as_object().unwrap().keys().collect();
    let mut in_schema: Vec<&str> = schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    in_serde.sort();
    in_schema.sort_unstable();
    assert_eq!(in_serde, in_schema);
}

#[test]
fn a_nested_record_used_alone_has_no_namespace_of_its_own() {
    assert_eq!(
        parsed(&schema_json::<Line>())["name"],
        json!("Line"),
        "a record without #[avro(namespace)] takes its enclosing record's"
    );
    assert!(parsed(&schema_json::<Line>()).get("namespace").is_none());
}

#[test]
fn only_events_marked_avro_carry_a_schema() {
    assert_eq!(Plain::avro_schema(), None);
    assert!(ShippedEvent::avro_schema().is_some());
}
