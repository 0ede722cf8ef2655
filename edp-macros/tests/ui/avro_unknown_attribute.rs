use edp_core::AvroSchema;

#[derive(AvroSchema)]
#[avro(namespace = "ecommerce.order", colour = "red")]
struct OrderPlaced {
    #[avro(name = "id")]
    order_id: String,
}

fn main() {}
