//! The participant registry: participants, roles, keys with validity and revocation.
//!
//! The registry is a TOML file (see `deploy/registry.example.toml` and
//! `schemas/registry.schema.json`):
//!
//! ```toml
//! [[participant]]
//! id = "norrkoping-ektorpsskolan"
//! name = "Ektorpsskolan"
//! role = "school"                 # school | preschool | agency | broker | ops
//! # agency = "police"             # for role agency: social_services | police |
//! #                               # forsakringskassan | skatteverket (which notes it may post)
//! municipality = "0581"           # required for schools and preschools
//! amqp_user = "norrkoping-ektorpsskolan"
//! mailbox = "elevhalsa@ektorp.example"
//! office_hours = "mon-fri 08:00-17:00"
//! acts_for = []
//! show_officer_name = false
//! [[participant.signing_key]]
//! kid = "…"                       # derived from the public key, see `envelope`
//! public_key = "…"                # base64url, 32 bytes
//! valid_from = "2026-01-01T00:00:00Z"
//! valid_until = "2028-01-01T00:00:00Z"
//! revoked = false
//! [[participant.sealing_key]]
//! kid = "…"
//! suite = "DHKEM-X25519-HKDF-SHA256/HKDF-SHA256/CHACHA20-POLY1305"
//! public_key = "…"
//! valid_from = "2026-01-01T00:00:00Z"
//! ```
//!
//! Loading validates everything and reports every problem at once, each with the file, the key
//! path (`participant[3].signing_key[0].public_key`) and what was expected, the way every varsel
//! file is loaded (see [`crate::problems`]). It goes in three steps, one file each: `raw` is the
//! file as serde reads it, `entries` validates each participant with its keys, `consistency`
//! checks across entries and builds the [`Registry`]. An unknown key or a value of the wrong
//! type stops serde, so such a problem is reported alone.

mod consistency;
mod entries;
mod raw;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::calendar::OfficeHours;
use crate::envelope;
use crate::problems::{self, Problems};

// The key types belong to the envelope, which verifies with them; they are re-exported here
// because a registry entry is where people meet them.
pub use crate::envelope::keys::{KeyLookup, SealingKey, SigningKey, Usability, Validity};
use crate::message::{Kind, Kommunkod, ParticipantId, Suite};

/// One problem in a registry file: its key path and what was expected there. The file it is in
/// is the `origin` of the [`Error`].
pub use crate::problems::Problem;

/// Why a registry could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read registry {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The text is not TOML.
    #[error("{origin}: not valid TOML: {message}")]
    Syntax { origin: String, message: String },
    /// The text is TOML but not a valid registry: every problem found, or the one unknown key or
    /// value of the wrong type that stopped serde.
    #[error("{origin}: {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  {origin}: {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        origin: String,
        problems: Vec<Problem>,
    },
}

crate::message::code_enum!(
    /// What a participant is, which decides what it may send.
    Role {
        School = "school",
        Preschool = "preschool",
        /// Social services, police, Försäkringskassan, Skatteverket.
        Agency = "agency",
        /// varsel itself.
        Broker = "broker",
        /// Operations staff: they watch, they do not send messages.
        Ops = "ops",
    }
);

crate::message::code_enum!(
    /// What kind of agency a participant with role `agency` is: decides which notes it may post
    /// to a case (see the note module) and which note lines of the routing table reach it.
    Agency {
        /// Socialtjänsten and socialjouren.
        SocialServices = "social_services",
        /// Polisen.
        Police = "police",
        Forsakringskassan = "forsakringskassan",
        Skatteverket = "skatteverket",
    }
);

impl Role {
    /// Whether a participant of this role may send a message of this kind.
    pub fn may_send(self, kind: Kind) -> bool {
        match self {
            // A school's receipts and acks are for the deliveries it gets: the notes to its
            // cases that the routing table sends it (the broker holds each to its recipient).
            // Its one note is the closing of its own case (see `note::may_post`).
            Role::School | Role::Preschool => matches!(
                kind,
                Kind::Alert | Kind::Update | Kind::Cancel | Kind::Receipt | Kind::Ack | Kind::Note
            ),
            Role::Agency => matches!(kind, Kind::Receipt | Kind::Ack | Kind::Note),
            Role::Broker => matches!(
                kind,
                Kind::Delivery | Kind::Feedback | Kind::Error | Kind::Checkpoint | Kind::Heartbeat
            ),
            Role::Ops => false,
        }
    }
}

