//! [`PerTopic`]: JSON on some topics, Avro on the others, in one service.

use std::sync::Arc;

use bytes::Bytes;
use edp_core::codec::{DecodeError, EncodeError, PrepareFuture};
use edp_core::event::DynEvent;
use edp_core::{Codec, Envelope, Event, JsonCodec};

use crate::codec::{AvroCodec, CONTENT_TYPE, is_avro};

/// Avro on every topic but the ones named JSON.
///
/// Encoding chooses by the event's topic ([`Event::TOPIC`]) and writes the matching
/// `datacontenttype`; decoding chooses by the envelope's `datacontenttype` (`...json`
/// is JSON, `...avro...` is Avro), so a consumer reads both whatever the topic, for
/// example while a topic moves from JSON to Avro.
///
/// ```no_run
/// use edp_avro::{AvroCodec, PerTopic, SchemaRegistryClient};
///
/// # fn main() -> Result<(), edp_avro::RegistryClientError> {
/// let registry = SchemaRegistryClient::new("http://127.0.0.1:8081")?;
/// // `audit` stays JSON for the log shippers that read it; the rest is Avro.
/// let codec = PerTopic::new(AvroCodec::new(registry)).json_topic("audit");
/// # let _ = codec; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PerTopic {
    avro: AvroCodec,
    json_topics: Arc<Vec<String>>,
}

impl PerTopic {
    /// Avro on every topic.
    pub fn new(avro: AvroCodec) -> Self {
        Self {
            avro,
            json_topics: Arc::new(Vec::new()),
        }
    }

    /// JSON on `topic` too.
    pub fn json_topic(mut self, topic: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.json_topics).push(topic.into());
        self
    }

    /// Whether events of `topic` are written as JSON.
    pub fn is_json(&self, topic: &str) -> bool {
        self.json_topics.iter().any(|t| t == topic)
    }

    /// The Avro codec.
    pub fn avro(&self) -> &AvroCodec {
        &self.avro
    }
}

impl Codec for PerTopic {
    /// Avro's; events on JSON topics are `application/json`
    /// ([`content_type_for`](Codec::content_type_for)).
    fn content_type(&self) -> &'static str {
        CONTENT_TYPE
    }

    fn content_type_for<E: Event>(&self) -> &'static str {
        if self.is_json(E::TOPIC) {
            JsonCodec.content_type()
        } else {
            CONTENT_TYPE
        }
    }

    fn encode<E: Event>(&self, event: &E) -> Result<Bytes, EncodeError> {
        if self.is_json(E::TOPIC) {
            JsonCodec.encode(event)
        } else {
            self.avro.encode(event)
        }
    }

    fn content_type_for_dyn(&self, event: &dyn DynEvent) -> &'static str {
        if self.is_json(event.topic()) {
            JsonCodec.content_type()
        } else {
            CONTENT_TYPE
        }
    }

    fn encode_dyn(&self, event: &dyn DynEvent) -> Result<Bytes, EncodeError> {
        if self.is_json(event.topic()) {
            JsonCodec.encode_dyn(event)
        } else {
            self.avro.encode_dyn(event)
        }
    }

    fn prepare_encode_dyn(&self, event: &dyn DynEvent) -> Option<PrepareFuture> {
        if self.is_json(event.topic()) {
            None
        } else {
            self.avro.prepare_encode_dyn(event)
        }
    }

    fn decode<E: Event>(&self, envelope: &Envelope) -> Result<E, DecodeError> {
        if is_avro(&envelope.datacontenttype) {
            self.avro.decode(envelope)
        } else {
            // JSON, or a content type neither knows: JsonCodec names it.
            JsonCodec.decode(envelope)
        }
    }

    fn prepare_encode<E: Event>(&self) -> Option<PrepareFuture> {
        if self.is_json(E::TOPIC) {
            None
        } else {
            self.avro.prepare_encode::<E>()
        }
    }

    fn prepare_decode(&self, envelope: &Envelope) -> Option<PrepareFuture> {
        self.avro.prepare_decode(envelope)
    }
}
