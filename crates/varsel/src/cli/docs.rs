//! `varsel completions <shell>` and `varsel man`: shell completions and man pages generated from
//! the command line's own definitions, so they always match the binary that prints them. The
//! Debian package (`deploy/debian/build.sh`) installs what the release binary prints here.

use std::io::Write;
use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::Shell;

use super::exit::{fail, Failure, EX_CANTCREAT};
use super::Cli;

/// Writes the completion script for `shell` to standard output.
pub fn completions(shell: Shell) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut Cli::command(), "varsel", &mut out);
    out.flush()
        .map_err(|e| fail(EX_CANTCREAT)(anyhow::anyhow!("cannot write the completions: {e}")))
}

/// Writes `varsel.1` to standard output, or, with `dir`, one page per command and subcommand
/// (`varsel.1`, `varsel-serve.1`, `varsel-routes-check.1`, …) into that directory.
pub fn man(dir: Option<PathBuf>) -> Result<(), Failure> {
    // `varsel help` gets no page of its own (generate_to leaves it out), so the main page must
    // not list it either.
    let cmd = Cli::command().disable_help_subcommand(true);
    let written = match dir {
        Some(dir) => std::fs::create_dir_all(&dir)
            .and_then(|()| clap_mangen::generate_to(cmd, &dir))
            .map_err(|e| anyhow::anyhow!("cannot write the man pages to {}: {e}", dir.display())),
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .and_then(|()| out.flush())
                .map_err(|e| anyhow::anyhow!("cannot write the man page: {e}"))
        }
    };
    written.map_err(fail(EX_CANTCREAT))
}
