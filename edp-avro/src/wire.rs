//! The Confluent wire format: magic byte `0`, the schema id as a 4-byte big-endian
//! unsigned integer, then the Avro binary encoding of the value.
//!
//! ```
//! use edp_avro::wire;
//!
//! let mut payload = wire::header(7).to_vec();
//! payload.extend_from_slice(&[6, b'f', b'o', b'o']); // the Avro string "foo"
//! assert_eq!(payload[..5], [0, 0, 0, 0, 7]);
//! assert_eq!(wire::split(&payload)?, (7, &[6, b'f', b'o', b'o'][..]));
//!
//! let err = wire::split(&[1, 0, 0, 0, 7, 6]).unwrap_err();
//! assert_eq!(err.to_string(), "wrong magic byte 1: not the Confluent wire format (magic byte 0, 4-byte schema id, Avro binary)");
//! # Ok::<(), wire::WireError>(())
//! ```

/// The first byte of every payload.
pub const MAGIC: u8 = 0;

/// The length of the header: magic byte and schema id.
pub const HEADER_LEN: usize = 5;

/// The header of a payload written with schema `id`.
pub fn header(id: u32) -> [u8; HEADER_LEN] {
    let [a, b, c, d] = id.to_be_bytes();
    [MAGIC, a, b, c, d]
}

/// Splits a payload into its schema id and Avro body.
///
/// # Errors
///
/// [`WireError`] when the payload is shorter than the header or its first byte is not
/// [`MAGIC`].
pub fn split(payload: &[u8]) -> Result<(u32, &[u8]), WireError> {
    match payload {
        [MAGIC, a, b, c, d, body @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), body)),
        [magic, ..] if *magic != MAGIC => Err(WireError::Magic(*magic)),
        _ => Err(WireError::Short(payload.len())),
    }
}

/// A payload is not in the Confluent wire format.
///
/// Handling: not retryable; the consumer dead-letters the event with this reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The first byte is not 0.
    #[error(
        "wrong magic byte {0}: not the Confluent wire format (magic byte 0, 4-byte schema id, Avro binary)"
    )]
    Magic(u8),
    /// Fewer than 5 bytes.
    #[error(
        "truncated payload of {0} bytes: the Confluent wire format starts with 5 (magic byte 0, 4-byte schema id)"
    )]
    Short(usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_round_trips_any_id() {
        for id in [0, 1, 255, 256, 0x0102_0304, u32::MAX] {
            let mut payload = header(id).to_vec();
            payload.push(42);
            assert_eq!(split(&payload), Ok((id, &[42][..])));
        }
        assert_eq!(header(0x0102_0304), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn short_and_foreign_payloads_are_named() {
        assert_eq!(split(&[]), Err(WireError::Short(0)));
        assert_eq!(split(&[0, 0, 1]), Err(WireError::Short(3)));
        assert_eq!(split(b"{\""), Err(WireError::Magic(b'{')));
        assert_eq!(split(&[0, 0, 0, 0, 9]), Ok((9, &[][..])));
    }
}
