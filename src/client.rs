//! The participant client: send alerts, read the inbox, send receipts and acks.
