use edp_core::AvroSchema;

// Generic records would share one Avro name.
#[derive(AvroSchema)]
#[avro(namespace = "9orders")]
struct Page<T> {
    items: Vec<T>,
}

fn main() {}
