//! AvroCodec on its own: the wire format, errors, PerTopic.

use bytes::Bytes;
use ecommerce_contracts::OrderPlaced;
use edp_avro::{CONTENT_TYPE, PerTopic, wire};
use edp_core::{Codec, Envelope, Event};
use edp_schema_registry::EmbeddedRegistry;

use crate::{codec, placed};

fn envelope(data: impl Into<Bytes>, content_type: &'static str) -> Envelope {
    Envelope::builder(OrderPlaced::NAME, data)
        .datacontenttype(content_type)
        .build()
}

#[tokio::test]
async fn payloads_are_the_confluent_wire_format_around_plain_avro() {
    let server = EmbeddedRegistry::start("127.0.0.1:0").await.unwrap();
    let codec = codec(&server);
    codec
        .prepare_encode::<OrderPlaced>()
        .unwrap()
        .await
        .unwrap();
    let id = codec.schema_id_of::<OrderPlaced>().unwrap();
    let data = codec.encode(&placed(Some("SPRING"))).unwrap();
    assert_eq!(data[..5], [0, 0, 0, 0, u8::try_from(id).unwrap()]);

    // The body is the Avro datum any Avro library writes with the registered schema.
    let schema: serde_avro_fast::Schema = server.registry().schema(id).unwrap().parse().unwrap();
    let mut config = serde_avro_fast::ser::SerializerConfig::new(&schema);
    let datum = serde_avro_fast::to_datum_vec(&placed(Some("SPRING")), &mut config).unwrap();
    assert_eq!(data[5..], datum[..]);

    // A fresh codec (another process) fetches the writer schema by id, then decodes.
    let reader = crate::codec(&server);
    let env = envelope(data, CONTENT_TYPE);
    assert!(
        reader
            .decode::<OrderPlaced>(&env)
            .unwrap_err()
            .to_string()
            .contains("not fetched yet")
    );
    reader.prepare_decode(&env).unwrap().await.unwrap();
    assert!(reader.prepare_decode(&env).is_none());
    assert_eq!(
        reader.decode::<OrderPlaced>(&env).unwrap(),
        placed(Some("SPRING"))
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_payloads_are_decode_errors_that_say_what_is_wrong() {
    let server = EmbeddedRegistry::start("127.0.0.1:0").await.unwrap();
    let codec = codec(&server);
    codec
        .prepare_encode::<OrderPlaced>()
        .unwrap()
        .await
        .unwrap();
    let good = codec.encode(&placed(None)).unwrap();
    let reason = |env: &Envelope| codec.decode::<OrderPlaced>(env).unwrap_err().reason;

    let mut magic = good.to_vec();
    magic[0] = 7;
    assert!(reason(&envelope(magic, CONTENT_TYPE)).starts_with("wrong magic byte 7"));
    assert!(
        reason(&envelope(good.slice(..3), CONTENT_TYPE))
            .starts_with("truncated payload of 3 bytes")
    );
    assert!(
        reason(&envelope(good.slice(..good.len() - 4), CONTENT_TYPE))
            .starts_with("truncated Avro data")
    );
    assert!(reason(&envelope(good.clone(), "application/json")).contains("is not Avro"));

    let mut unknown = wire::header(999).to_vec();
    unknown.extend_from_slice(&good[5..]);
    let env = envelope(unknown, CONTENT_TYPE);
    let err = codec.prepare_decode(&env).unwrap().await.unwrap_err();
    assert!(!err.is_transient());
    assert!(err.to_string().contains("unknown schema id 999"), "{err}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn out_of_range_unsigned_values_fail_to_encode_instead_of_wrapping() {
    let server = EmbeddedRegistry::start("127.0.0.1:0").await.unwrap();
    let codec = codec(&server);
    codec
        .prepare_encode::<OrderPlaced>()
        .unwrap()
        .await
        .unwrap();
    let mut big = placed(None);
    big.total_cents = u64::MAX;
    let err = codec.encode(&big).unwrap_err();
    assert!(err.to_string().contains("does not fit i64"), "{err}");
    let mut many = placed(None);
    many.items[0].quantity = u32::MAX;
    assert!(
        codec
            .encode(&many)
            .unwrap_err()
            .to_string()
            .contains("does not fit i32")
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn per_topic_writes_json_on_json_topics_and_reads_by_content_type() {
    let server = EmbeddedRegistry::start("127.0.0.1:0").await.unwrap();
    let avro_everywhere = PerTopic::new(codec(&server));
    let json_orders = PerTopic::new(codec(&server)).json_topic("orders");
    assert!(json_orders.is_json("orders") && !avro_everywhere.is_json("orders"));

    assert_eq!(
        json_orders.content_type_for::<OrderPlaced>(),
        "application/json"
    );
    assert!(
        json_orders.prepare_encode::<OrderPlaced>().is_none(),
        "JSON needs no registry"
    );
    let json = json_orders.encode(&placed(None)).unwrap();
    assert_eq!(json[0], b'{');

    assert_eq!(
        avro_everywhere.content_type_for::<OrderPlaced>(),
        CONTENT_TYPE
    );
    avro_everywhere
        .prepare_encode::<OrderPlaced>()
        .unwrap()
        .await
        .unwrap();
    let avro = avro_everywhere.encode(&placed(None)).unwrap();
    assert_eq!(avro[0], wire::MAGIC);

    // Either reads both.
    let from_json = envelope(json, "application/json");
    let from_avro = envelope(avro, CONTENT_TYPE);
    for codec in [&avro_everywhere, &json_orders] {
        assert!(codec.prepare_decode(&from_json).is_none());
        if let Some(work) = codec.prepare_decode(&from_avro) {
            work.await.unwrap();
        }
        assert_eq!(
            codec.decode::<OrderPlaced>(&from_json).unwrap(),
            placed(None)
        );
        assert_eq!(
            codec.decode::<OrderPlaced>(&from_avro).unwrap(),
            placed(None)
        );
    }
    server.shutdown().await.unwrap();
}
