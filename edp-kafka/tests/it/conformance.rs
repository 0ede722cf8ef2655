//! The shared transport conformance suite, on Kafka.

use edp_core::transport::conformance;

// ANCHOR: conformance
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_transport_passes_the_conformance_suite() {
    conformance::run(|| async { crate::client() }).await;
}
// ANCHOR_END: conformance
