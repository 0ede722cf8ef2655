//! Encode + decode of the reference event (`OrderPlaced` v2 with three lines), same
//! run, as ratios because absolute times drift on shared machines:
//!
//! (a) serde_avro_fast (the Avro crate the codec uses) against serde_json;
//! (b) edp's `AvroCodec` (Confluent header, cached schema lookups, envelope checks)
//!     against serde_avro_fast called bare with the schema in hand.
//!
//! Run: `cargo bench -p edp-avro --bench avro`. Options: `--events N`, `--rounds R`.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use std::hint::black_box;
use std::time::Instant;

use ecommerce_contracts::{OrderLine, OrderPlaced};
use edp_avro::{AvroCodec, CONTENT_TYPE, SchemaRegistryClient};
use edp_core::{Codec, Envelope, Event};
use edp_schema_registry::EmbeddedRegistry;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn events() -> Vec<OrderPlaced> {
    (0..1000u64)
        .map(|i| OrderPlaced {
            order_id: format!("order-{i:08}"),
            customer_id: format!("customer-{:04}", i % 97),
            items: (0..3u32)
                .map(|j| OrderLine {
                    product_id: format!("sku-{:05}", i * 3 + u64::from(j)),
                    quantity: 1 + j,
                    unit_price_cents: 1500 + u64::from(j),
                })
                .collect(),
            total_cents: 9000 + i,
            coupon: (i % 4 == 0).then(|| "SPRING".to_owned()),
        })
        .collect()
}

/// Nanoseconds per event of `f` over `n` events.
fn time(n: usize, mut f: impl FnMut(usize)) -> f64 {
    let start = Instant::now();
    for i in 0..n {
        f(i);
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let n = arg("--events", 200_000);
    let rounds = arg("--rounds", 5);
    let events = events();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let registry = rt.block_on(EmbeddedRegistry::start("127.0.0.1:0")).unwrap();
    let codec = AvroCodec::new(SchemaRegistryClient::new(&registry.url()).unwrap());
    rt.block_on(codec.prepare_encode::<OrderPlaced>().unwrap())
        .unwrap();
    let schema: serde_avro_fast::Schema = OrderPlaced::avro_schema().unwrap().parse().unwrap();
    let mut env = Envelope::builder(OrderPlaced::NAME, codec.encode(&events[0]).unwrap())
        .datacontenttype(CONTENT_TYPE)
        .dataversion(OrderPlaced::VERSION)
        .build();
    assert!(
        codec.prepare_decode(&env).is_none(),
        "writer's schema cached"
    );

    let json = |i: usize| {
        let bytes = serde_json::to_vec(&events[i % 1000]).unwrap();
        let back: OrderPlaced = serde_json::from_slice(&bytes).unwrap();
        black_box(back);
    };
    let bare = |i: usize| {
        let mut config = serde_avro_fast::ser::SerializerConfig::new(&schema);
        let bytes = serde_avro_fast::to_datum_vec(&events[i % 1000], &mut config).unwrap();
        let back: OrderPlaced = serde_avro_fast::from_datum_slice(&bytes, &schema).unwrap();
        black_box(back);
    };
    let mut edp = |i: usize| {
        env.data = codec.encode(&events[i % 1000]).unwrap();
        let back: OrderPlaced = codec.decode(&env).unwrap();
        black_box(back);
    };
    // Same values out of both paths.
    let sample = &events[0];
    let mut config = serde_avro_fast::ser::SerializerConfig::new(&schema);
    let datum = serde_avro_fast::to_datum_vec(sample, &mut config).unwrap();
    assert_eq!(codec.encode(sample).unwrap()[5..], datum[..]);

    // Warm up.
    time(n / 4, json);
    time(n / 4, bare);
    time(n / 4, &mut edp);
    let (mut j, mut b, mut e) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        j.push(time(n, json));
        b.push(time(n, bare));
        e.push(time(n, &mut edp));
    }
    let (j, b, e) = (median(j), median(b), median(e));
    println!(
        "avro: encode + decode of OrderPlaced v2 (3 lines, {} bytes Avro, {} bytes JSON), {n} events x {rounds} rounds, medians",
        datum.len(),
        serde_json::to_vec(sample).unwrap().len()
    );
    println!("  serde_json                          {j:>7.0} ns/event");
    println!(
        "  serde_avro_fast, bare               {b:>7.0} ns/event   vs serde_json {:.2}x",
        j / b
    );
    println!(
        "  edp AvroCodec (header, cached ids)  {e:>7.0} ns/event   vs serde_avro_fast {:.2}x",
        b / e
    );
    rt.block_on(registry.shutdown()).unwrap();
}
