//! `varsel certs`: a demo certificate authority and client certificates for AMQPS.

use super::exit::{fail, Failure, EX_CANTCREAT};
use super::load::accounts_of;
use super::CertsCommand;

pub(super) fn run(command: CertsCommand) -> Result<(), Failure> {
    match command {
        CertsCommand::Init { dir, registry, .. } => {
            let users: Vec<String> = accounts_of(registry)?.into_iter().map(|a| a.user).collect();
            let made = varsel_testkit::certs::init(&dir, &users)
                .map_err(|e| fail(EX_CANTCREAT)(e.into()))?;
            for m in &made {
                eprintln!("made {}", m.display());
            }
            println!(
                "{}: CA, server certificate and {} client certificate(s) ready ({} new); for trying varsel only",
                dir.display(),
                users.len(),
                made.len()
            );
            Ok(())
        }
        CertsCommand::Issue { ca, cn, out, days } => {
            let id = varsel_testkit::certs::issue(
                &ca,
                &out,
                &cn,
                &cn,
                varsel_testkit::certs::Purpose::Client,
                &[],
                varsel_testkit::certs::Validity::For(std::time::Duration::from_secs(
                    days * 24 * 3600,
                )),
            )
            .map_err(|e| fail(EX_CANTCREAT)(e.into()))?;
            println!(
                "issued {} (key {}, mode 0600) for AMQP user {cn}",
                id.cert.display(),
                id.key.display()
            );
            Ok(())
        }
    }
}
