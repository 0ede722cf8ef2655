use std::cell::Cell;

use bytes::Bytes;

use super::{Codec, DecodeError, EncodeError};
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
        // Serialize into a reused per-thread buffer, then copy out exactly: one
        // allocation of the right size instead of a guess and its regrowth.
        SCRATCH.with(|scratch| {
            let mut buf = scratch.take();
            buf.clear();
            let result = serde_json::to_writer(&mut buf, event);
            let out = result.map(|()| Bytes::copy_from_slice(&buf));
            if buf.capacity() <= MAX_SCRATCH {
                scratch.set(buf);
            }
            out.map_err(|e| EncodeError {
                event_type: E::NAME,
                reason: e.to_string(),
            })
        })
    }

    fn decode<E: Event>(&self, envelope: &Envelope) -> Result<E, DecodeError> {
        let fail = |reason: String| DecodeError {
            event_type: E::NAME.to_owned(),
            version: envelope.dataversion,
            reason,
        };
        if envelope.event_type != E::NAME {
            return Err(fail(format!(
                "the envelope carries type `{}`",
                envelope.event_type
            )));
        }
        if !envelope.datacontenttype.ends_with("json") {
            return Err(fail(format!(
                "content type `{}` is not JSON",
                envelope.datacontenttype
            )));
        }
        serde_json::from_slice(&envelope.data).map_err(|e| fail(e.to_string()))
    }
}

/// The largest scratch buffer kept per thread; larger payloads use a fresh one.
const MAX_SCRATCH: usize = 64 * 1024;

thread_local! {
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}
