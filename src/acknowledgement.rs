//! Receipts and acks from agencies: they move deliveries on and produce feedback to the school.
