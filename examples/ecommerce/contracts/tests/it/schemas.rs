//! Schema evolution as a build-time guarantee: each contract event's schema, derived
//! from its Rust type, is its latest committed `.avsc` and can read every committed
//! version before it.

use ecommerce_contracts::avro_schemas;
use edp_schema_registry::{AvroSchema, evolution};

use crate::schema_dir;

#[test]
fn every_event_schema_is_its_latest_committed_version() {
    for derived in avro_schemas() {
        let path = schema_dir().join(format!("{}.v{}.avsc", derived.event, derived.version));
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; commit the schema of {} v{} (cargo run -p ecommerce-contracts --example schemas -- write)",
                path.display(),
                derived.event,
                derived.version
            )
        });
        let committed = AvroSchema::parse(&committed).unwrap();
        let ours = AvroSchema::parse(&derived.schema).unwrap();
        // The canonical form plus defaults and aliases: what a reader relies on.
        assert_eq!(
            ours.identity(),
            committed.identity(),
            "the Rust type of {} v{} and {} differ",
            derived.event,
            derived.version,
            path.display()
        );
        let next = schema_dir().join(format!("{}.v{}.avsc", derived.event, derived.version + 1));
        assert!(
            !next.exists(),
            "{} exists: the Rust type is behind the committed schemas",
            next.display()
        );
    }
}

#[test]
fn every_event_schema_reads_all_committed_versions() {
    for derived in avro_schemas() {
        let report = evolution::check_candidate(schema_dir(), derived.event, &derived.schema, None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            report.level,
            edp_schema_registry::Compatibility::BackwardTransitive
        );
        assert_eq!(report.versions.last(), Some(&derived.version));
    }
    // OrderPlaced has both versions.
    let placed = &avro_schemas()[0];
    let report =
        evolution::check_candidate(schema_dir(), placed.event, &placed.schema, None).unwrap();
    assert_eq!(report.versions, [1, 2]);
}

#[test]
fn a_breaking_change_is_refused_naming_the_field() {
    // What the derive would write if `coupon` were a plain `String`: v1 data has no
    // coupon to read, and no default to fill in.
    let placed = &avro_schemas()[0];
    let mut schema: serde_json::Value = serde_json::from_str(&placed.schema).unwrap();
    let fields = schema["fields"].as_array_mut().unwrap();
    let coupon = fields.iter_mut().find(|f| f["name"] == "coupon").unwrap();
    coupon["type"] = "string".into();
    coupon.as_object_mut().unwrap().remove("default");
    let broken = schema.to_string();
    let err = evolution::check_candidate(schema_dir(), "order.placed", &broken, None).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("`OrderPlaced.coupon`"), "{message}");
    assert!(message.contains("order.placed.v2.avsc"), "{message}");

    // A new field without a default cannot be filled in when reading v1 or v2 data.
    let mut schema: serde_json::Value = serde_json::from_str(&placed.schema).unwrap();
    schema["fields"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "discount_cents", "type": "long"}));
    let err = evolution::check_candidate(schema_dir(), "order.placed", &schema.to_string(), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`OrderPlaced.discount_cents`: field `discount_cents` has no default"),
        "{err}"
    );
}
