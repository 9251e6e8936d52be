//! Time as a dependency: the system clock in production, a controllable clock in tests.
