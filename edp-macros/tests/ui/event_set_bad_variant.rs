use edp_core::Event;
use edp_core::event_sourcing::EventSet;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "order.placed", topic = "orders")]
struct OrderPlaced {
    id: String,
}

#[derive(EventSet)]
enum OrderEvent {
    Placed(OrderPlaced),
    Cancelled { id: String },
}

#[derive(EventSet)]
struct NotAnEnum(OrderPlaced);

fn main() {}
