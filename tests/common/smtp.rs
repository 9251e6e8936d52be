//! The loopback SMTP sink the tests read email from (the same one `varsel demo` uses).
pub use varsel::mailer::sink::*;
