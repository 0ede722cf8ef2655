//! The registry client against the embedded registry over a real socket.

use edp_avro::{RegistryClientError, SchemaRegistryClient, SubjectNameStrategy};
use edp_core::{Codec, Event};
use edp_schema_registry::EmbeddedRegistry;

use crate::{codec, placed};

const V1: &str =
    r#"{"type":"record","name":"Ping","namespace":"t","fields":[{"name":"n","type":"int"}]}"#;

#[tokio::test]
async fn ids_and_schemas_are_fetched_once_then_served_from_the_cache() {
    let server = EmbeddedRegistry::start("127.0.0.1:0").await.unwrap();
    let client = SchemaRegistryClient::new(&server.url()).unwrap();
    let id = client.register("pings-value", V1).await.unwrap();
    assert_eq!(client.lookup("pings-value", V1).await.unwrap(), id);
    let other = SchemaRegistryClient::new(&format!("{}/", server.url())).unwrap();
    assert_eq!(
        &*other.schema(id).await.unwrap(),
        server.registry().schema(id).unwrap()
    );
    server.shutdown().await.unwrap();

    // The registry is gone: cached answers still come, the rest fails as transient.
    assert_eq!(client.register("pings-value", V1).await.unwrap(), id);
    assert_eq!(&*client.schema(id).await.unwrap(), V1);
    assert!(other.schema(id).await.is_ok());
    let err = client.schema(id + 1).await.unwrap_err();
    assert!(
        matches!(err, RegistryClientError::Unreachable { .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(err.to_string().contains("is unreachable"), "{err}");
}

#[tokio::test]
async fn refusals_are_permanent_and_carry_the_registry_message() {
    let server = EmbeddedRegistry::start("127.0.0.1:0").await.unwrap();
    let client = SchemaRegistryClient::new(&server.url()).unwrap();
    let err = client.schema(4242).await.unwrap_err();
    assert!(!err.is_transient());
    assert_eq!(
        err.to_string(),
        format!(
            "unknown schema id 4242: the schema registry at {} has no schema with this id",
            server.url()
        )
    );

    let err = client.lookup("pings-value", V1).await.unwrap_err();
    assert!(
        matches!(err, RegistryClientError::Refused { status: 404, .. }),
        "{err:?}"
    );

    client.register("pings-value", V1).await.unwrap();
    let breaking = V1.replace(r#""int""#, r#""string""#);
    let err = client.register("pings-value", &breaking).await.unwrap_err();
    match &err {
        RegistryClientError::Refused {
            status, message, ..
        } => {
            assert_eq!(*status, 409);
            assert!(message.contains("Ping.n"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(!err.is_transient());
    server.shutdown().await.unwrap();
}

#[test]
fn only_plain_http_urls_are_accepted() {
    let err = SchemaRegistryClient::new("https://registry:8081").unwrap_err();
    assert!(
        err.to_string().contains("only http:// is supported"),
        "{err}"
    );
}

#[tokio::test]
async fn each_strategy_registers_under_its_subject() {
    let server = EmbeddedRegistry::start("127.0.0.1:0").await.unwrap();
    for (strategy, subject) in [
        (SubjectNameStrategy::TopicName, "orders-value"),
        (
            SubjectNameStrategy::RecordName,
            "ecommerce.order.OrderPlaced",
        ),
        (
            SubjectNameStrategy::TopicRecordName,
            "orders-ecommerce.order.OrderPlaced",
        ),
    ] {
        let codec = codec(&server).subject_name_strategy(strategy);
        assert_eq!(codec.strategy(), strategy);
        codec
            .prepare_encode::<ecommerce_contracts::OrderPlaced>()
            .unwrap()
            .await
            .unwrap();
        assert!(
            codec
                .prepare_encode::<ecommerce_contracts::OrderPlaced>()
                .is_none()
        );
        assert!(
            server.registry().subjects().contains(&subject.to_owned()),
            "{subject}"
        );
        let id = codec
            .schema_id_of::<ecommerce_contracts::OrderPlaced>()
            .unwrap();
        assert_eq!(
            codec.encode(&placed(None)).unwrap()[..5],
            edp_avro::wire::header(id)
        );
    }
    // One schema, one id, whatever the subject.
    assert_eq!(server.registry().subjects().len(), 3);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_auto_register_an_unregistered_schema_fails_to_prepare() {
    let server = EmbeddedRegistry::start("127.0.0.1:0").await.unwrap();
    let codec = codec(&server).auto_register(false);
    let err = codec
        .prepare_encode::<ecommerce_contracts::OrderPlaced>()
        .unwrap()
        .await
        .unwrap_err();
    assert!(!err.is_transient());
    assert!(
        err.to_string()
            .contains("cannot encode event `order.placed`"),
        "{err}"
    );
    assert!(err.to_string().contains("HTTP 404"), "{err}");
    // Registered by a deployment step: now it is found.
    server
        .registry()
        .register(
            "orders-ecommerce.order.OrderPlaced",
            &ecommerce_contracts::OrderPlaced::avro_schema().unwrap(),
        )
        .unwrap();
    codec
        .prepare_encode::<ecommerce_contracts::OrderPlaced>()
        .unwrap()
        .await
        .unwrap();
    server.shutdown().await.unwrap();
}
