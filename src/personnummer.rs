//! Swedish personal identity numbers and coordination numbers: parsing and checksum validation.