/// A registered participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    pub id: ParticipantId,
    pub name: String,
    pub role: Role,
    /// For an agency, what kind it is; `None` for other roles and for an agency that posts no
    /// notes.
    pub agency: Option<Agency>,
    pub municipality: Option<Kommunkod>,
    /// The AMQP user id (certificate subject CN with EXTERNAL auth).
    pub amqp_user: Option<String>,
    /// Functional mailbox for notifications.
    pub mailbox: Option<String>,
    /// When the office is staffed, read when the registry is loaded (a value that does not parse
    /// refuses the file); `None` when the registry gives none. Its `Display` is the canonical form.
    pub office_hours: Option<OfficeHours>,
    /// Participants this one may update or cancel alerts for.
    pub acts_for: Vec<ParticipantId>,
    /// Whether an officer's name may be shown to the school in feedback.
    pub show_officer_name: bool,
    pub signing_keys: Vec<SigningKey>,
    pub sealing_keys: Vec<SealingKey>,
}

/// A loaded and validated registry.
#[derive(Debug, Clone)]
pub struct Registry {
    participants: Vec<Participant>,
    by_id: HashMap<ParticipantId, usize>,
    by_signing_kid: HashMap<String, (usize, usize)>,
    broker: usize,
    version: String,
    origin: String,
}

impl Registry {
    /// Load and validate a registry file.
    pub fn load(path: &Path) -> Result<Registry, Error> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        let origin = path.display().to_string();
        let text = String::from_utf8(bytes).map_err(|_| Error::Syntax {
            origin: origin.clone(),
            message: "the file is not UTF-8".into(),
        })?;
        Registry::from_toml_str(&text, &origin)
    }

    /// Parse and validate registry text; `origin` names it in problems (usually the file path).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Registry, Error> {
        let raw: raw::RawRegistry =
            problems::parse_toml(text, origin).map_err(|e| not_a_registry(text, e))?;
        let mut problems = Problems::default();
        let drafts = entries::participants(&mut problems, raw);
        let version = hex::encode(envelope::sha256(text.as_bytes()));
        match consistency::cross_check(&mut problems, drafts, version, origin) {
            Some(r) if problems.is_empty() => Ok(r),
            _ => Err(Error::Invalid {
                origin: origin.to_owned(),
                problems: problems.into_vec(),
            }),
        }
    }

    pub fn participant(&self, id: &ParticipantId) -> Option<&Participant> {
        self.by_id.get(id).map(|&i| &self.participants[i])
    }

    /// Every participant, in file order.
    pub fn participants(&self) -> &[Participant] {
        &self.participants
    }

    /// The one participant with role `broker`.
    pub fn broker(&self) -> &Participant {
        &self.participants[self.broker]
    }

    /// The signing key with this key id and its owner, whatever its validity.
    pub fn signing_key(&self, kid: &str) -> Option<(&Participant, &SigningKey)> {
        self.by_signing_kid.get(kid).map(|&(p, k)| {
            let p = &self.participants[p];
            (p, &p.signing_keys[k])
        })
    }

    /// A sealing key of `id` usable at `at`: of the `preferred` suite if there is one, otherwise
    /// any; among equals the one that became valid last.
    pub fn sealing_key_for(
        &self,
        id: &ParticipantId,
        preferred: Option<Suite>,
        at: DateTime<Utc>,
    ) -> Option<&SealingKey> {
        let p = self.participant(id)?;
        p.sealing_keys
            .iter()
            .filter(|k| k.validity.is_usable(at))
            .max_by_key(|k| (Some(k.suite) == preferred, k.validity.valid_from))
    }

    /// Hex SHA-256 of the registry text, recorded with what was decided under it.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Where the registry was loaded from.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

impl KeyLookup for Registry {
    fn signing_key_owner(&self, kid: &str) -> Option<(&ParticipantId, &SigningKey)> {
        self.signing_key(kid).map(|(p, k)| (&p.id, k))
    }

    fn is_registered(&self, id: &ParticipantId) -> bool {
        self.participant(id).is_some()
    }
}

