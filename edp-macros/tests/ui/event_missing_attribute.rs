use serde::{Deserialize, Serialize};
use edp_core::Event;

#[derive(Serialize, Deserialize, Event)]
struct OrderPlaced {
    order_id: String,
}

fn main() {}
