use edp_core::Event;
use edp_core::event_sourcing::EventSet;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "order.placed", topic = "orders")]
struct OrderPlaced {
    id: String,
}

#[derive(Serialize, Deserialize, Event)]
#[event(name = "order.placed", version = 2, topic = "orders")]
struct OrderPlacedAgain {
    id: String,
}

#[derive(EventSet)]
enum OrderEvent {
    Placed(OrderPlaced),
    PlacedAgain(OrderPlacedAgain),
}

fn main() {}
