//! The poll thread: owns the librdkafka consumer for the subscriber's life.

use std::sync::Arc;
use std::time::{Duration, Instant};

use edp_core::SharedEnvelope;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::Shared;
use super::context::{GroupContext, commit};
use super::partition::Entry;
use crate::record;

/// How long the group must be quiet (no rebalance callback) before a closing consumer
/// is destroyed.
const SETTLE: Duration = Duration::from_millis(300);

/// Records taken from librdkafka per lock of the shared state.
const FETCH_BATCH: usize = 256;

/// Starts the poll thread of `consumer`.
pub(crate) fn spawn(
    consumer: BaseConsumer<GroupContext>,
    shared: Arc<Shared>,
) -> std::io::Result<()> {
    let name = format!("edp-kafka-{}", shared.group);
    std::thread::Builder::new()
        .name(name)
        .spawn(move || run(consumer, shared))
        .map(|_| ())
}

fn run(consumer: BaseConsumer<GroupContext>, shared: Arc<Shared>) {
    let mut fetched = Vec::with_capacity(FETCH_BATCH);
    let mut reader = record::Reader::default();
    let mut last_topic: &'static str = "";
    while !shared.closing() {
        let mut timeout = Duration::from_millis(100);
        while fetched.len() < FETCH_BATCH {
            match consumer.poll(timeout) {
                None => break,
                Some(Ok(msg)) => {
                    if msg.topic() != last_topic {
                        last_topic = edp_core::intern::intern(msg.topic());
                    }
                    let topic = last_topic;
                    let entry = Entry {
                        offset: msg.offset(),
                        envelope: SharedEnvelope::new(reader.envelope(&msg)),
                        redeliveries: 0,
                    };
                    fetched.push((topic, msg.partition(), entry));
                }
                Some(Err(e)) => {
                    tracing::warn!(group = %shared.group, error = %e, "fetch failed; librdkafka retries");
                    break;
                }
            }
            timeout = Duration::ZERO;
        }
        if !fetched.is_empty() {
            let full = shared.push(std::mem::take(&mut fetched));
            pause(&consumer, &full, true);
        }
        pause(&consumer, &shared.drained(), false);
        shared.promote_due();
        store(&consumer, &shared.take_commits(false));
    }
    // Closing: let in-flight handlers finish, commit what they made safe, leave.
    shared.wait_in_flight(shared.config.revoke_timeout);
    let offsets = shared.take_commits(true);
    let offsets: Vec<(&str, i32, i64)> = offsets.iter().map(|(t, p, o)| (*t, *p, *o)).collect();
    commit(&consumer, &offsets);
    // Leave gracefully: unsubscribe and serve the revoke before destroying the
    // consumer. Destroying it in the middle of a rebalance can trip an assertion in
    // librdkafka (confluentinc/librdkafka#4792) and abort the process.
    //
    // Nor does it leave in the middle of a join: a member that leaves while its
    // JoinGroup is pending can be made the leader of a generation it never syncs, and
    // a coordinator that does not expire it keeps the group from forming. So wait for
    // the assignment first (records fetched meanwhile are not handled; the next
    // owner gets them).
    let joining = Instant::now() + shared.config.revoke_timeout;
    while !shared.joined() && Instant::now() < joining {
        let _ = consumer.poll(Duration::from_millis(50));
    }
    consumer.unsubscribe();
    let start = Instant::now();
    let deadline = start + shared.config.revoke_timeout;
    while Instant::now() < deadline {
        let _ = consumer.poll(Duration::from_millis(50));
        let settled = start.elapsed() > SETTLE && shared.since_rebalance() > SETTLE;
        if settled && consumer.assignment().is_ok_and(|a| a.count() == 0) {
            break;
        }
    }
    drop(consumer); // closes the consumer queue and leaves the group
    tracing::info!(group = %shared.group, "left the consumer group");
    shared.stopped.send_replace(true);
}

fn tpl_of(parts: &[(&str, i32)]) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::with_capacity(parts.len());
    for (t, p) in parts {
        tpl.add_partition(t, *p);
    }
    tpl
}

fn pause(consumer: &BaseConsumer<GroupContext>, parts: &[(&'static str, i32)], stop: bool) {
    if parts.is_empty() {
        return;
    }
    let tpl = tpl_of(parts);
    let r = if stop {
        consumer.pause(&tpl)
    } else {
        consumer.resume(&tpl)
    };
    match r {
        Ok(()) => tracing::debug!(?parts, paused = stop, "fetching paused or resumed"),
        Err(e) => tracing::warn!(?parts, error = %e, "cannot pause or resume fetching"),
    }
}

fn store(consumer: &BaseConsumer<GroupContext>, offsets: &[(&'static str, i32, i64)]) {
    if offsets.is_empty() {
        return;
    }
    let mut tpl = TopicPartitionList::with_capacity(offsets.len());
    for (t, p, o) in offsets {
        let _ = tpl.add_partition_offset(t, *p, Offset::Offset(*o));
    }
    if let Err(e) = consumer.store_offsets(&tpl) {
        // A partition revoked in the meantime: its offset was committed on revoke.
        tracing::debug!(error = %e, "cannot store offsets");
    }
}
