//! The registry binary (work in progress).
fn main() {}
