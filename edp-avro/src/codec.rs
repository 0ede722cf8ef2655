//! [`AvroCodec`]: Avro binary in the Confluent wire format, schemas through a registry.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;
use edp_core::codec::{DecodeError, EncodeError, PrepareError, PrepareFuture, encode_buffered};
use edp_core::event::DynEvent;
use edp_core::{Codec, Envelope, Event};
use serde_avro_fast::Schema;

use crate::registry::{RegistryClientError, SchemaRegistryClient};
use crate::subject::SubjectNameStrategy;
use crate::wire;

/// The content type written to `datacontenttype`.
pub const CONTENT_TYPE: &str = "application/avro";

/// Avro binary in the Confluent wire format (magic byte 0, the schema id as 4 bytes
/// big-endian, the Avro datum), with schemas registered in and fetched from a schema
/// registry.
///
/// - Encoding `E` writes with the schema of `E` ([`Event::avro_schema`], from
///   `#[derive(AvroSchema)]` and `#[event(avro)]`), registered once under the subject
///   the [`SubjectNameStrategy`] names (default
///   [`TopicRecordName`](SubjectNameStrategy::TopicRecordName), topic
///   [`Event::TOPIC`]).
/// - Decoding reads with the writer's schema, fetched once by the id in the payload,
///   into the Rust type: fields are matched by name, so a reader skips fields the
///   writer added and fills fields the writer lacked with their default (`None` for
///   `Option`, the serde default otherwise), as Avro's schema resolution does for the
///   schemas `AvroSchema` derives. Whether the reader *can* read every committed
///   writer is checked at build time (see `edp_schema_registry::evolution`).
///
/// Both lookups are cached; after the first event of a type or schema id, encoding and
/// decoding are synchronous. Cheap to clone: clones share the caches.
///
/// ```no_run
/// use edp_avro::{AvroCodec, SchemaRegistryClient};
/// use edp_core::{Publisher, transport::memory::MemoryTransport};
/// # use edp_core::{AvroSchema, Event};
/// # #[derive(serde::Serialize, serde::Deserialize, Event, AvroSchema)]
/// # #[event(name = "order.placed", topic = "orders", avro)]
/// # struct OrderPlaced { order_id: String }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let codec = AvroCodec::new(SchemaRegistryClient::new("http://127.0.0.1:8081")?);
/// let publisher = Publisher::with_codec("order", MemoryTransport::new(), codec);
/// publisher.publish(&OrderPlaced { order_id: "o-1".into() }).await?; // registers once
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct AvroCodec {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: SchemaRegistryClient,
    strategy: SubjectNameStrategy,
    auto_register: bool,
    /// The schema each Rust type writes with, and its id.
    writers: RwLock<HashMap<TypeId, Writer>>,
    /// Writer schemas by id.
    readers: RwLock<HashMap<u32, Arc<Schema>>>,
}

#[derive(Debug)]
struct Writer {
    header: [u8; wire::HEADER_LEN],
    schema: Arc<Schema>,
}

impl AvroCodec {
    /// A codec on `registry`, with the
    /// [`TopicRecordName`](SubjectNameStrategy::TopicRecordName) strategy, registering
    /// schemas it writes with (as Confluent's `auto.register.schemas=true`).
    pub fn new(registry: SchemaRegistryClient) -> Self {
        Self::build(registry, SubjectNameStrategy::default(), true)
    }

    /// The same codec with another subject-name strategy.
    pub fn subject_name_strategy(self, strategy: SubjectNameStrategy) -> Self {
        Self::build(
            self.inner.registry.clone(),
            strategy,
            self.inner.auto_register,
        )
    }

    /// The same codec, but looking schemas up instead of registering them: a type
    /// whose schema is not registered under its subject fails to encode. For
    /// production, where schemas are registered by a deployment step.
    pub fn auto_register(self, register: bool) -> Self {
        Self::build(self.inner.registry.clone(), self.inner.strategy, register)
    }

    fn build(
        registry: SchemaRegistryClient,
        strategy: SubjectNameStrategy,
        auto_register: bool,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                registry,
                strategy,
                auto_register,
                writers: RwLock::default(),
                readers: RwLock::default(),
            }),
        }
    }

    /// The registry client.
    pub fn registry(&self) -> &SchemaRegistryClient {
        &self.inner.registry
    }

    /// The subject-name strategy.
    pub fn strategy(&self) -> SubjectNameStrategy {
        self.inner.strategy
    }

    /// The schema id `E` is written with, once prepared.
    pub fn schema_id_of<E: Event>(&self) -> Option<u32> {
        let writers = self
            .inner
            .writers
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        writers.get(&TypeId::of::<E>()).map(|w| {
            let [_, a, b, c, d] = w.header;
            u32::from_be_bytes([a, b, c, d])
        })
    }
}

