use bytes::Bytes;

use super::{Codec, DecodeError, EncodeError, encode_buffered};
use crate::event::DynEvent;
use crate::{Envelope, Event};

/// JSON through serde_json: the default codec, content type `application/json`.
///
/// Decoding accepts any content type that ends in `json` (`application/json`,
/// `application/cloudevents+json`, `text/json`) and rejects others with a
/// [`DecodeError`].
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonCodec;

impl Codec for JsonCodec {
    fn content_type(&self) -> &'static str {
        "application/json"
    }

    fn encode<E: Event>(&self, event: &E) -> Result<Bytes, EncodeError> {
        encode_buffered(|mut buf| serde_json::to_writer(&mut buf, event).map(|()| buf)).map_err(
            |e| EncodeError {
                event_type: E::NAME,
                reason: e.to_string(),
            },
        )
    }

    fn encode_dyn(&self, event: &dyn DynEvent) -> Result<Bytes, EncodeError> {
        encode_buffered(|mut buf| {
            serde_json::to_writer(&mut buf, event.as_serialize()).map(|()| buf)
        })
        .map_err(|e| EncodeError {
            event_type: event.name(),
            reason: e.to_string(),
        })
    }

    fn decode<E: Event>(&self, envelope: &Envelope) -> Result<E, DecodeError> {
        DecodeError::check::<E>(envelope, |ct| ct.ends_with("json"), "JSON")?;
        serde_json::from_slice(&envelope.data)
            .map_err(|e| DecodeError::of::<E>(envelope, e.to_string()))
    }
}
