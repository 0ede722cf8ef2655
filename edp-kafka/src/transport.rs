//! [`KafkaTransport`]: the [`Transport`] on Kafka.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use edp_core::Envelope;
use edp_core::transport::{
    Capabilities, CloseError, PublishError, SubscribeError, SubscribeOptions, Transport,
};
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::admin::Topics;
use crate::config::KafkaConfig;
use crate::consumer::{GroupContext, KafkaSubscriber, Shared, spawn};
use crate::error::KafkaTransportError;
use crate::producer::Producer;

/// The [`Transport`] on Apache Kafka and Kafka-compatible brokers (Redpanda, managed
/// Kafka), through librdkafka.
///
/// A value is one client: a producer shared by its clones, and one group member per
/// [`subscribe`](Transport::subscribe). Records carry envelopes in the CloudEvents Kafka
/// binding (binary mode). See [`KafkaConfig`] for the guarantees and settings.
///
/// ```no_run
/// use edp_kafka::{KafkaConfig, KafkaTransport};
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let transport = KafkaTransport::connect(KafkaConfig::new("localhost:9092"))?;
/// transport.health().await?;
/// // Service::builder("payment", transport) ... exactly as on the in-memory transport.
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct KafkaTransport {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<KafkaConfig>,
    producer: Producer,
    topics: Topics,
    subscribers: Mutex<Vec<Weak<Shared>>>,
    closed: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for KafkaTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaTransport")
            .field("brokers", &self.inner.config.brokers)
            .finish_non_exhaustive()
    }
}

impl KafkaTransport {
    /// A client of the brokers in `config`. Connecting happens in the background:
    /// this fails only on a bad configuration; use [`health`](Self::health) to check
    /// that the brokers answer.
    pub fn connect(config: KafkaConfig) -> Result<Self, KafkaTransportError> {
        let config = Arc::new(config);
        Ok(Self {
            inner: Arc::new(Inner {
                producer: Producer::new(config.clone())?,
                topics: Topics::new(config.clone())?,
                config,
                subscribers: Mutex::new(Vec::new()),
                closed: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &KafkaConfig {
        &self.inner.config
    }

    /// Fetches the cluster's metadata: `Ok` when the brokers answer within the
    /// request timeout. Use it for readiness probes.
    pub async fn health(&self) -> Result<(), KafkaTransportError> {
        self.inner.topics.metadata().await.map(|_| ())
    }

    fn is_closed(&self) -> bool {
        self.inner.closed.load(std::sync::atomic::Ordering::Acquire)
    }
}

impl Transport for KafkaTransport {
    type Subscriber = KafkaSubscriber;

    async fn publish(&self, topic: &str, batch: Vec<Envelope>) -> Result<(), PublishError> {
        if self.is_closed() {
            return Err(PublishError::Closed {
                topic: topic.to_owned(),
            });
        }
        let broker = |e: KafkaTransportError| PublishError::Broker {
            topic: topic.to_owned(),
            source: Box::new(e),
        };
        self.inner.topics.ensure(&[topic]).await.map_err(broker)?;
        let published = self.inner.producer.publish(topic, &batch).await;
        if published.is_err() {
            // The topic may have gone away (deleted, or the brokers lost it), which
            // librdkafka reports as a timeout: make sure it exists next time.
            self.inner.topics.forget(topic);
        }
        published.map_err(broker)
    }

    async fn subscribe(
        &self,
        options: SubscribeOptions,
    ) -> Result<KafkaSubscriber, SubscribeError> {
        let group = options.group;
        if self.is_closed() {
            return Err(SubscribeError::Closed { group });
        }
        if options.topics.is_empty() {
            return Err(SubscribeError::Invalid {
                group,
                reason: "no topics to consume; name at least one".into(),
            });
        }
        let broker = |group: &str, e: KafkaTransportError| SubscribeError::Broker {
            group: group.to_owned(),
            source: Box::new(e),
        };
        let topics: Vec<&str> = options.topics.iter().map(String::as_str).collect();
        self.inner
            .topics
            .ensure(&topics)
            .await
            .map_err(|e| broker(&group, e))?;
        let shared = Shared::new(self.inner.config.clone(), group.clone());
        let consumer: BaseConsumer<GroupContext> = self
            .inner
            .config
            .consumer(&group)
            .create_with_context(GroupContext {
                shared: shared.clone(),
            })
            .map_err(|source| {
                broker(
                    &group,
                    KafkaTransportError::Client {
                        what: "consumer",
                        source,
                    },
                )
            })?;
        consumer.subscribe(&topics).map_err(|source| {
            broker(
                &group,
                KafkaTransportError::Admin {
                    what: format!("subscribe to {topics:?}"),
                    source,
                },
            )
        })?;
        spawn(consumer, shared.clone()).map_err(|e| SubscribeError::Broker {
            group: group.clone(),
            source: Box::new(e),
        })?;
        let mut subs = self
            .inner
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        subs.retain(|w| w.strong_count() > 0);
        subs.push(Arc::downgrade(&shared));
        drop(subs);
        tracing::info!(%group, ?topics, "subscribed");
        Ok(KafkaSubscriber::new(shared))
    }

    async fn close(&self) -> Result<(), CloseError> {
        self.inner
            .closed
            .store(true, std::sync::atomic::Ordering::Release);
        let subs: Vec<Arc<Shared>> = self
            .inner
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .filter_map(|w| w.upgrade())
            .collect();
        let mut first_error = None;
        for shared in subs {
            if let Err(e) = shared.shutdown().await {
                first_error.get_or_insert(e);
            }
        }
        let producer = self.inner.producer.clone();
        let timeout = self.inner.config.request_timeout;
        let flushed = tokio::task::spawn_blocking(move || producer.flush(timeout)).await;
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first_error.get_or_insert(CloseError(Box::new(e)));
            }
            Err(e) => {
                first_error.get_or_insert(CloseError(Box::new(e)));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn messaging_system(&self) -> &'static str {
        "kafka"
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::all();
        caps.slow_group_join = true;
        caps
    }

    async fn health(&self) -> Result<(), edp_core::error::BoxError> {
        KafkaTransport::health(self).await.map_err(Into::into)
    }
}
