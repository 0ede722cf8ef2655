use serde::{Deserialize, Serialize};
use edp_core::Event;

#[derive(Serialize, Deserialize, Event)]
#[event(version = 1, topic = "orders")]
struct OrderPlaced {
    order_id: String,
}

fn main() {}
