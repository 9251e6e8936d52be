//! The bench's world: participants with fresh keys, the registry, a routing table that sends
//! every alert to every agency, the broker's configuration, and the alert the schools send.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;

use varsel_participant::client::Client;
use varsel_participant::config::ClientConfig;
use varsel_protocol::alert::Document;
use varsel_protocol::envelope;
use varsel_protocol::message::{ParticipantId, Suite};
use varsel_transport::settings::Amqp;

use super::Options;

pub(super) const MUNICIPALITY: &str = "0581";

pub(super) struct World {
    pub(super) dir: PathBuf,
    pub(super) schools: Vec<ParticipantId>,
    pub(super) agencies: Vec<ParticipantId>,
}

impl World {
    pub(super) fn write(dir: &Path, o: &Options) -> anyhow::Result<World> {
        let keys = dir.join("keys");
        std::fs::create_dir_all(&keys)?;
        let from = Utc::now() - chrono::Duration::minutes(5);
        let mut registry = String::from("# varsel bench registry: fresh keys for one run.\n\n");
        let mut add = |id: &str, role: &str, muni: Option<&str>| -> anyhow::Result<ParticipantId> {
            let pid: ParticipantId = id.parse()?;
            let made = envelope::keygen(&pid, &keys, from)
                .with_context(|| format!("making keys for {id}"))?;
            registry.push_str(&format!(
                "[[participant]]\nid = \"{id}\"\nname = \"{id}\"\nrole = \"{role}\"\n"
            ));
            if let Some(m) = muni {
                registry.push_str(&format!("municipality = \"{m}\"\n"));
            }
            registry.push_str("office_hours = \"always\"\n");
            registry.push_str(&made.registry_entry);
            registry.push('\n');
            Ok(pid)
        };
        add("varsel-broker", "broker", None)?;
        add("bench-ops", "ops", None)?;
        let schools = (1..=o.schools)
            .map(|i| {
                add(
                    &format!("bench-school-{i:03}"),
                    "school",
                    Some(MUNICIPALITY),
                )
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let agencies = (1..=o.recipients)
            .map(|i| {
                add(
                    &format!("bench-agency-{i:03}"),
                    "agency",
                    Some(MUNICIPALITY),
                )
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        std::fs::write(dir.join("registry.toml"), registry)?;

        let mut table = String::from(
            "name = \"bench\"\ndefault_recipient = \"bench-ops\"\ndefault_policy = \"bench\"\n\n\
             [[rule]]\nname = \"every-alert\"\nescalation = \"bench\"\n\n[rule.match]\n",
        );
        table.push_str(&format!("municipality = [\"{MUNICIPALITY}\"]\n\n"));
        for a in &agencies {
            table.push_str(&format!(
                "[[rule.recipient]]\nparticipant = \"{a}\"\nrole = \"required\"\n\
                 sections = [\"core\", \"family\", \"travel\", \"school_actions\"]\n\n"
            ));
        }
        // Deadlines far beyond the run: no escalation step fires while it is measured.
        table.push_str(
            "[policy.bench]\nreceipt_deadline = \"1d\"\nack_deadline = \"7d\"\n\n\
             [[policy.bench.step]]\nafter = \"1d\"\naction = \"page_ops\"\n",
        );
        std::fs::write(dir.join("routing.toml"), table)?;
        Ok(World {
            dir: dir.to_path_buf(),
            schools,
            agencies,
        })
    }

    pub(super) fn client(
        &self,
        id: &ParticipantId,
        url: &str,
        suite: Suite,
    ) -> anyhow::Result<Client> {
        Ok(Client::load(ClientConfig {
            participant: id.clone(),
            keys_dir: self.dir.join("keys"),
            registry: self.dir.join("registry.toml"),
            state_dir: self.dir.join("state").join(id.as_str()),
            suite,
            amqp: Amqp {
                urls: vec![url.to_owned()],
                prefetch: 64,
                reconnect_max_delay: Duration::from_secs(5),
                tls: None,
            },
        })?)
    }

    pub(super) fn sample_alert_bytes(&self, o: &Options) -> anyhow::Result<usize> {
        let c = self.client(&self.schools[0], "amqp://unused", o.suite)?;
        let (_, compact) = c.seal(&document()?, Utc::now())?;
        Ok(compact.len())
    }

    pub(super) fn broker_config(
        &self,
        url: &str,
        store_url: &str,
        prefetch: u16,
    ) -> anyhow::Result<PathBuf> {
        let text = format!(
            "[broker]\nid = \"varsel-broker\"\nkeys = \"keys\"\nregistry = \"registry.toml\"\n\
             routing = \"routing.toml\"\nshutdown_grace = \"10s\"\n\n\
             [amqp]\nurl = \"{url}\"\nprefetch = {prefetch}\n\n\
             [store]\nurl = \"{store_url}\"\n\n\
             [intake]\nmax_age = \"{max_age}s\"\n",
            max_age = super::presealed::MAX_AGE_S,
        );
        let path = self.dir.join("varsel.toml");
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

/// The school's example alert, with the departure moved into the future.
pub(super) fn document() -> anyhow::Result<Document> {
    let mut doc: Document = serde_json::from_str(varsel_testkit::world::ALERT_EXAMPLE)?;
    let departure = Utc::now() + chrono::Duration::hours(12);
    doc.header.planned_departure = Some(departure);
    if let Some(t) = doc.body.travel.as_mut() {
        t.planned_departure = Some(departure);
    }
    Ok(doc)
}
