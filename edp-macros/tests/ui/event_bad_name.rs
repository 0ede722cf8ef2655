use serde::{Deserialize, Serialize};
use edp_core::Event;

#[derive(Serialize, Deserialize, Event)]
#[event(name = "order placed!")]
struct OrderPlaced {
    order_id: String,
}

fn main() {}
