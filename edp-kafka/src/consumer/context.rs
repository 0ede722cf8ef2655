//! Rebalance callbacks: on revoke, stop leasing, wait for in-flight records, and
//! commit the partition's safe offset before it goes.

use std::sync::Arc;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::Shared;

/// The consumer's context: its link to the subscriber's state.
pub(crate) struct GroupContext {
    pub(crate) shared: Arc<Shared>,
}

impl ClientContext for GroupContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        crate::log::forward(level, fac, message);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        tracing::warn!(group = %self.shared.group, %error, reason, "kafka client error; it retries");
    }

    /// librdkafka's statistics (every 5 s when metrics are on): each fetched
    /// partition's lag as `edp_consumer_lag`: the last stable offset (what a
    /// read-committed consumer can read) minus the committed offset, or minus the log
    /// start while the group has committed nothing (it reads from the earliest).
    fn stats(&self, stats: rdkafka::Statistics) {
        for (topic, t) in &stats.topics {
            for (partition, p) in &t.partitions {
                let Ok(partition) = u32::try_from(*partition) else {
                    continue; // the internal "unassigned" partition
                };
                if p.fetch_state == "none" {
                    continue; // not assigned to this member
                }
                let end = if p.ls_offset >= 0 {
                    p.ls_offset
                } else {
                    p.hi_offset
                };
                let from = if p.committed_offset >= 0 {
                    p.committed_offset
                } else {
                    p.lo_offset
                };
                if end < 0 || from < 0 {
                    continue; // not known yet
                }
                let lag = u64::try_from(end - from).unwrap_or(0);
                edp_core::telemetry::metrics::set_consumer_lag(
                    &self.shared.group,
                    topic,
                    partition,
                    lag,
                );
            }
        }
    }
}

fn pairs(tpl: &TopicPartitionList) -> Vec<(String, i32)> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

/// Stores and commits `offsets` synchronously.
pub(crate) fn commit(consumer: &BaseConsumer<GroupContext>, offsets: &[(&str, i32, i64)]) {
    if offsets.is_empty() {
        return;
    }
    let mut tpl = TopicPartitionList::with_capacity(offsets.len());
    for (topic, partition, at) in offsets {
        if let Err(e) = tpl.add_partition_offset(topic, *partition, Offset::Offset(*at)) {
            tracing::warn!(topic, partition, error = %e, "cannot build the offset list");
        }
    }
    // Stored too, so that librdkafka's own commit on unassign never sends an older one.
    let _ = consumer.store_offsets(&tpl);
    if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
        tracing::warn!(error = %e, ?offsets, "cannot commit offsets; the records after the last commit will be delivered again");
    } else {
        tracing::debug!(?offsets, "offsets committed");
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.shared.rebalanced();
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let commits = self.shared.revoke(&pairs(tpl));
                let offsets: Vec<(&str, i32, i64)> = commits
                    .iter()
                    .map(|(t, p, o)| (t.as_str(), *p, *o))
                    .collect();
                commit(consumer, &offsets);
            }
            Rebalance::Assign(tpl) => self.shared.assign(&pairs(tpl)),
            Rebalance::Error(e) => {
                self.shared.rebalanced();
                tracing::warn!(group = %self.shared.group, error = %e, "rebalance failed; the group retries");
            }
        }
    }
}
