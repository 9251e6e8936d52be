//! The broker daemon's commands: `serve` runs it, `check` reads its configuration, registry and
//! routing table without starting anything.

use std::path::PathBuf;

use varsel_broker::daemon;
use varsel_transport::clock;
use varsel_transport::shutdown::Signals;

use super::exit::{fail, Failure, EX_CONFIG, EX_SOFTWARE, EX_UNAVAILABLE};
use super::init_tracing;
use super::load::load_config;

/// `varsel serve`: runs the broker until a signal stops it.
pub(super) async fn serve(config: PathBuf) -> Result<(), Failure> {
    let config = load_config(&config)?;
    init_tracing(config.log_format, true);
    let signals = Signals::from_os().map_err(|e| fail(EX_SOFTWARE)(e.into()))?;
    let clock = if config.escalation.time_scale > 1 {
        clock::Clock::scaled(config.escalation.time_scale)
    } else {
        clock::Clock::system()
    };
    daemon::run(config, signals, clock).await.map_err(|e| {
        let code = match e {
            daemon::Error::Store(_) => EX_UNAVAILABLE,
            _ => EX_CONFIG,
        };
        fail(code)(e.into())
    })
}

/// `varsel check`: loads the configuration and everything it names.
pub(super) fn check(config: PathBuf) -> Result<(), Failure> {
    let c = load_config(&config)?;
    let world = daemon::load_world(&c).map_err(|e| fail(EX_CONFIG)(e.into()))?;
    println!(
        "{}: ok (registry {} with {} participants, routing table {})",
        config.display(),
        world.registry.version(),
        world.registry.participants().len(),
        world.table.version()
    );
    Ok(())
}
