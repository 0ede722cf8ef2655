//! Topics: created when missing (with the configured partitions and replication), and
//! the health check.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::config::KafkaConfig;
use crate::error::KafkaTransportError;

/// Creates topics once per client and remembers which exist.
pub(crate) struct Topics {
    admin: Arc<AdminClient<DefaultClientContext>>,
    config: Arc<KafkaConfig>,
    known: Mutex<HashSet<String>>,
}

impl Topics {
    pub(crate) fn new(config: Arc<KafkaConfig>) -> Result<Self, KafkaTransportError> {
        let admin = config
            .admin()
            .create()
            .map_err(|source| KafkaTransportError::Client {
                what: "admin client",
                source,
            })?;
        Ok(Self {
            admin: Arc::new(admin),
            config,
            known: Mutex::new(HashSet::new()),
        })
    }

    fn is_known(&self, topic: &str) -> bool {
        self.known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(topic)
    }

    /// Makes sure every topic exists: creates the missing ones when configured to,
    /// or fails naming the one that does not exist.
    pub(crate) async fn ensure(&self, topics: &[&str]) -> Result<(), KafkaTransportError> {
        let missing: Vec<&str> = topics
            .iter()
            .copied()
            .filter(|t| !self.is_known(t))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        // The brokers may not be up yet (a service starting next to them): retry with
        // backoff until the startup timeout.
        let deadline = Instant::now() + self.config.startup_timeout;
        let mut wait = Duration::from_millis(100);
        loop {
            let attempt = if self.config.create_topics {
                self.create(&missing).await
            } else {
                self.check_exist(&missing).await
            };
            match attempt {
                Ok(()) => break,
                Err(e @ KafkaTransportError::NoSuchTopic(_)) => return Err(e),
                Err(e) if Instant::now() + wait < deadline => {
                    tracing::warn!(error = %e, retry_in = ?wait, "Kafka not ready; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e),
            }
        }
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        known.extend(missing.iter().map(|t| (*t).to_owned()));
        Ok(())
    }

    async fn create(&self, topics: &[&str]) -> Result<(), KafkaTransportError> {
        let new: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|t| {
                NewTopic::new(
                    t,
                    self.config.topic_partitions,
                    TopicReplication::Fixed(self.config.topic_replication),
                )
            })
            .collect();
        let options = AdminOptions::new()
            .operation_timeout(Some(self.config.request_timeout))
            .request_timeout(Some(self.config.request_timeout));
        let results = self
            .admin
            .create_topics(&new, &options)
            .await
            .map_err(|source| KafkaTransportError::Admin {
                what: format!("create topics {topics:?}"),
                source,
            })?;
        for r in results {
            match r {
                Ok(topic) => {
                    tracing::info!(%topic, partitions = self.config.topic_partitions, "topic created")
                }
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(KafkaTransportError::Admin {
                        what: format!("create topic `{topic}`"),
                        source: KafkaError::AdminOp(code),
                    });
                }
            }
        }
        Ok(())
    }

    /// Fails naming the first topic the brokers do not have.
    async fn check_exist(&self, topics: &[&str]) -> Result<(), KafkaTransportError> {
        let existing = self.metadata().await?;
        match topics.iter().find(|t| !existing.contains(**t)) {
            Some(absent) => Err(KafkaTransportError::NoSuchTopic((*absent).to_owned())),
            None => Ok(()),
        }
    }

    /// Forgets that `topic` exists (the brokers said it does not), so the next
    /// publish creates it again.
    pub(crate) fn forget(&self, topic: &str) {
        self.known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(topic);
    }

    /// Fetches the cluster's metadata: the health check.
    pub(crate) async fn metadata(&self) -> Result<HashSet<String>, KafkaTransportError> {
        let admin = self.admin.clone();
        let timeout = self.config.request_timeout;
        let brokers = self.config.brokers.clone();
        // The metadata call blocks; keep it off the async workers.
        let fetched = tokio::task::spawn_blocking(move || {
            admin
                .inner()
                .fetch_metadata(None, timeout)
                .map(|m| m.topics().iter().map(|t| t.name().to_owned()).collect())
        })
        .await
        .unwrap_or(Err(KafkaError::Canceled));
        fetched.map_err(|source| KafkaTransportError::Unreachable {
            brokers,
            timeout,
            source: Box::new(source),
        })
    }
}
