//! One source of stop and reload signals, watched by every task.