/// What a writer schema is prepared for: an event type, by its Rust type.
struct WriterOf<F> {
    type_id: TypeId,
    event_type: &'static str,
    topic: &'static str,
    /// The schema text; called only when the writer is not prepared yet.
    schema: F,
}

impl AvroCodec {
    fn is_prepared(&self, type_id: TypeId) -> bool {
        self.inner
            .writers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&type_id)
    }

    fn prepare_writer<F>(&self, of: WriterOf<F>) -> Option<PrepareFuture>
    where
        F: FnOnce() -> Option<String>,
    {
        if self.is_prepared(of.type_id) {
            return None;
        }
        let inner = self.inner.clone();
        let WriterOf {
            type_id,
            event_type,
            topic,
            schema,
        } = of;
        let schema = schema();
        Some(Box::pin(async move {
            inner
                .prepare_writer(type_id, event_type, topic, schema)
                .await
        }))
    }
}

impl Codec for AvroCodec {
    fn content_type(&self) -> &'static str {
        CONTENT_TYPE
    }

    fn encode<E: Event>(&self, event: &E) -> Result<Bytes, EncodeError> {
        self.inner.encode(TypeId::of::<E>(), E::NAME, event)
    }

    fn encode_dyn(&self, event: &dyn DynEvent) -> Result<Bytes, EncodeError> {
        self.inner
            .encode(event.event_type_id(), event.name(), event.as_serialize())
    }

    fn decode<E: Event>(&self, envelope: &Envelope) -> Result<E, DecodeError> {
        let fail = |reason: String| DecodeError::of::<E>(envelope, reason);
        DecodeError::check::<E>(
            envelope,
            is_avro,
            "Avro; decode this topic with JsonCodec, or with PerTopic to mix both",
        )?;
        let (id, body) = wire::split(&envelope.data).map_err(|e| fail(e.to_string()))?;
        let readers = self
            .inner
            .readers
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(schema) = readers.get(&id) else {
            return Err(fail(format!(
                "writer schema id {id} is not fetched yet; call `Codec::prepare_decode` first (handlers do)"
            )));
        };
        serde_avro_fast::from_datum_slice(body, schema).map_err(|e| {
            let e = e.to_string();
            if e.contains("end of slice") || e.contains("Reached EOF") {
                fail(format!(
                    "truncated Avro data: the payload ends inside a value of writer schema id {id}"
                ))
            } else {
                fail(format!("invalid Avro data for writer schema id {id}: {e}"))
            }
        })
    }

    fn prepare_encode<E: Event>(&self) -> Option<PrepareFuture> {
        self.prepare_writer(WriterOf {
            type_id: TypeId::of::<E>(),
            event_type: E::NAME,
            topic: E::TOPIC,
            schema: E::avro_schema,
        })
    }

    fn prepare_encode_dyn(&self, event: &dyn DynEvent) -> Option<PrepareFuture> {
        self.prepare_writer(WriterOf {
            type_id: event.event_type_id(),
            event_type: event.name(),
            topic: event.topic(),
            schema: || event.avro_schema(),
        })
    }

    fn prepare_decode(&self, envelope: &Envelope) -> Option<PrepareFuture> {
        if !is_avro(&envelope.datacontenttype) {
            return None;
        }
        // Not the wire format: nothing to fetch; `decode` says what is wrong.
        let (id, _) = wire::split(&envelope.data).ok()?;
        let known = self
            .inner
            .readers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&id);
        if known {
            return None;
        }
        let inner = self.inner.clone();
        let (event_type, version) = (envelope.event_type.to_string(), envelope.dataversion);
        Some(Box::pin(async move {
            inner
                .prepare_reader(id)
                .await
                .map_err(|reason| match reason {
                    Failure::Permanent(reason) => PrepareError::Decode(DecodeError {
                        event_type,
                        version,
                        reason,
                    }),
                    Failure::Transient(e) => unavailable(&inner.registry, e),
                })
        }))
    }
}

/// Why preparing failed: for good (with the reason), or for now.
enum Failure {
    Permanent(String),
    Transient(RegistryClientError),
}

