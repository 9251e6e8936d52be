//! `varsel audit`: verify the hash-chained audit log, export one alert's record, verify an export.

use anyhow::Context;

use varsel_broker::{audit, store};

use super::exit::{fail, Failure, EX_DATAERR, EX_UNAVAILABLE, EX_USAGE};
use super::load::load_config;
use super::AuditCommand;

pub(super) async fn run(command: AuditCommand) -> Result<(), Failure> {
    match command {
        AuditCommand::Verify { config } => {
            let c = load_config(&config)?;
            let store = store::Store::connect(&c.store_url)
                .await
                .map_err(|e| fail(EX_UNAVAILABLE)(e.into()))?;
            let entries = store
                .audit_entries(None)
                .await
                .map_err(|e| fail(EX_UNAVAILABLE)(e.into()))?;
            match audit::verify(&entries) {
                Ok(n) => {
                    println!("audit chain intact: {n} entries");
                    Ok(())
                }
                Err(broken) => Err(fail(EX_DATAERR)(anyhow::anyhow!(
                    "audit chain broken: {broken}"
                ))),
            }
        }
        AuditCommand::Export { config, alert } => {
            let c = load_config(&config)?;
            let store = store::Store::connect(&c.store_url)
                .await
                .map_err(|e| fail(EX_UNAVAILABLE)(e.into()))?;
            let record = audit::export(&store, alert)
                .await
                .map_err(|e| fail(EX_UNAVAILABLE)(anyhow::anyhow!("{e}")))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&record).unwrap_or_default()
            );
            Ok(())
        }
        AuditCommand::VerifyExport { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))
                .map_err(fail(EX_USAGE))?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .context("not JSON")
                .map_err(fail(EX_DATAERR))?;
            audit::verify_export(&value)
                .map_err(|b| fail(EX_DATAERR)(anyhow::anyhow!("export does not verify: {b}")))?;
            println!("{}: the exported record verifies", file.display());
            Ok(())
        }
    }
}
