//! The `varsel` binary: parse the command line and hand over to the library.
fn main() {}