impl Inner {
    /// Writes `value`, an `event_type` of Rust type `type_id`, with its prepared
    /// writer schema.
    fn encode<T: serde::Serialize + ?Sized>(
        &self,
        type_id: TypeId,
        event_type: &'static str,
        value: &T,
    ) -> Result<Bytes, EncodeError> {
        let fail = |reason: String| EncodeError { event_type, reason };
        let writers = self.writers.read().unwrap_or_else(PoisonError::into_inner);
        let Some(writer) = writers.get(&type_id) else {
            return Err(fail(
                "its Avro schema is not registered yet; call `Codec::prepare_encode` first (publishers do)"
                    .to_owned(),
            ));
        };
        encode_buffered(|mut buf| {
            buf.extend_from_slice(&writer.header);
            let mut config = serde_avro_fast::ser::SerializerConfig::new(&writer.schema);
            serde_avro_fast::to_datum(value, buf, &mut config)
        })
        .map_err(|e| fail(format!("not writable with its Avro schema: {e}")))
    }

    async fn prepare_writer(
        &self,
        type_id: TypeId,
        event_type: &'static str,
        topic: &'static str,
        schema: Option<String>,
    ) -> Result<(), PrepareError> {
        let fail = |reason: String| PrepareError::Encode(EncodeError { event_type, reason });
        let Some(text) = schema else {
            return Err(fail(
                "it has no Avro schema; derive `AvroSchema` and add `avro` to its #[event(...)]"
                    .to_owned(),
            ));
        };
        let schema: Schema = text
            .parse()
            .map_err(|e| fail(format!("its derived Avro schema is invalid: {e}")))?;
        let record = full_name(&text)
            .ok_or_else(|| fail("its Avro schema is not a named record".to_owned()))?;
        let subject = self.strategy.subject(topic, &record);
        let id = if self.auto_register {
            self.registry.register(&subject, &text).await
        } else {
            self.registry.lookup(&subject, &text).await
        };
        let id = match id {
            Ok(id) => id,
            Err(e) if e.is_transient() => return Err(unavailable(&self.registry, e)),
            Err(e) => return Err(fail(e.to_string())),
        };
        tracing::debug!(event_type, subject, id, "Avro writer schema ready");
        let schema = Arc::new(schema);
        self.readers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id)
            .or_insert_with(|| schema.clone());
        self.writers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                type_id,
                Writer {
                    header: wire::header(id),
                    schema,
                },
            );
        Ok(())
    }

    async fn prepare_reader(&self, id: u32) -> Result<(), Failure> {
        let text = match self.registry.schema(id).await {
            Ok(text) => text,
            Err(e) if e.is_transient() => return Err(Failure::Transient(e)),
            Err(e) => return Err(Failure::Permanent(e.to_string())),
        };
        let schema: Schema = text.parse().map_err(|e| {
            Failure::Permanent(format!(
                "writer schema id {id} from the registry is not a schema this codec reads: {e}"
            ))
        })?;
        self.readers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Arc::new(schema));
        tracing::debug!(id, "Avro writer schema fetched");
        Ok(())
    }
}

fn unavailable(registry: &SchemaRegistryClient, e: RegistryClientError) -> PrepareError {
    PrepareError::Unavailable {
        what: format!("schema registry at {}", registry.url()),
        source: Box::new(e),
    }
}

/// Whether a content type names Avro: `application/avro`, `avro/binary`,
/// `application/vnd.apache.avro+binary`...
pub(crate) fn is_avro(content_type: &str) -> bool {
    content_type.contains("avro")
}

/// The full name of a record schema's JSON text: `namespace.name`.
fn full_name(text: &str) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(text).ok()?;
    let name = json.get("name")?.as_str()?;
    match json.get("namespace").and_then(|n| n.as_str()) {
        Some(ns) if !ns.is_empty() && !name.contains('.') => Some(format!("{ns}.{name}")),
        _ => Some(name.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::full_name;

    #[test]
    fn full_names_join_namespace_and_name() {
        assert_eq!(
            full_name(r#"{"type":"record","name":"OrderPlaced","namespace":"ecommerce.order","fields":[]}"#).as_deref(),
            Some("ecommerce.order.OrderPlaced")
        );
        assert_eq!(
            full_name(r#"{"type":"record","name":"a.B","namespace":"x","fields":[]}"#).as_deref(),
            Some("a.B")
        );
        assert_eq!(full_name(r#""string""#), None);
    }
}
