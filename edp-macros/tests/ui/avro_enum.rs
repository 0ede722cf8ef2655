use edp_core::AvroSchema;

// Only structs with named fields have a schema.
#[derive(AvroSchema)]
enum Status {
    Placed,
    Paid,
}

fn main() {}
