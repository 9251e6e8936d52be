//! The loopback SMTP sink the tests read email from (the same one `varsel demo` uses).
#![allow(unused_imports)]
pub use varsel::mailer::sink::*;
