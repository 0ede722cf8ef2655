use edp_core::Event;
use edp_core::error::BoxError;
use edp_core::event_sourcing::EventSet;
use edp_core::saga::{Commands, Definition, Verdict, Saga, Step};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Event)]
#[event(name = "stock.reserved", topic = "stock")]
struct StockReserved {
    order: String,
}

#[derive(EventSet)]
enum Reply {
    Stock(StockReserved),
}

#[derive(Default, Serialize, Deserialize)]
struct PlaceOrder {
    order: String,
}

impl Saga for PlaceOrder {
    const NAME: &'static str = "place-order";
    type Reply = Reply;
    fn definition() -> Definition<Self> {
        Definition::new().then(ReserveStock)
    }
}

struct ReserveStock;

impl Step<PlaceOrder> for ReserveStock {
    const NAME: &'static str = "reserve_stock";
    type Compensation = edp_core::saga::Pivot;
    fn action(&self, _: &PlaceOrder, _: &mut Commands) -> Result<(), BoxError> {
        Ok(())
    }
    fn on_reply(&self, _: &mut PlaceOrder, _: &Reply) -> Verdict {
        Verdict::Done
    }
}

fn main() {}
