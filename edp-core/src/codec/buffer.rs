//! The encode buffer codecs share: serialize into a reused per-thread buffer, then
//! copy out exactly, so that an encoded event costs one allocation of the right size
//! instead of a guess and its regrowth.

use std::cell::Cell;

use bytes::Bytes;

/// The largest buffer kept per thread; larger payloads use a fresh one.
const MAX_KEPT: usize = 64 * 1024;

thread_local! {
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Runs `write` on an empty per-thread buffer (it returns the filled buffer) and
/// copies the result out. For [`Codec::encode`](super::Codec::encode)
/// implementations.
///
/// ```
/// let bytes = edp_core::codec::encode_buffered(|mut buf| {
///     serde_json::to_writer(&mut buf, &[1, 2, 3]).map(|()| buf)
/// })?;
/// assert_eq!(&bytes[..], b"[1,2,3]");
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn encode_buffered<E>(write: impl FnOnce(Vec<u8>) -> Result<Vec<u8>, E>) -> Result<Bytes, E> {
    SCRATCH.with(|scratch| {
        let mut buf = scratch.take();
        buf.clear();
        let buf = write(buf)?;
        let out = Bytes::copy_from_slice(&buf);
        if buf.capacity() <= MAX_KEPT {
            scratch.set(buf);
        }
        Ok(out)
    })
}
