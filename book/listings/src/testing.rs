//! The Testing chapter: the testkit, the paused clock, and the transport conformance
//! suite, run here on a small transport written for the chapter.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use edp_core::Envelope;
use edp_core::transport::{
    Capabilities, CloseError, PublishError, SubscribeError, SubscribeOptions, Transport,
};

// ANCHOR: new_transport
/// A transport that counts what it publishes and delegates everything else: the
/// smallest "new transport" there is. Clones share the count.
#[derive(Debug, Clone)]
pub struct Counting<T> {
    inner: T,
    published: Arc<AtomicU64>,
}

impl<T> Counting<T> {
    /// Counts what `inner` publishes.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            published: Arc::default(),
        }
    }

    /// Envelopes published so far through this client and its clones.
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }
}

impl<T: Transport> Transport for Counting<T> {
    type Subscriber = T::Subscriber;

    async fn publish(&self, topic: &str, batch: Vec<Envelope>) -> Result<(), PublishError> {
        let n = batch.len() as u64;
        self.inner.publish(topic, batch).await?;
        self.published.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    async fn subscribe(&self, options: SubscribeOptions) -> Result<T::Subscriber, SubscribeError> {
        self.inner.subscribe(options).await
    }

    async fn close(&self) -> Result<(), CloseError> {
        self.inner.close().await
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
}
// ANCHOR_END: new_transport

#[cfg(test)]
mod tests;
