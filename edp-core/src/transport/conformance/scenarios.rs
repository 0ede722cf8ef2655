//! The scenarios. Each returns `Err(message)` on the first broken expectation.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use uuid::Uuid;

use super::{Env, Failure, envelope, recv_within, seq_of};
use crate::transport::{SubscribeOptions, Subscriber, Transport};

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

type R = Result<(), Failure>;

/// How long a member of a shared group waits before checking whether the others
/// received everything.
const SLICE: Duration = Duration::from_millis(100);

pub(super) async fn run<T, F, Fut>(name: &str, env: &Env<T>, factory: &F) -> R
where
    T: Transport,
    F: Fn() -> Fut,
    Fut: Future<Output = T>,
{
    match name {
        "publish_subscribe" => publish_subscribe(env).await,
        "concurrent_subscribers" => concurrent_subscribers(env).await,
        "many_topics" => many_topics(env).await,
        "resend_on_nack" => resend_on_nack(env).await,
        "no_delivery_past_unacked" => no_delivery_past_unacked(env).await,
        "continue_after_close_and_reopen" => continue_after_close_and_reopen(env).await,
        "concurrent_close" => concurrent_close(env).await,
        "continue_after_handler_errors" => continue_after_handler_errors(env).await,
        "per_key_order_with_several_subscribers" => per_key_order(env).await,
        "nothing_lost_when_publisher_closes" => {
            nothing_lost_when_publisher_closes(env, factory().await).await
        }
        "topic_isolation" => topic_isolation(env).await,
        "each_group_gets_everything" => each_group_gets_everything(env).await,
        "cancellation" => cancellation(env).await,
        "new_group_replays" => new_group_replays(env).await,
        "batches_settle_in_order" => batches_settle_in_order(env).await,
        other => Err(format!("unknown scenario `{other}`")),
    }
}

async fn subscribe<T: Transport>(
    env: &Env<T>,
    group: &str,
    topics: &[&str],
) -> Result<T::Subscriber, Failure> {
    env.transport
        .subscribe(SubscribeOptions::new(group, topics.iter().copied()))
        .await
        .map_err(|e| format!("subscribe {group}: {e}"))
}

async fn publish<T: Transport>(
    env: &Env<T>,
    topic: &str,
    seqs: impl Iterator<Item = u32>,
    keys: u32,
) -> Result<Vec<Uuid>, Failure> {
    let batch: Vec<_> = seqs
        .map(|s| envelope(s, &format!("k{}", s % keys.max(1))))
        .collect();
    let ids = batch.iter().map(|e| e.id).collect();
    env.transport
        .publish(topic, batch)
        .await
        .map_err(|e| format!("publish to {topic}: {e}"))?;
    Ok(ids)
}

/// Receives and acks until `n` distinct events arrived; returns them in arrival order.
async fn drain<S: Subscriber>(
    sub: &S,
    n: usize,
    within: Duration,
) -> Result<Vec<crate::transport::Delivery>, Failure> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while seen.len() < n {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(d) = recv_within(sub, left).await else {
            return Err(format!(
                "received {} of {n} events before the time limit",
                seen.len()
            ));
        };
        sub.ack(&d).await.map_err(|e| format!("ack: {e}"))?;
        if seen.insert(d.envelope.id) {
            out.push(d);
        }
    }
    Ok(out)
}

/// Receives and acks until every id in `want` arrived or `within` passed; returns how
/// many never came.
async fn receive_all<S: Subscriber>(
    sub: &S,
    want: &HashSet<Uuid>,
    within: Duration,
) -> Result<usize, Failure> {
    let mut got = HashSet::new();
    let deadline = tokio::time::Instant::now() + within;
    while !want.is_subset(&got) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(d) = recv_within(sub, left).await else {
            return Ok(want.difference(&got).count());
        };
        sub.ack(&d).await.map_err(|e| format!("ack: {e}"))?;
        got.insert(d.envelope.id);
    }
    Ok(0)
}

