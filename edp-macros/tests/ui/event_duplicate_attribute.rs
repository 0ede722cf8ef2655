use serde::{Deserialize, Serialize};
use edp_core::Event;

#[derive(Serialize, Deserialize, Event)]
#[event(name = "a.b", name = "c.d")]
struct OrderPlaced {
    order_id: String,
}

fn main() {}
