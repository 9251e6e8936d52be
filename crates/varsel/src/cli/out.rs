//! Writing a command's result to standard output. A reader that goes away early, as in
//! `varsel open … | head`, ends the command quietly with success, as it would end `cat`;
//! any other write error is reported with its own exit code.

use std::fmt::Display;
use std::io::{self, ErrorKind, Write as _};

use super::exit::{fail, Failure, EX_IOERR};

/// Writes `text` and a newline to standard output.
pub(super) fn line(text: impl Display) -> Result<(), Failure> {
    text_of(format_args!("{text}\n"))
}

/// Writes `text` to standard output as it is.
pub(super) fn text_of(text: impl Display) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    write!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| match e.kind() {
            ErrorKind::BrokenPipe => Failure::stdout_closed(),
            _ => fail(EX_IOERR)(anyhow::Error::new(e).context("writing to standard output")),
        })
}
