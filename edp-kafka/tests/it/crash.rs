//! kill -9 a consumer process in the middle of 100,000 events, start it again: no
//! event is lost; the duplicates (handled, not yet committed when it died) are
//! counted and reported.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use edp_core::Envelope;
use edp_core::transport::Transport;

const EVENTS: u64 = 100_000;

fn drill(brokers: &str, topic: &str, group: &str, out: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_edp-kafka-drill"))
        .args([brokers, topic, group])
        .arg(out)
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("the drill starts")
}

fn seqs(path: &Path) -> Vec<u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_100_000_events_loses_none() {
    let broker = edp_kafka::testkit::Broker::shared().unwrap();
    let transport = crate::client();
    let topic = format!("drill-{}", uuid::Uuid::now_v7().simple());
    let group = format!("drill-{}", uuid::Uuid::now_v7().simple());
    let mut batch = Vec::with_capacity(1000);
    for seq in 0..EVENTS {
        let key = format!("k{}", seq % 1000);
        let data = format!(r#"{{"key":"{key}","seq":{seq}}}"#);
        batch.push(
            Envelope::builder("drill.tick", data.into_bytes())
                .source("crash-test")
                .subject(key)
                .build(),
        );
        if batch.len() == 1000 {
            transport
                .publish(&topic, std::mem::take(&mut batch))
                .await
                .unwrap();
        }
    }
    let dir = std::env::temp_dir().join(format!("edp-drill-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (first, second) = (dir.join("first"), dir.join("second"));

    // Run until about a third is handled, then kill -9.
    let mut child = drill(broker.brokers(), &topic, &group, &first);
    wait_for("a third of the events", Duration::from_secs(120), || {
        seqs(&first).len() as u64 >= EVENTS / 3
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = seqs(&first);
    assert!((before.len() as u64) < EVENTS, "killed after it finished");

    // Start again: it resumes from the committed offsets.
    let mut child = drill(broker.brokers(), &topic, &group, &second);
    let mut all: HashSet<u64> = before.iter().copied().collect();
    wait_for("every event", Duration::from_secs(180), || {
        all.extend(seqs(&second));
        all.len() as u64 == EVENTS
    });
    let _ = Command::new("kill").arg(child.id().to_string()).status(); // SIGTERM
    let status = child.wait().unwrap();
    assert!(status.success(), "the drill did not stop cleanly: {status}");

    let after = seqs(&second);
    let handled = before.len() + after.len();
    let duplicates = handled - all.len();
    let missing = (0..EVENTS).filter(|s| !all.contains(s)).count();
    println!(
        "kill -9 after {} events; restarted; {} handled in all, {} unique, {missing} lost, \
         {duplicates} duplicates (handled before the kill, not yet committed)",
        before.len(),
        handled,
        all.len()
    );
    assert_eq!(missing, 0);
    assert!(
        after.iter().all(|s| *s < EVENTS),
        "an event that was never published"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