/// Why serde stopped: text that is not TOML at all is a syntax error, told with the line and
/// column the TOML parser gives; TOML of the wrong shape (an unknown key, a value of the wrong
/// type) is a problem of the registry at its key path.
fn not_a_registry(text: &str, stopped: problems::Error) -> Error {
    match text.parse::<toml::Table>() {
        Err(e) => Error::Syntax {
            origin: stopped.origin,
            message: e.to_string(),
        },
        Ok(_) => Error::Invalid {
            origin: stopped.origin,
            problems: stopped.problems,
        },
    }
}

/// The set of problem paths, for tests and tools that want to match on them.
pub fn problem_paths(err: &Error) -> HashSet<String> {
    match err {
        Error::Invalid { problems, .. } => problems.iter().map(|p| p.key.clone()).collect(),
        _ => HashSet::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{b64, SealingSecret, SigningKeyPair};

    fn signing_entry(k: &SigningKeyPair, extra: &str) -> String {
        format!(
            "[[participant.signing_key]]\nkid = \"{}\"\npublic_key = \"{}\"\nvalid_from = \"2026-01-01T00:00:00Z\"\n{extra}\n",
            k.kid(),
            b64(k.public_key())
        )
    }

    fn sealing_entry(s: &SealingSecret) -> String {
        format!(
            "[[participant.sealing_key]]\nkid = \"{}\"\nsuite = \"{}\"\npublic_key = \"{}\"\nvalid_from = 2026-01-01T00:00:00Z\n",
            s.kid,
            s.suite.code(),
            b64(s.public_key())
        )
    }

    fn good() -> String {
        let (school, _) = SigningKeyPair::generate().unwrap();
        let (broker, _) = SigningKeyPair::generate().unwrap();
        let (agency, _) = SigningKeyPair::generate().unwrap();
        let bs = SealingSecret::generate(Suite::X25519).unwrap();
        let bx = SealingSecret::generate(Suite::XWing).unwrap();
        let as_ = SealingSecret::generate(Suite::X25519).unwrap();
        format!(
            "[[participant]]\nid = \"varsel\"\nname = \"varsel\"\nrole = \"broker\"\n{}{}{}\n\
             [[participant]]\nid = \"skola-a\"\nname = \"Skola A\"\nrole = \"school\"\nmunicipality = \"0581\"\namqp_user = \"skola-a\"\n{}\n\
             [[participant]]\nid = \"soc-0581\"\nname = \"Socialtjänsten\"\nrole = \"agency\"\nmunicipality = \"0581\"\nmailbox = \"soc@norrkoping.example\"\nshow_officer_name = true\n{}{}",
            signing_entry(&broker, ""),
            sealing_entry(&bs),
            sealing_entry(&bx),
            signing_entry(&school, "valid_until = \"2027-01-01T00:00:00Z\""),
            signing_entry(&agency, "revoked = true"),
            sealing_entry(&as_),
        )
    }

    #[test]
    fn a_good_registry_loads_and_answers() {
        let text = good();
        let r = Registry::from_toml_str(&text, "test.toml").unwrap();
        assert_eq!(r.broker().id.as_str(), "varsel");
        assert_eq!(r.participants().len(), 3);
        let school = r.participant(&"skola-a".parse().unwrap()).unwrap();
        assert_eq!(school.role, Role::School);
        assert_eq!(school.municipality.as_ref().unwrap().as_str(), "0581");
        let kid = &school.signing_keys[0].kid;
        assert_eq!(r.signing_key(kid).unwrap().0.id, school.id);
        assert!(r.signing_key("nope").is_none());
        assert_eq!(r.version(), hex::encode(envelope::sha256(text.as_bytes())));
        assert!(
            r.participant(&"soc-0581".parse().unwrap())
                .unwrap()
                .show_officer_name
        );

        let now: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().unwrap();
        let broker = r.broker().id.clone();
        assert_eq!(
            r.sealing_key_for(&broker, Some(Suite::XWing), now)
                .unwrap()
                .suite,
            Suite::XWing
        );
        assert_eq!(
            r.sealing_key_for(&broker, Some(Suite::X25519), now)
                .unwrap()
                .suite,
            Suite::X25519
        );
        let before: DateTime<Utc> = "2025-06-01T00:00:00Z".parse().unwrap();
        assert!(r.sealing_key_for(&broker, None, before).is_none());
    }

    #[test]
    fn roles_send_only_their_kinds() {
        assert!(Role::School.may_send(Kind::Alert));
        assert!(Role::Preschool.may_send(Kind::Cancel));
        assert!(Role::School.may_send(Kind::Receipt));
        assert!(Role::School.may_send(Kind::Note));
        assert!(!Role::School.may_send(Kind::Delivery));
        assert!(Role::Agency.may_send(Kind::Receipt));
        assert!(!Role::Agency.may_send(Kind::Alert));
        assert!(Role::Broker.may_send(Kind::Delivery));
        assert!(!Role::Broker.may_send(Kind::Alert));
        assert!(Kind::ALL.iter().all(|k| !Role::Ops.may_send(*k)));
    }

    #[test]
    fn every_problem_is_reported_with_its_key_path() {
        let (k, _) = SigningKeyPair::generate().unwrap();
        let (k2, _) = SigningKeyPair::generate().unwrap();
        let s = SealingSecret::generate(Suite::X25519).unwrap();
        let text = format!(
            "[[participant]]\nid = \"skola-a\"\nname = \"A\"\nrole = \"school\"\nmunicipality = \"581\"\n{}\n\
             [[participant]]\nid = \"skola-a\"\nname = \"B\"\nrole = \"teacher\"\nacts_for = [\"ghost\"]\nmailbox = \"nobody\"\n\
             [[participant.signing_key]]\nkid = \"wrong\"\npublic_key = \"{}\"\nvalid_from = \"2026-01-01T00:00:00Z\"\n\
             [[participant.signing_key]]\nkid = \"x\"\npublic_key = \"not base64!\"\nvalid_from = \"2026-01-01T00:00:00Z\"\n\
             [[participant.signing_key]]\nkid = \"{}\"\npublic_key = \"{}\"\nvalid_from = \"2026-01-01T00:00:00Z\"\nvalid_until = \"2025-01-01T00:00:00Z\"\n\
             [[participant.sealing_key]]\nkid = \"{}\"\nsuite = \"RSA\"\npublic_key = \"{}\"\nvalid_from = \"yesterday\"\n\
             [[participant.sealing_key]]\nkid = \"{}\"\nsuite = \"{}\"\npublic_key = \"{}\"\nvalid_from = \"2026-01-01T00:00:00Z\"\n",
            signing_entry(&k, ""),
            b64(k2.public_key()),
            k2.kid(),
            b64(&[1u8; 31]),
            s.kid,
            b64(s.public_key()),
            k.kid(),
            Suite::X25519.code(),
            b64(s.public_key()),
        );
        let err = Registry::from_toml_str(&text, "reg.toml").unwrap_err();
        let paths = problem_paths(&err);
        for expected in [
            "participant[0].municipality",
            "participant[1].id",
            "participant[1].role",
            "participant[1].acts_for[0]",
            "participant[1].mailbox",
            "participant[1].signing_key[0].kid",
            "participant[1].signing_key[1].public_key",
            "participant[1].signing_key[2].public_key",
            "participant[1].signing_key[2].valid_until",
            "participant[1].sealing_key[0].suite",
            "participant[1].sealing_key[0].valid_from",
            "participant[1].sealing_key[1].kid",
            "participant",
        ] {
            assert!(paths.contains(expected), "no problem at {expected}: {err}");
        }
        let text = err.to_string();
        assert!(text.starts_with("reg.toml: "), "{text}");
        assert!(
            text.contains("reg.toml: participant[1].role: \"teacher\" is not a role"),
            "{text}"
        );
        assert!(text.contains("expected exactly one"), "{text}");

        // An unknown key stops serde, so it is reported on its own, still at its key path.
        let text = format!("colour = \"blue\"\n{}", good());
        let err = Registry::from_toml_str(&text, "reg.toml").unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{err}");
        assert!(problem_paths(&err).contains("colour"), "{err}");
    }

    /// `good()` with office hours for social services (the third participant).
    fn with_office_hours(hours: &str) -> String {
        good().replacen(
            "role = \"agency\"\n",
            &format!("role = \"agency\"\noffice_hours = \"{hours}\"\n"),
            1,
        )
    }

    #[test]
    fn office_hours_are_read_when_the_file_is_loaded() {
        let text = with_office_hours("mon-fri 08:00-17:00");
        let r = Registry::from_toml_str(&text, "reg.toml").unwrap();
        let hours = r
            .participant(&"soc-0581".parse().unwrap())
            .unwrap()
            .office_hours
            .clone()
            .expect("office hours read");
        assert_eq!(hours.to_string(), "mon-fri 08:00-17:00");
        // Tuesday 2026-03-10 23:00 CET is closed, 10:00 open.
        assert!(!hours.is_open("2026-03-10T22:00:00Z".parse().unwrap()));
        assert!(hours.is_open("2026-03-10T09:00:00Z".parse().unwrap()));
        assert!(r.broker().office_hours.is_none());
    }

    /// A typo refuses the file under its key path, rather than leaving the office with no known
    /// hours ("treated as open") when an alert is routed at night.
    #[test]
    fn a_typo_in_office_hours_refuses_the_file() {
        for typo in ["mon-fri 8-17", "mon-fre 08:00-17:00", "weekdays"] {
            let err = Registry::from_toml_str(&with_office_hours(typo), "reg.toml")
                .expect_err(&format!("{typo:?} must refuse the registry"));
            assert_eq!(
                problem_paths(&err),
                HashSet::from(["participant[2].office_hours".to_owned()]),
                "{typo:?}: {err}"
            );
            let shown = err.to_string();
            assert!(
                shown.contains("reg.toml: participant[2].office_hours: office hours"),
                "{shown}"
            );
        }
    }

    #[test]
    fn syntax_errors_name_the_origin() {
        let err = Registry::from_toml_str("[[participant]\n", "bad.toml").unwrap_err();
        assert!(matches!(err, Error::Syntax { .. }));
        assert!(err.to_string().starts_with("bad.toml: "));
    }

    #[test]
    fn the_deployment_example_loads() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .join("deploy/registry.example.toml");
        let r = Registry::load(&path).unwrap();
        assert_eq!(r.broker().id.as_str(), "varsel");
        let polisen = r.participant(&"polisen".parse().unwrap()).unwrap();
        assert_eq!(polisen.role, Role::Agency);
        assert!(polisen.municipality.is_none());
        assert!(matches!(
            Registry::load(&path.with_extension("missing")),
            Err(Error::Read { .. })
        ));
    }

    /// The schema and the loader agree on every example: valid ones pass both (as TOML), invalid
    /// ones fail both.
    #[test]
    fn schema_and_loader_agree_on_the_examples() {
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("schemas");
        let schema: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root.join("registry.schema.json")).unwrap(),
        )
        .unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let mut seen = 0;
        for (dir, valid) in [("valid", true), ("invalid", false)] {
            for entry in std::fs::read_dir(root.join("examples/registry").join(dir)).unwrap() {
                let path = entry.unwrap().path();
                let example: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                assert_eq!(
                    validator.is_valid(&example),
                    valid,
                    "schema on {}",
                    path.display()
                );
                let text = toml::to_string(&example).unwrap();
                let loaded = Registry::from_toml_str(&text, &path.display().to_string());
                assert_eq!(
                    loaded.is_ok(),
                    valid,
                    "loader on {}: {:?}",
                    path.display(),
                    loaded.err()
                );
                seen += 1;
            }
        }
        assert!(seen >= 10);
    }

    #[test]
    fn duplicate_ids_and_kids_are_reported() {
        let (k, _) = SigningKeyPair::generate().unwrap();
        let s = SealingSecret::generate(Suite::X25519).unwrap();
        let entry = format!("{}{}", signing_entry(&k, ""), sealing_entry(&s));
        let text = format!(
            "[[participant]]\nid = \"varsel\"\nname = \"v\"\nrole = \"broker\"\namqp_user = \"u\"\n{entry}\n\
             [[participant]]\nid = \"varsel\"\nname = \"w\"\nrole = \"agency\"\namqp_user = \"u\"\n{entry}"
        );
        let err = Registry::from_toml_str(&text, "dup.toml").unwrap_err();
        let paths = problem_paths(&err);
        for expected in [
            "participant[1].id",
            "participant[1].amqp_user",
            "participant[1].signing_key[0].kid",
            "participant[1].sealing_key[0].kid",
        ] {
            assert!(paths.contains(expected), "no problem at {expected}: {err}");
        }
    }
}
