//! `varsel audit`: verify the hash-chained audit log (and, with `--checkpoints`, against the
//! broker's signed checkpoints), export one alert's record with the checkpoint that covers it,
//! verify an export and its checkpoint.

use anyhow::Context;

use varsel_broker::config::Config;
use varsel_broker::evidence::{self, Keys};
use varsel_broker::{audit, store};
use varsel_protocol::envelope;
use varsel_protocol::registry::Registry;

use super::exit::{fail, Failure, EX_CONFIG, EX_DATAERR, EX_UNAVAILABLE, EX_USAGE};
use super::load::load_config;
use super::{AuditCommand, KeyArgs};

/// The keys named on the command line, else the configuration's registry (if there is one).
enum Loaded {
    Registry(Registry),
    Key(Vec<u8>),
}

impl Loaded {
    fn load(args: &KeyArgs, config: Option<&Config>) -> Result<Option<Loaded>, Failure> {
        if let Some(path) = &args.key {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))
                .map_err(fail(EX_USAGE))?;
            let key = envelope::unb64(text.trim())
                .filter(|k| k.len() == 32)
                .with_context(|| {
                    format!(
                        "{}: not a base64url Ed25519 public key (32 bytes)",
                        path.display()
                    )
                })
                .map_err(fail(EX_DATAERR))?;
            return Ok(Some(Loaded::Key(key)));
        }
        let path = match (&args.registry, config) {
            (Some(p), _) => p.clone(),
            (None, Some(c)) => c.registry.clone(),
            (None, None) => return Ok(None),
        };
        let registry = Registry::load(&path).map_err(|e| fail(EX_CONFIG)(e.into()))?;
        Ok(Some(Loaded::Registry(registry)))
    }

    fn keys(&self) -> Keys<'_> {
        match self {
            Loaded::Registry(r) => Keys::Registry(r),
            Loaded::Key(k) => Keys::Key(k),
        }
    }
}

async fn open(config: &Config) -> Result<store::Store, Failure> {
    store::Store::connect(&config.store_url)
        .await
        .map_err(|e| fail(EX_UNAVAILABLE)(e.into()))
}

pub(super) async fn run(command: AuditCommand) -> Result<(), Failure> {
    match command {
        AuditCommand::Verify {
            config,
            checkpoints,
            keys,
        } => {
            let c = load_config(&config)?;
            let store = open(&c).await?;
            let entries = store
                .audit_entries(None)
                .await
                .map_err(|e| fail(EX_UNAVAILABLE)(e.into()))?;
            let Some(file) = checkpoints else {
                return match audit::verify(&entries) {
                    Ok(n) => {
                        println!("audit chain intact: {n} entries");
                        Ok(())
                    }
                    Err(broken) => Err(fail(EX_DATAERR)(anyhow::anyhow!(
                        "audit chain broken: {broken}"
                    ))),
                };
            };
            let loaded =
                Loaded::load(&keys, Some(&c))?.expect("the configuration names a registry");
            let signed = evidence::read_file(&file, &loaded.keys())
                .map_err(|e| fail(EX_DATAERR)(anyhow::anyhow!("{e}")))?;
            match evidence::verify_chain(&entries, &signed) {
                Ok(ok) => {
                    println!(
                        "audit chain intact: {} entries, matching {} signed checkpoints{}",
                        ok.entries,
                        ok.checkpoints,
                        ok.anchored
                            .map(|s| format!(" (the last vouches for entry {s})"))
                            .unwrap_or_default()
                    );
                    Ok(())
                }
                Err(finding) => Err(fail(EX_DATAERR)(anyhow::anyhow!(
                    "audit chain does not match its checkpoints from entry {}: {finding}",
                    finding.seq()
                ))),
            }
        }
        AuditCommand::Export { config, alert } => {
            let c = load_config(&config)?;
            let store = open(&c).await?;
            let record = evidence::export(&store, alert)
                .await
                .map_err(|e| fail(EX_UNAVAILABLE)(anyhow::anyhow!("{e}")))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&record).unwrap_or_default()
            );
            Ok(())
        }
        AuditCommand::VerifyExport { file, keys } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))
                .map_err(fail(EX_USAGE))?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .context("not JSON")
                .map_err(fail(EX_DATAERR))?;
            let Some(loaded) = Loaded::load(&keys, None)? else {
                audit::verify_export(&value).map_err(|b| {
                    fail(EX_DATAERR)(anyhow::anyhow!("export does not verify: {b}"))
                })?;
                let note = if value.get("checkpoint").is_some_and(|c| !c.is_null()) {
                    "; its checkpoint's signature was not checked (give --registry or --key)"
                } else {
                    ""
                };
                println!("{}: the exported record verifies{note}", file.display());
                return Ok(());
            };
            let checkpoint = evidence::verify_export(&value, Some(&loaded.keys()))
                .map_err(|b| fail(EX_DATAERR)(anyhow::anyhow!("export does not verify: {b}")))?;
            match checkpoint {
                Some(c) => println!(
                    "{}: the exported record verifies, under a checkpoint of entry {} signed by {} at {}",
                    file.display(),
                    c.seq,
                    c.signer,
                    c.at.to_rfc3339()
                ),
                None => println!(
                    "{}: the exported record verifies (it embeds no checkpoint)",
                    file.display()
                ),
            }
            Ok(())
        }
    }
}
