//! The samples of the book's "Schema registry" chapter (book/src/schema-registry.md
//! includes their ANCHOR regions), run as tests.

use edp_schema_registry::{Compatibility, EmbeddedRegistry, Registry, evolution};

use crate::evolution::repo_schemas;

// ANCHOR: embedded
#[tokio::test]
async fn an_embedded_registry_for_a_test() -> Result<(), Box<dyn std::error::Error>> {
    // A free port; clients get `server.url()` as their `schema.registry.url`.
    let server = EmbeddedRegistry::start("127.0.0.1:0").await?;
    let url = server.url();

    // The same registry, in-process: register a subject's first version.
    let registry = server.registry();
    let order_placed =
        std::fs::read_to_string(repo_schemas().join("ecommerce/order.placed.v1.avsc"))?;
    let registered = registry.register("orders-value", &order_placed)?;
    assert_eq!((registered.id, registered.version), (1, 1));
    registry.set_subject_compatibility("orders-value", Compatibility::FullTransitive);

    assert!(url.starts_with("http://127.0.0.1:"));
    server.shutdown().await?; // finishes requests in flight
    Ok(())
}
// ANCHOR_END: embedded

// ANCHOR: mount
#[test]
fn the_registry_in_your_own_axum_app() {
    let registry = Registry::new(); // cheap to clone; clones share the subjects
    let app: axum::Router = axum::Router::new().nest(
        "/schemas",
        edp_schema_registry::server::router(registry.clone()),
    );
    // ... serve `app` with axum::serve, and use `registry` in-process.
    let _ = app;
}
// ANCHOR_END: mount

// ANCHOR: build_time
/// Fails when a committed schema version cannot be reconciled with the versions
/// before it, naming the file and the field.
#[test]
fn published_schemas_evolve_compatibly() {
    // The runner's manifest dir, not the compiled-in one: a shared target directory
    // may hold a binary built from another checkout.
    let root = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let schemas = std::path::Path::new(&root).join("../schemas");
    if let Err(e) = evolution::check_dir(&schemas, None) {
        panic!("{e}");
    }
}

/// Fails when the schema the code publishes today could not follow the committed
/// versions of its event.
#[test]
fn the_current_order_placed_schema_can_follow_the_committed_ones() {
    // Here the schema is written by hand; the contracts crate passes the one its Rust
    // type derives (`OrderPlaced::avro_schema()`).
    let current = r#"{"type": "record", "name": "OrderPlaced", "namespace": "ecommerce.order",
      "fields": [
        {"name": "order_id", "type": "string"},
        {"name": "customer_id", "type": "string"},
        {"name": "items", "type": {"type": "array", "items": {
          "type": "record", "name": "OrderLine", "fields": [
            {"name": "product_id", "type": "string"},
            {"name": "quantity", "type": "int"},
            {"name": "unit_price_cents", "type": "long"}]}}},
        {"name": "total_cents", "type": "long"},
        {"name": "coupon", "type": ["null", "string"], "default": null}
      ]}"#;
    let checked = evolution::check_candidate(repo_schemas(), "order.placed", current, None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(checked.versions, vec![1, 2]);
}
// ANCHOR_END: build_time
