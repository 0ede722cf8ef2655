//! The producer: librdkafka's threaded producer (idempotent, `acks=all`, batching by
//! linger), with one completion per published batch instead of one future per record.
//!
//! Each record carries a shared counter of its batch as the delivery opaque; the
//! delivery callback (on librdkafka's polling thread) counts down and completes the
//! batch when the last record is acknowledged, with the first error if any record
//! failed. A full local queue is backpressure: the publisher waits and tries again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use edp_core::Envelope;
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Message, OwnedHeaders};
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer as _, ProducerContext, ThreadedProducer,
};
use tokio::sync::oneshot;

use crate::config::KafkaConfig;
use crate::error::KafkaTransportError;
use crate::record;

/// The completion of one published batch.
pub(crate) struct Batch {
    left: AtomicUsize,
    error: Mutex<Option<KafkaError>>,
    done: Mutex<Option<oneshot::Sender<Option<KafkaError>>>>,
}

impl Batch {
    fn new(records: usize) -> (Arc<Self>, oneshot::Receiver<Option<KafkaError>>) {
        let (tx, rx) = oneshot::channel();
        let batch = Arc::new(Self {
            left: AtomicUsize::new(records),
            error: Mutex::new(None),
            done: Mutex::new(Some(tx)),
        });
        (batch, rx)
    }

    /// One record is settled; `error` if it failed.
    fn settle(&self, error: Option<KafkaError>) {
        if let Some(e) = error {
            let mut first = self.error.lock().unwrap_or_else(PoisonError::into_inner);
            first.get_or_insert(e);
        }
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            let error = self
                .error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            let tx = self
                .done
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(tx) = tx {
                let _ = tx.send(error);
            }
        }
    }
}

/// Routes delivery reports to their batch.
pub(crate) struct Reports;

impl ClientContext for Reports {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        crate::log::forward(level, fac, message);
    }
}

impl ProducerContext for Reports {
    type DeliveryOpaque = Arc<Batch>;

    fn delivery(&self, result: &DeliveryResult<'_>, batch: Arc<Batch>) {
        match result {
            Ok(_) => batch.settle(None),
            Err((e, msg)) => {
                tracing::warn!(topic = msg.topic(), error = %e, "record not delivered");
                batch.settle(Some(e.clone()));
            }
        }
    }
}

/// A shared producer.
#[derive(Clone)]
pub(crate) struct Producer {
    inner: ThreadedProducer<Reports>,
}

impl Producer {
    pub(crate) fn new(config: &KafkaConfig) -> Result<Self, KafkaTransportError> {
        let inner = config
            .producer()
            .create_with_context(Reports)
            .map_err(|source| KafkaTransportError::Client {
                what: "producer",
                source,
            })?;
        Ok(Self { inner })
    }

    /// Sends every envelope and waits until the brokers acknowledged all of them.
    pub(crate) async fn publish(
        &self,
        topic: &str,
        batch: &[Envelope],
    ) -> Result<(), KafkaTransportError> {
        if batch.is_empty() {
            return Ok(());
        }
        let (done, rx) = Batch::new(batch.len());
        for (i, env) in batch.iter().enumerate() {
            let headers: OwnedHeaders = record::headers_of(env);
            let mut rec = BaseRecord::with_opaque_to(topic, done.clone())
                .payload(env.data.as_ref())
                .headers(headers)
                .timestamp(record::millis(env.time));
            if let Some(key) = env.subject.as_deref() {
                rec = rec.key(key);
            }
            let mut wait = Duration::from_micros(200);
            loop {
                match self.inner.send(rec) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // The local queue is full: wait for deliveries to drain it.
                        rec = back;
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_millis(50));
                    }
                    Err((source, _)) => {
                        // The records not sent never report; settle them here so
                        // the batch completes once the sent ones are acknowledged.
                        for _ in i..batch.len() {
                            done.settle(Some(source.clone()));
                        }
                        break;
                    }
                }
            }
        }
        drop(done);
        match rx.await {
            Ok(None) => Ok(()),
            Ok(Some(source)) => Err(KafkaTransportError::Produce {
                topic: topic.to_owned(),
                source,
            }),
            // invariant: every record settles its batch (delivered, failed, or
            // never sent), so the sender is only dropped after sending.
            Err(_) => Err(KafkaTransportError::Produce {
                topic: topic.to_owned(),
                source: KafkaError::Canceled,
            }),
        }
    }

    /// Waits until every record sent is delivered or failed.
    pub(crate) fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.inner.flush(timeout)
    }
}
