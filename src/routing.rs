//! The routing table: ordered rules from header to recipients, sections and escalation policy.
