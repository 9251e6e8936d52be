//! Exit codes in the sysexits style, and the error that carries one out of a command.

/// An error with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    /// Standard output was closed by its reader: not an error of the command's, so it exits
    /// with success and says nothing.
    pub(super) fn stdout_closed() -> Failure {
        Failure {
            code: EX_OK,
            error: anyhow::anyhow!("standard output was closed by its reader"),
        }
    }
}

pub(super) fn fail(code: u8) -> impl FnOnce(anyhow::Error) -> Failure {
    move |error| Failure { code, error }
}

pub(super) const EX_OK: u8 = 0;
pub(super) const EX_USAGE: u8 = 64;
pub(super) const EX_DATAERR: u8 = 65;
pub(super) const EX_UNAVAILABLE: u8 = 69;
pub(super) const EX_SOFTWARE: u8 = 70;
pub(super) const EX_CANTCREAT: u8 = 73;
pub(super) const EX_IOERR: u8 = 74;
pub(super) const EX_CONFIG: u8 = 78;
