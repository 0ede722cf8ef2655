use serde::{Deserialize, Serialize};
use edp_core::Event;

// Every error is reported at once, each at its own token.
#[derive(Serialize, Deserialize, Event)]
#[event(version = 0, colour = "red", key = nope)]
struct OrderPlaced {
    order_id: String,
}

fn main() {}
