//! The producer: librdkafka's threaded producer (idempotent, `acks=all`, batching by
//! linger), with one completion per published batch instead of one future per record.
//!
//! Each record carries a shared counter of its batch as the delivery opaque; the
//! delivery callback (on librdkafka's polling thread) counts down and completes the
//! batch when the last record is acknowledged, with the first error if any record
//! failed. A full local queue is backpressure: the publisher waits and tries again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
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

/// A shared producer. After a fatal error (an idempotent producer fenced or out of
/// sequence, which it cannot recover from) it is replaced by a new one.
#[derive(Clone)]
pub(crate) struct Producer {
    current: Arc<RwLock<ThreadedProducer<Reports>>>,
    config: Arc<KafkaConfig>,
}

fn create(config: &KafkaConfig) -> Result<ThreadedProducer<Reports>, KafkaTransportError> {
    config
        .producer()
        .create_with_context(Reports)
        .map_err(|source| KafkaTransportError::Client {
            what: "producer",
            source,
        })
}

impl Producer {
    pub(crate) fn new(config: Arc<KafkaConfig>) -> Result<Self, KafkaTransportError> {
        Ok(Self {
            current: Arc::new(RwLock::new(create(&config)?)),
            config,
        })
    }

    fn get(&self) -> ThreadedProducer<Reports> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces `failed` with a new producer if it hit a fatal error, or the brokers
    /// no longer accept its producer identity (fenced, epoch or sequence lost).
    fn renew_if_fatal(&self, failed: &ThreadedProducer<Reports>, error: Option<&KafkaError>) {
        let identity_lost = matches!(
            error.and_then(KafkaError::rdkafka_error_code),
            Some(
                RDKafkaErrorCode::ProducerFenced
                    | RDKafkaErrorCode::InvalidProducerEpoch
                    | RDKafkaErrorCode::UnknownProducerId
                    | RDKafkaErrorCode::OutOfOrderSequenceNumber
            )
        );
        let (code, reason) = match failed.client().fatal_error() {
            Some(fatal) => fatal,
            None if identity_lost => (
                error
                    .and_then(KafkaError::rdkafka_error_code)
                    .unwrap_or(RDKafkaErrorCode::Fail),
                "the brokers no longer accept this producer's identity".to_owned(),
            ),
            None => return,
        };
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if !std::ptr::eq(current.client().native_ptr(), failed.client().native_ptr()) {
            return; // replaced by another publisher already
        }
        match create(&self.config) {
            Ok(fresh) => {
                tracing::error!(?code, %reason, "the producer hit a fatal error; replaced it with a new one");
                *current = fresh;
            }
            Err(e) => tracing::error!(error = %e, "cannot replace the failed producer"),
        }
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
        let producer = self.get();
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
                match producer.send(rec) {
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
        let result = rx.await;
        match &result {
            Ok(None) => {}
            Ok(Some(e)) => self.renew_if_fatal(&producer, Some(e)),
            Err(_) => self.renew_if_fatal(&producer, None),
        }
        match result {
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
        self.get().flush(timeout)
    }
}
