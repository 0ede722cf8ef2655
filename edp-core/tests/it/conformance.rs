use edp_core::transport::{conformance, memory::MemoryConfig, memory::MemoryTransport};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_transport_passes_the_conformance_suite() {
    let broker = MemoryTransport::with_config(MemoryConfig::default().partitions(4).capacity(256));
    conformance::run(move || {
        let client = broker.connect();
        async move { client }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_transport_passes_with_one_partition() {
    let broker = MemoryTransport::with_config(MemoryConfig::default().partitions(1).capacity(256));
    conformance::run(move || {
        let client = broker.connect();
        async move { client }
    })
    .await;
}
