use serde::{Deserialize, Serialize};
use edp_core::Event;

#[derive(Serialize, Deserialize, Event)]
#[event(name = "order.placed", key = order_key)]
struct OrderPlaced {
    order_id: String,
    total: u64,
}

fn main() {}
