use edp_core::AvroSchema;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Extra {
    note: String,
}

// Serde attributes that change what serde writes are refused, each at its attribute.
#[derive(Serialize, Deserialize, AvroSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OrderPlaced {
    order_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    coupon: Option<String>,
    #[serde(flatten)]
    extra: Extra,
    #[serde(rename(serialize = "a", deserialize = "b"))]
    total_cents: u64,
}

fn main() {}