async fn publish_subscribe<T: Transport>(env: &Env<T>) -> R {
    let topic = env.name("t");
    let sub = subscribe(env, &env.name("g"), &[&topic]).await?;
    let mut sent = Vec::new();
    for chunk in 0..10u32 {
        let batch: Vec<_> = (chunk * 10..chunk * 10 + 10)
            .map(|s| envelope(s, &format!("k{}", s % 7)))
            .collect();
        sent.extend(batch.iter().cloned());
        env.transport
            .publish(&topic, batch)
            .await
            .map_err(|e| format!("publish: {e}"))?;
    }
    let got = drain(&sub, sent.len(), env.timing.arrive).await?;
    let by_id: HashMap<Uuid, _> = got.iter().map(|d| (d.envelope.id, d)).collect();
    for e in &sent {
        let Some(d) = by_id.get(&e.id) else {
            return Err(format!("event {} was not received", e.id));
        };
        let r = &d.envelope;
        ensure!(
            r.data == e.data,
            "payload of {} changed: {:?} != {:?}",
            e.id,
            r.data,
            e.data
        );
        ensure!(r.event_type == e.event_type, "type of {} changed", e.id);
        ensure!(r.subject == e.subject, "subject of {} changed", e.id);
        ensure!(r.source == e.source, "source of {} changed", e.id);
        ensure!(
            r.datacontenttype == e.datacontenttype,
            "content type of {} changed",
            e.id
        );
        ensure!(
            r.dataversion == e.dataversion,
            "dataversion of {} changed",
            e.id
        );
        ensure!(secs(r.time) == secs(e.time), "time of {} changed", e.id);
        for (k, v) in e.headers.iter() {
            ensure!(
                r.headers.get(k) == Some(v),
                "header {k} of {} changed: {:?}",
                e.id,
                r.headers.get(k)
            );
        }
        ensure!(
            &*d.topic == topic.as_str(),
            "delivered with topic {} instead of {topic}",
            d.topic
        );
    }
    Ok(())
}

