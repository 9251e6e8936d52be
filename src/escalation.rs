//! Escalation policies and the scheduler that fires due timers.
