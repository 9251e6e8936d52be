//! `varsel completions <shell>` and `varsel man`: shell completions and man pages generated from
//! the command line's own definitions, so they always match the binary that prints them. The
//! Debian package (`deploy/debian/build.sh`) installs what the release binary prints here.

use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::Shell;

use super::exit::{fail, Failure, EX_CANTCREAT};
use super::{out, Cli};

/// Writes the completion script for `shell` to standard output.
pub fn completions(shell: Shell) -> Result<(), Failure> {
    // Generated into memory first: clap_complete panics when its writer fails, and a reader
    // that goes away early (`| head`) must end the command quietly.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "varsel", &mut script);
    out::text_of(String::from_utf8_lossy(&script))
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
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut page)
                .map_err(|e| anyhow::anyhow!("cannot render the man page: {e}"))
                .map_err(fail(EX_CANTCREAT))?;
            return out::text_of(String::from_utf8_lossy(&page));
        }
    };
    written.map_err(fail(EX_CANTCREAT))
}