async fn concurrent_subscribers<T: Transport>(env: &Env<T>) -> R {
    let topic = env.name("t");
    let group = env.name("g");
    let mut subs = Vec::new();
    for _ in 0..4 {
        subs.push(Arc::new(subscribe(env, &group, &[&topic]).await?));
    }
    let ids = publish(env, &topic, 0..200, 20).await?;
    let seen = Arc::new(Mutex::new(HashMap::<Uuid, u32>::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for sub in &subs {
        let (sub, seen, total, deadline) = (
            sub.clone(),
            seen.clone(),
            ids.len(),
            tokio::time::Instant::now() + env.timing.arrive,
        );
        tasks.spawn(async move {
            loop {
                if seen.lock().map(|s| s.len()).unwrap_or(total) >= total {
                    return;
                }
                // Short waits: a member without partitions stops as soon as the
                // others have received everything.
                let Some(d) = recv_within(&*sub, SLICE).await else {
                    if tokio::time::Instant::now() > deadline {
                        return;
                    }
                    continue;
                };
                let _ = sub.ack(&d).await;
                if let Ok(mut s) = seen.lock() {
                    *s.entry(d.envelope.id).or_default() += 1;
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let seen = seen
        .lock()
        .map_err(|_| "lock poisoned".to_string())?
        .clone();
    let missing = ids.iter().filter(|id| !seen.contains_key(id)).count();
    ensure!(
        missing == 0,
        "{missing} of {} events never reached any of 4 concurrent subscribers",
        ids.len()
    );
    Ok(())
}

async fn many_topics<T: Transport>(env: &Env<T>) -> R {
    let topics: Vec<String> = (0..20).map(|i| env.name(&format!("t{i}"))).collect();
    let mut subs = Vec::new();
    for t in &topics {
        subs.push(subscribe(env, &env.name("g"), &[t]).await?);
    }
    let mut sent = Vec::new();
    for t in &topics {
        sent.push(publish(env, t, 0..5, 5).await?);
    }
    for ((sub, ids), t) in subs.iter().zip(&sent).zip(&topics) {
        let got = drain(sub, ids.len(), env.timing.arrive).await?;
        let got: HashSet<Uuid> = got.iter().map(|d| d.envelope.id).collect();
        let want: HashSet<Uuid> = ids.iter().copied().collect();
        ensure!(got == want, "topic {t}: received a different set of events");
    }
    Ok(())
}

async fn resend_on_nack<T: Transport>(env: &Env<T>) -> R {
    let topic = env.name("t");
    let sub = subscribe(env, &env.name("g"), &[&topic]).await?;
    let ids = publish(env, &topic, 0..10, 1).await?;
    let mut nacked = HashSet::new();
    let mut acked = Vec::new();
    let deadline = tokio::time::Instant::now() + env.timing.arrive * 2;
    while acked.len() < ids.len() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(d) = recv_within(&sub, left).await else {
            return Err(format!(
                "{} of {} events acked; the rest never came back after nack",
                acked.len(),
                ids.len()
            ));
        };
        if nacked.insert(d.envelope.id) {
            ensure!(
                d.redeliveries == 0,
                "first delivery of {} has redeliveries = {}",
                d.envelope.id,
                d.redeliveries
            );
            sub.nack(&d).await.map_err(|e| format!("nack: {e}"))?;
        } else {
            ensure!(
                d.redeliveries >= 1,
                "redelivery of {} has redeliveries = 0",
                d.envelope.id
            );
            sub.ack(&d).await.map_err(|e| format!("ack: {e}"))?;
            if !acked.contains(&d.envelope.id) {
                acked.push(d.envelope.id);
            }
        }
    }
    if env.caps.ordered_per_key {
        ensure!(
            acked == ids,
            "events of one key were acked out of publish order after nacks"
        );
    }
    Ok(())
}

async fn no_delivery_past_unacked<T: Transport>(env: &Env<T>) -> R {
    let topic = env.name("t");
    let sub = subscribe(env, &env.name("g"), &[&topic]).await?;
    let ids = publish(env, &topic, 0..2, 1).await?;
    let Some(first) = recv_within(&sub, env.timing.arrive).await else {
        return Err("the first event never arrived".into());
    };
    ensure!(
        first.envelope.id == ids[0],
        "the first delivery is not the first event of the key"
    );
    let early = recv_within(&sub, env.timing.quiet).await;
    if env.caps.ordered_per_key {
        ensure!(
            early.is_none(),
            "the second event of a key was delivered while the first was not acked"
        );
        sub.ack(&first).await.map_err(|e| format!("ack: {e}"))?;
        let Some(second) = recv_within(&sub, env.timing.arrive).await else {
            return Err("the second event never arrived after the first was acked".into());
        };
        ensure!(
            second.envelope.id == ids[1],
            "the second delivery is not the second event"
        );
        sub.ack(&second).await.map_err(|e| format!("ack: {e}"))?;
    } else {
        // Weaker documented behaviour: the second event arrives regardless.
        sub.ack(&first).await.map_err(|e| format!("ack: {e}"))?;
        let second = match early {
            Some(d) => Some(d),
            None => recv_within(&sub, env.timing.arrive).await,
        };
        ensure!(
            second.is_some_and(|d| d.envelope.id == ids[1]),
            "the second event never arrived"
        );
    }
    Ok(())
}

async fn continue_after_close_and_reopen<T: Transport>(env: &Env<T>) -> R {
    let topic = env.name("t");
    let group = env.name("g");
    let sub = subscribe(env, &group, &[&topic]).await?;
    let ids = publish(env, &topic, 0..20, 4).await?;
    let first = drain(&sub, 10, env.timing.arrive).await?;
    sub.close().await.map_err(|e| format!("close: {e}"))?;
    drop(sub);
    let acked: HashSet<Uuid> = first.iter().map(|d| d.envelope.id).collect();
    let rest: HashSet<Uuid> = ids
        .iter()
        .copied()
        .filter(|id| !acked.contains(id))
        .collect();
    let reopened = subscribe(env, &group, &[&topic]).await?;
    let missing = receive_all(&reopened, &rest, env.timing.arrive).await?;
    ensure!(
        missing == 0,
        "after reopening, {missing} unacked events never arrived"
    );
    Ok(())
}

async fn concurrent_close<T: Transport>(env: &Env<T>) -> R {
    let topic = env.name("t");
    let group = env.name("g");
    // Where every join is a group rebalance of seconds (Kafka), 4 members, and their
    // closes take turns, half a second apart: each leave rebalances the group, and
    // a group coordinator that loses a leader leaving in the middle of a rebalance
    // never forms the group again (Kafka's expires it; some test brokers do not).
    // The members still receive, ack and close concurrently with each other's work.
    let (members, turns) = if env.caps.slow_group_join {
        (4, Some(Arc::new(tokio::sync::Semaphore::new(1))))
    } else {
        (10, None)
    };
    let mut subs = Vec::new();
    for _ in 0..members {
        subs.push(Arc::new(subscribe(env, &group, &[&topic]).await?));
    }
    let ids = publish(env, &topic, 0..50, 10).await?;
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for sub in subs {
        let (acked, quiet, turns) = (acked.clone(), env.timing.quiet, turns.clone());
        tasks.spawn(async move {
            for _ in 0..2 {
                if let Some(d) = recv_within(&*sub, quiet).await {
                    if sub.ack(&d).await.is_ok() {
                        if let Ok(mut a) = acked.lock() {
                            a.insert(d.envelope.id);
                        }
                    }
                }
            }
            let _turn = match &turns {
                Some(t) => t.acquire().await.ok(),
                None => None,
            };
            let closed = sub.close().await.is_ok();
            if turns.is_some() {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            closed
        });
    }
    let mut closed = 0;
    while let Some(r) = tasks.join_next().await {
        if matches!(r, Ok(true)) {
            closed += 1;
        }
    }
    ensure!(
        closed == members,
        "only {closed} of {members} concurrent closes succeeded"
    );
    let acked = acked
        .lock()
        .map_err(|_| "lock poisoned".to_string())?
        .clone();
    let rest: HashSet<Uuid> = ids
        .iter()
        .copied()
        .filter(|id| !acked.contains(id))
        .collect();
    let after = subscribe(env, &group, &[&topic]).await?;
    let missing = receive_all(&after, &rest, env.timing.arrive).await?;
    ensure!(
        missing == 0,
        "{missing} events were lost after concurrent closes"
    );
    Ok(())
}

async fn continue_after_handler_errors<T: Transport>(env: &Env<T>) -> R {
    let topic = env.name("t");
    let sub = subscribe(env, &env.name("g"), &[&topic]).await?;
    let ids = publish(env, &topic, 0..30, 3).await?;
    let mut failed_once = HashSet::new();
    let mut done = HashSet::new();
    let deadline = tokio::time::Instant::now() + env.timing.arrive * 2;
    while done.len() < ids.len() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(d) = recv_within(&sub, left).await else {
            return Err(format!(
                "consumption stopped after handler errors: {} of {} done",
                done.len(),
                ids.len()
            ));
        };
        let seq = seq_of(&d).unwrap_or(0);
        if seq % 3 == 0 && failed_once.insert(d.envelope.id) {
            sub.nack(&d).await.map_err(|e| format!("nack: {e}"))?;
        } else {
            sub.ack(&d).await.map_err(|e| format!("ack: {e}"))?;
            done.insert(d.envelope.id);
        }
    }
    ensure!(
        failed_once.len() == 10,
        "expected 10 failed first attempts, saw {}",
        failed_once.len()
    );
    Ok(())
}

async fn per_key_order<T: Transport>(env: &Env<T>) -> R {
    let topic = env.name("t");
    let group = env.name("g");
    let mut subs = Vec::new();
    for _ in 0..3 {
        subs.push(Arc::new(subscribe(env, &group, &[&topic]).await?));
    }
    // 10 keys x 20 events, interleaved: seq s has key s % 10.
    let ids = publish(env, &topic, 0..200, 10).await?;
    let order = Arc::new(Mutex::new(BTreeMap::<String, Vec<u32>>::new()));
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for sub in subs {
        let (order, count, total, deadline) = (
            order.clone(),
            count.clone(),
            ids.len(),
            tokio::time::Instant::now() + env.timing.arrive,
        );
        tasks.spawn(async move {
            while count.load(std::sync::atomic::Ordering::SeqCst) < total {
                let Some(d) = recv_within(&*sub, SLICE).await else {
                    if tokio::time::Instant::now() > deadline {
                        return;
                    }
                    continue;
                };
                let key = d.envelope.subject.clone().unwrap_or_default();
                if let (Some(seq), Ok(mut o)) = (seq_of(&d), order.lock()) {
                    let v = o.entry(key).or_default();
                    if !v.contains(&seq) {
                        v.push(seq);
                        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
                let _ = sub.ack(&d).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let order = order
        .lock()
        .map_err(|_| "lock poisoned".to_string())?
        .clone();
    let total: usize = order.values().map(Vec::len).sum();
    ensure!(
        total == ids.len(),
        "received {total} of {} events",
        ids.len()
    );
    if env.caps.ordered_per_key {
        for (key, seqs) in &order {
            ensure!(
                seqs.windows(2).all(|w| w[0] < w[1]),
                "key {key} was received out of order: {seqs:?}"
            );
        }
    }
    Ok(())
}

async fn nothing_lost_when_publisher_closes<T: Transport>(env: &Env<T>, publisher: T) -> R {
    let topic = env.name("t");
    let sub = subscribe(env, &env.name("g"), &[&topic]).await?;
    let batch: Vec<_> = (0..100)
        .map(|s| envelope(s, &format!("k{}", s % 10)))
        .collect();
    let ids: HashSet<Uuid> = batch.iter().map(|e| e.id).collect();
    publisher
        .publish(&topic, batch)
        .await
        .map_err(|e| format!("publish: {e}"))?;
    publisher
        .close()
        .await
        .map_err(|e| format!("close publisher: {e}"))?;
    let got = drain(&sub, ids.len(), env.timing.arrive).await?;
    let got: HashSet<Uuid> = got.iter().map(|d| d.envelope.id).collect();
    ensure!(
        got == ids,
        "events published before the publisher closed were lost"
    );
    Ok(())
}

async fn topic_isolation<T: Transport>(env: &Env<T>) -> R {
    let (a, b) = (env.name("a"), env.name("b"));
    let sub_a = subscribe(env, &env.name("ga"), &[&a]).await?;
    let sub_b = subscribe(env, &env.name("gb"), &[&b]).await?;
    let ids_a: HashSet<Uuid> = publish(env, &a, 0..10, 3).await?.into_iter().collect();
    let ids_b: HashSet<Uuid> = publish(env, &b, 0..10, 3).await?.into_iter().collect();
    let got_a: HashSet<Uuid> = drain(&sub_a, 10, env.timing.arrive)
        .await?
        .iter()
        .map(|d| d.envelope.id)
        .collect();
    let got_b: HashSet<Uuid> = drain(&sub_b, 10, env.timing.arrive)
        .await?
        .iter()
        .map(|d| d.envelope.id)
        .collect();
    ensure!(
        got_a == ids_a,
        "the subscriber of {a} received events of another topic"
    );
    ensure!(
        got_b == ids_b,
        "the subscriber of {b} received events of another topic"
    );
    ensure!(
        recv_within(&sub_a, env.timing.quiet).await.is_none(),
        "an extra event reached {a}"
    );
    Ok(())
}

async fn each_group_gets_everything<T: Transport>(env: &Env<T>) -> R {
    let topic = env.name("t");
    let mut subs = Vec::new();
    for g in 0..3 {
        subs.push(subscribe(env, &env.name(&format!("g{g}")), &[&topic]).await?);
    }
    let ids: HashSet<Uuid> = publish(env, &topic, 0..30, 5).await?.into_iter().collect();
    for (g, sub) in subs.iter().enumerate() {
        let got: HashSet<Uuid> = drain(sub, ids.len(), env.timing.arrive)
            .await?
            .iter()
            .map(|d| d.envelope.id)
            .collect();
        ensure!(got == ids, "group {g} did not get every event");
    }
    Ok(())
}

async fn cancellation<T: Transport>(env: &Env<T>) -> R {
    let topic = env.name("t");
    let sub = subscribe(env, &env.name("g"), &[&topic]).await?;
    let producer = {
        let (t, topic) = (env.transport.clone(), topic.clone());
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for s in 0..50 {
                let e = envelope(s, &format!("k{}", s % 5));
                ids.push(e.id);
                if t.publish(&topic, vec![e]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            ids
        })
    };
    // Many receives are cancelled by a short timeout; none may lose an event.
    let mut got = HashSet::new();
    let deadline = tokio::time::Instant::now() + env.timing.arrive * 2;
    while got.len() < 50 && tokio::time::Instant::now() < deadline {
        if let Ok(Some(Ok(d))) = tokio::time::timeout(Duration::from_millis(1), sub.recv()).await {
            sub.ack(&d).await.map_err(|e| format!("ack: {e}"))?;
            got.insert(d.envelope.id);
        }
    }
    let ids: HashSet<Uuid> = producer
        .await
        .map_err(|e| format!("producer: {e}"))?
        .into_iter()
        .collect();
    ensure!(
        got == ids,
        "cancelled receives lost {} of {} events",
        ids.difference(&got).count(),
        ids.len()
    );
    // Closing ends receiving: recv returns None instead of hanging.
    sub.close().await.map_err(|e| format!("close: {e}"))?;
    let after = tokio::time::timeout(env.timing.arrive, sub.recv()).await;
    ensure!(
        matches!(after, Ok(None)),
        "recv after close did not return None"
    );
    Ok(())
}

async fn new_group_replays<T: Transport>(env: &Env<T>) -> R {
    let topic = env.name("t");
    // Create the topic with a first group, then publish before the second group joins.
    let _first = subscribe(env, &env.name("g1"), &[&topic]).await?;
    let ids: HashSet<Uuid> = publish(env, &topic, 0..10, 2).await?.into_iter().collect();
    let late = subscribe(env, &env.name("g2"), &[&topic]).await?;
    if env.caps.replays_to_new_groups {
        let got: HashSet<Uuid> = drain(&late, ids.len(), env.timing.arrive)
            .await?
            .iter()
            .map(|d| d.envelope.id)
            .collect();
        ensure!(
            got == ids,
            "a new group did not receive events published before it joined"
        );
    } else {
        ensure!(
            recv_within(&late, env.timing.quiet).await.is_none(),
            "a new group received old events although the transport says it does not replay"
        );
    }
    Ok(())
}

fn secs(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `recv_batch`: deliveries of one partition in order; acking the last settles the
/// batch; a nack acks the ones before it and releases the rest for redelivery.
async fn batches_settle_in_order<T: Transport>(env: &Env<T>) -> R {
    let topic = env.name("t");
    let sub = subscribe(env, &env.name("g"), &[&topic]).await?;
    let ids = publish(env, &topic, 0..20, 1).await?;
    let mut next = 0usize; // index in `ids` of the next event not yet settled
    let mut nacked_once = false;
    let deadline = tokio::time::Instant::now() + env.timing.arrive * 2;
    while next < ids.len() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let batch = match tokio::time::timeout(left, sub.recv_batch(8)).await {
            Ok(Some(Ok(b))) => b,
            _ => {
                return Err(format!(
                    "batches stopped after {next} of {} events",
                    ids.len()
                ));
            }
        };
        ensure!(
            !batch.is_empty() && batch.len() <= 8,
            "a batch of {} deliveries (max 8)",
            batch.len()
        );
        for (i, d) in batch.iter().enumerate() {
            ensure!(
                d.envelope.id == ids[next + i],
                "batch delivery {i} is out of order (expected event {})",
                next + i
            );
        }
        if !nacked_once && batch.len() >= 3 {
            // Nack the third: the first two count as acked, the rest comes again.
            nacked_once = true;
            sub.nack(&batch[2])
                .await
                .map_err(|e| format!("nack: {e}"))?;
            next += 2;
            continue;
        }
        let last = batch.last().ok_or("empty batch")?;
        sub.ack(last).await.map_err(|e| format!("ack: {e}"))?;
        next += batch.len();
    }
    ensure!(
        recv_within(&sub, env.timing.quiet).await.is_none(),
        "an acked event was delivered again"
    );
    Ok(())
}
