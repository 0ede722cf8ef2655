use serde::{Deserialize, Serialize};
use edp_core::Event;

#[derive(Serialize, Deserialize, Event)]
#[event(name = "order.placed", version = 0)]
struct OrderPlaced {
    order_id: String,
}

fn main() {}
