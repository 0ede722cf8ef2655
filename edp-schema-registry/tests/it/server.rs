//! The REST API over a real socket: the server in-process on port 0.

use edp_schema_registry::{Compatibility, EmbeddedRegistry};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use crate::http::{CONFLUENT, delete, get, post, put, send};

const V1: &str = r#"{"type":"record","name":"OrderPlaced","namespace":"ecommerce.order","fields":[{"name":"order_id","type":"string"}]}"#;
/// V1 with a field that has a default: backward compatible.
const V2: &str = r#"{"type":"record","name":"OrderPlaced","namespace":"ecommerce.order","fields":[{"name":"order_id","type":"string"},{"name":"note","type":"string","default":""}]}"#;
/// V1 with a field that has no default: not backward compatible.
const BREAKS: &str = r#"{"type":"record","name":"OrderPlaced","namespace":"ecommerce.order","fields":[{"name":"order_id","type":"string"},{"name":"coupon","type":"string"}]}"#;

fn schema(text: &str) -> Value {
    json!({ "schema": text })
}

async fn start() -> EmbeddedRegistry {
    EmbeddedRegistry::start("127.0.0.1:0")
        .await
        .expect("start the registry")
}

#[tokio::test]
async fn register_then_read_back_every_way() {
    let server = start().await;
    let addr = server.addr();
    assert!(server.url().starts_with("http://127.0.0.1:"));

    let registered = post(addr, "/subjects/orders-value/versions", &schema(V1)).await;
    assert_eq!(registered.status, StatusCode::OK, "{}", registered.text);
    assert_eq!(registered.content_type.as_deref(), Some(CONFLUENT));
    assert_eq!(registered.json(), json!({ "id": 1 }));
    let second = post(addr, "/subjects/orders-value/versions", &schema(V2)).await;
    assert_eq!(second.json(), json!({ "id": 2 }));

    assert_eq!(get(addr, "/subjects").await.json(), json!(["orders-value"]));
    assert_eq!(
        get(addr, "/subjects/orders-value/versions").await.json(),
        json!([1, 2])
    );
    assert_eq!(
        get(addr, "/subjects/orders-value/versions/1").await.json(),
        json!({ "subject": "orders-value", "id": 1, "version": 1, "schema": V1 })
    );
    for latest in ["latest", "-1"] {
        let answer = get(addr, &format!("/subjects/orders-value/versions/{latest}")).await;
        assert_eq!(answer.json()["version"], 2);
        assert_eq!(answer.json()["id"], 2);
    }
    let raw = get(addr, "/subjects/orders-value/versions/latest/schema").await;
    assert_eq!(raw.json(), serde_json::from_str::<Value>(V2).unwrap());
    assert_eq!(
        get(addr, "/schemas/ids/1").await.json(),
        json!({ "schema": V1 })
    );
    assert_eq!(
        get(addr, "/schemas/ids/2/versions").await.json(),
        json!([{ "subject": "orders-value", "version": 2 }])
    );
    assert_eq!(
        get(addr, "/schemas/ids/2/subjects").await.json(),
        json!(["orders-value"])
    );
    assert_eq!(get(addr, "/schemas/types").await.json(), json!(["AVRO"]));

    // Lookup: the version that has this schema.
    let found = post(addr, "/subjects/orders-value", &schema(V1)).await;
    assert_eq!(
        found.json(),
        json!({ "subject": "orders-value", "id": 1, "version": 1, "schema": V1 })
    );
    // The in-process registry is the one served.
    assert_eq!(
        server.registry().versions("orders-value").unwrap(),
        vec![1, 2]
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_same_schema_has_one_id_under_every_subject() {
    let server = start().await;
    let addr = server.addr();
    let first = post(addr, "/subjects/orders-value/versions", &schema(V1))
        .await
        .json();
    // The same schema written differently: another key order, whitespace, a doc.
    let respelled = r#"{ "namespace": "ecommerce.order", "name": "OrderPlaced", "type": "record",
        "doc": "placed", "fields": [ { "type": "string", "name": "order_id" } ] }"#;
    let other = post(addr, "/subjects/archive-value/versions", &schema(respelled))
        .await
        .json();
    assert_eq!(first, json!({ "id": 1 }));
    assert_eq!(other, json!({ "id": 1 }));
    // Registering it again under a subject that has it adds no version.
    let again = post(addr, "/subjects/orders-value/versions", &schema(respelled))
        .await
        .json();
    assert_eq!(again, json!({ "id": 1 }));
    assert_eq!(
        get(addr, "/subjects/orders-value/versions").await.json(),
        json!([1])
    );
    assert_eq!(
        get(addr, "/schemas/ids/1/versions").await.json(),
        json!([{ "subject": "archive-value", "version": 1 }, { "subject": "orders-value", "version": 1 }])
    );
    // Each subject's version keeps the text it was registered with.
    assert_eq!(
        get(addr, "/subjects/archive-value/versions/1").await.json()["schema"],
        respelled
    );
    // A default added is another schema, with another id.
    let with_default = V1.replace(r#""type":"string"}"#, r#""type":"string","default":""}"#);
    assert_eq!(
        post(
            addr,
            "/subjects/orders-value/versions",
            &schema(&with_default)
        )
        .await
        .json(),
        json!({ "id": 2 })
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn compatibility_config_global_and_per_subject() {
    let server = start().await;
    let addr = server.addr();
    assert_eq!(
        get(addr, "/config").await.json(),
        json!({ "compatibilityLevel": "BACKWARD" })
    );
    let set = put(addr, "/config", &json!({ "compatibility": "FULL" })).await;
    assert_eq!(set.json(), json!({ "compatibility": "FULL" }));
    assert_eq!(
        get(addr, "/config").await.json(),
        json!({ "compatibilityLevel": "FULL" })
    );
    assert_eq!(server.registry().compatibility(), Compatibility::Full);

    let message = get(addr, "/config/orders-value").await.error(404, 40408);
    assert!(message.contains("defaultToGlobal"), "{message}");
    assert_eq!(
        get(addr, "/config/orders-value?defaultToGlobal=true")
            .await
            .json(),
        json!({ "compatibilityLevel": "FULL" })
    );
    let set = put(
        addr,
        "/config/orders-value",
        &json!({ "compatibility": "NONE" }),
    )
    .await;
    assert_eq!(set.json(), json!({ "compatibility": "NONE" }));
    assert_eq!(
        get(addr, "/config/orders-value").await.json(),
        json!({ "compatibilityLevel": "NONE" })
    );
    // NONE for the subject lets a breaking change in, while FULL holds elsewhere.
    post(addr, "/subjects/orders-value/versions", &schema(V1)).await;
    let broken = post(addr, "/subjects/orders-value/versions", &schema(BREAKS)).await;
    assert_eq!(broken.json(), json!({ "id": 2 }));
    post(addr, "/subjects/other-value/versions", &schema(V1)).await;
    post(addr, "/subjects/other-value/versions", &schema(BREAKS))
        .await
        .error(409, 409);

    assert_eq!(
        delete(addr, "/config/orders-value").await.json(),
        json!({ "compatibilityLevel": "NONE" })
    );
    get(addr, "/config/orders-value").await.error(404, 40408);

    for bad in [json!({ "compatibility": "SIDEWAYS" }), json!({})] {
        let message = put(addr, "/config", &bad).await.error(422, 42203);
        assert!(message.contains("BACKWARD_TRANSITIVE"), "{message}");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_incompatible_schema_is_refused_with_409_naming_the_field() {
    let server = start().await;
    let addr = server.addr();
    post(addr, "/subjects/orders-value/versions", &schema(V1)).await;
    let refused = post(addr, "/subjects/orders-value/versions", &schema(BREAKS)).await;
    let message = refused.error(409, 409);
    assert!(message.contains("`OrderPlaced.coupon`"), "{message}");
    assert!(
        message.contains("field `coupon` has no default"),
        "{message}"
    );
    assert!(message.contains("version 1"), "{message}");
    assert_eq!(
        get(addr, "/subjects/orders-value/versions").await.json(),
        json!([1])
    );

    // The compatibility endpoint says the same without registering.
    let path = "/compatibility/subjects/orders-value/versions/latest";
    assert_eq!(
        post(addr, path, &schema(BREAKS)).await.json(),
        json!({ "is_compatible": false })
    );
    let verbose = post(addr, &format!("{path}?verbose=true"), &schema(BREAKS))
        .await
        .json();
    assert_eq!(verbose["is_compatible"], false);
    let messages = verbose["messages"].as_array().unwrap();
    assert!(
        messages[0]
            .as_str()
            .unwrap()
            .contains("`OrderPlaced.coupon`"),
        "{verbose}"
    );
    let good = post(addr, &format!("{path}?verbose=True"), &schema(V2))
        .await
        .json();
    assert_eq!(good, json!({ "is_compatible": true, "messages": [] }));
    assert_eq!(
        post(
            addr,
            "/compatibility/subjects/orders-value/versions/1",
            &schema(V2)
        )
        .await
        .json(),
        json!({ "is_compatible": true })
    );
    post(
        addr,
        "/compatibility/subjects/orders-value/versions/7",
        &schema(V2),
    )
    .await
    .error(404, 40402);
    post(
        addr,
        "/compatibility/subjects/nobody/versions/latest",
        &schema(V2),
    )
    .await
    .error(404, 40401);
    assert_eq!(
        post(
            addr,
            "/compatibility/subjects/nobody/versions",
            &schema(BREAKS)
        )
        .await
        .json(),
        json!({ "is_compatible": true })
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn transitive_levels_check_every_version_over_http() {
    let server = start().await;
    let addr = server.addr();
    let v3 = V2.replace(r#","default":""}"#, "}"); // `note` loses its default
    post(addr, "/subjects/s/versions", &schema(V1)).await;
    post(addr, "/subjects/s/versions", &schema(V2)).await;
    // BACKWARD checks the latest only: v3 reads v2, which has `note`.
    let path = "/compatibility/subjects/s/versions/latest";
    assert_eq!(
        post(addr, path, &schema(&v3)).await.json()["is_compatible"],
        true
    );
    put(
        addr,
        "/config/s",
        &json!({ "compatibility": "BACKWARD_TRANSITIVE" }),
    )
    .await;
    assert_eq!(
        post(addr, path, &schema(&v3)).await.json()["is_compatible"],
        false
    );
    let message = post(addr, "/subjects/s/versions", &schema(&v3))
        .await
        .error(409, 409);
    assert!(
        message.contains("`OrderPlaced.note`") && message.contains("version 1"),
        "{message}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn each_error_code() {
    let server = start().await;
    let addr = server.addr();
    post(addr, "/subjects/orders-value/versions", &schema(V1)).await;

    let m = get(addr, "/subjects/nobody/versions")
        .await
        .error(404, 40401);
    assert_eq!(m, "Subject 'nobody' not found.");
    get(addr, "/subjects/nobody/versions/1")
        .await
        .error(404, 40401);
    post(addr, "/subjects/nobody", &schema(V1))
        .await
        .error(404, 40401);
    let m = get(addr, "/subjects/orders-value/versions/9")
        .await
        .error(404, 40402);
    assert!(m.contains("Version 9 not found"), "{m}");
    get(addr, "/schemas/ids/99").await.error(404, 40403);
    get(addr, "/schemas/ids/abc").await.error(404, 40403);
    let m = post(addr, "/subjects/orders-value", &schema(V2))
        .await
        .error(404, 40403);
    assert!(m.contains("register it first"), "{m}");

    let m = post(
        addr,
        "/subjects/s/versions",
        &schema(r#"{"type":"record","name":"R"}"#),
    )
    .await
    .error(422, 42201);
    assert!(m.contains("needs a `fields` array"), "{m}");
    post(addr, "/subjects/s/versions", &schema("not json"))
        .await
        .error(422, 42201);
    let protobuf = json!({ "schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF" });
    let m = post(addr, "/subjects/s/versions", &protobuf)
        .await
        .error(422, 42201);
    assert!(m.contains("AVRO schemas only"), "{m}");
    let referencing =
        json!({ "schema": V1, "references": [{ "name": "x", "subject": "y", "version": 1 }] });
    post(addr, "/subjects/s/versions", &referencing)
        .await
        .error(422, 42201);

    for bad in ["abc", "0", "2147483648", "-2"] {
        get(addr, &format!("/subjects/orders-value/versions/{bad}"))
            .await
            .error(422, 42202);
    }
    put(
        addr,
        "/config/orders-value",
        &json!({ "compatibility": "MAYBE" }),
    )
    .await
    .error(422, 42203);
    post(addr, "/subjects/orders-value/versions", &schema(BREAKS))
        .await
        .error(409, 409);

    // Bodies that are not what the endpoint takes: clear errors, never a panic.
    let m = send(
        addr,
        Method::POST,
        "/subjects/s/versions",
        Some(CONFLUENT),
        "{oops",
    )
    .await
    .error(400, 400);
    assert!(m.contains("not JSON"), "{m}");
    let m = post(addr, "/subjects/s/versions", &json!({ "schemaa": V1 }))
        .await
        .error(422, 422);
    assert!(m.contains(r#"send {"schema""#), "{m}");
    post(addr, "/subjects/s/versions", &json!({ "schema": 5 }))
        .await
        .error(422, 422);
    let m = send(
        addr,
        Method::POST,
        "/subjects/s/versions",
        Some("text/plain"),
        &schema(V1).to_string(),
    )
    .await
    .error(415, 415);
    assert!(m.contains("text/plain"), "{m}");
    let m = get(addr, "/no/such/endpoint").await.error(404, 404);
    assert!(m.contains("/no/such/endpoint"), "{m}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn accepts_the_content_types_clients_send() {
    let server = start().await;
    let addr = server.addr();
    let body = schema(V1).to_string();
    for ty in [
        Some(CONFLUENT),
        Some("application/vnd.schemaregistry+json"),
        Some("application/json"),
        Some("application/json; charset=utf-8"),
        Some("application/octet-stream"),
        None,
    ] {
        let answer = send(addr, Method::POST, "/subjects/s/versions", ty, &body).await;
        assert_eq!(answer.status, StatusCode::OK, "{ty:?}: {}", answer.text);
        assert_eq!(answer.json(), json!({ "id": 1 }));
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn delete_subject_keeps_the_ids() {
    let server = start().await;
    let addr = server.addr();
    post(addr, "/subjects/s/versions", &schema(V1)).await;
    post(addr, "/subjects/s/versions", &schema(V2)).await;
    assert_eq!(delete(addr, "/subjects/s").await.json(), json!([1, 2]));
    get(addr, "/subjects/s/versions").await.error(404, 40401);
    delete(addr, "/subjects/s").await.error(404, 40401);
    assert_eq!(get(addr, "/subjects").await.json(), json!([]));
    assert_eq!(
        get(addr, "/schemas/ids/2").await.json(),
        json!({ "schema": V2 })
    );
    // Registered again, the schema keeps its id and starts a new history.
    assert_eq!(
        post(addr, "/subjects/s/versions", &schema(V2)).await.json(),
        json!({ "id": 2 })
    );
    assert_eq!(get(addr, "/subjects/s/versions").await.json(), json!([1]));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_stops_listening() {
    let server = start().await;
    let addr = server.addr();
    assert_eq!(get(addr, "/").await.json(), json!({}));
    server.shutdown().await.unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn router_mounts_in_another_app() {
    let registry = edp_schema_registry::Registry::new();
    registry.register("s", V1).unwrap();
    let app = axum::Router::new().nest("/registry", edp_schema_registry::server::router(registry));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    assert_eq!(
        get(addr, "/registry/schemas/ids/1").await.json(),
        json!({ "schema": V1 })
    );
    task.abort();
}
