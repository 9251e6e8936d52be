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
//! path (`participant[3].signing_key[0].public_key`) and what was expected.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use chrono::{DateTime, Utc};
use toml::{Table, Value};

use crate::envelope::{self, keys};
use crate::message::{Kind, Kommunkod, ParticipantId, Suite};

/// Why a registry could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read registry {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: not valid TOML: {message}")]
    Syntax { origin: String, message: String },
    #[error("{origin}: {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        origin: String,
        problems: Vec<Problem>,
    },
}

/// One problem in a registry file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file (or other origin) the registry came from.
    pub origin: String,
    /// The key path, e.g. `participant[3].signing_key[0].public_key`.
    pub path: String,
    /// What was wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.origin, self.path, self.message)
    }
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

impl Role {
    /// Whether a participant of this role may send a message of this kind.
    pub fn may_send(self, kind: Kind) -> bool {
        match self {
            Role::School | Role::Preschool => {
                matches!(kind, Kind::Alert | Kind::Update | Kind::Cancel)
            }
            Role::Agency => matches!(kind, Kind::Receipt | Kind::Ack),
            Role::Broker => matches!(kind, Kind::Delivery | Kind::Feedback | Kind::Error),
            Role::Ops => false,
        }
    }
}

/// When a key may be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validity {
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    pub revoked: bool,
}

/// Whether a key may be used at an instant, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usability {
    Usable,
    Revoked,
    NotYetValid,
    Expired,
}

impl Validity {
    /// Whether the key may be used at `at`. Revocation wins over the validity period; the period
    /// is half-open, `valid_from <= at < valid_until`.
    pub fn usability(&self, at: DateTime<Utc>) -> Usability {
        if self.revoked {
            Usability::Revoked
        } else if at < self.valid_from {
            Usability::NotYetValid
        } else if self.valid_until.is_some_and(|until| at >= until) {
            Usability::Expired
        } else {
            Usability::Usable
        }
    }

    pub fn is_usable(&self, at: DateTime<Utc>) -> bool {
        self.usability(at) == Usability::Usable
    }
}

/// A registered Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub kid: String,
    /// The 32-byte public key.
    pub public_key: Vec<u8>,
    pub validity: Validity,
}

/// A registered HPKE public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealingKey {
    pub kid: String,
    pub suite: Suite,
    pub public_key: Vec<u8>,
    pub validity: Validity,
}

/// A registered participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    pub id: ParticipantId,
    pub name: String,
    pub role: Role,
    pub municipality: Option<Kommunkod>,
    /// The AMQP user id (certificate subject CN with EXTERNAL auth).
    pub amqp_user: Option<String>,
    /// Functional mailbox for notifications.
    pub mailbox: Option<String>,
    /// Office hours as written; the calendar module interprets them.
    pub office_hours: Option<String>,
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
        let table: Table = text.parse().map_err(|e: toml::de::Error| Error::Syntax {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        let mut v = Validator {
            origin: origin.to_owned(),
            problems: Vec::new(),
        };
        let participants = v.participants(&table);
        let registry = v.cross_check(
            participants,
            envelope::hex(&envelope::sha256(text.as_bytes())),
        );
        match registry {
            Some(r) if v.problems.is_empty() => Ok(r),
            _ => Err(Error::Invalid {
                origin: origin.to_owned(),
                problems: v.problems,
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

struct Validator {
    origin: String,
    problems: Vec<Problem>,
}

const PARTICIPANT_KEYS: &[&str] = &[
    "id",
    "name",
    "role",
    "municipality",
    "amqp_user",
    "mailbox",
    "office_hours",
    "acts_for",
    "show_officer_name",
    "signing_key",
    "sealing_key",
];
const SIGNING_KEY_KEYS: &[&str] = &["kid", "public_key", "valid_from", "valid_until", "revoked"];
const SEALING_KEY_KEYS: &[&str] = &[
    "kid",
    "suite",
    "public_key",
    "valid_from",
    "valid_until",
    "revoked",
];

/// A participant as read, before the cross-checks; `None` fields had problems already reported.
struct Draft {
    path: String,
    id: Option<ParticipantId>,
    name: Option<String>,
    role: Option<Role>,
    municipality: Option<Kommunkod>,
    amqp_user: Option<String>,
    mailbox: Option<String>,
    office_hours: Option<String>,
    acts_for: Vec<(String, ParticipantId)>,
    show_officer_name: bool,
    signing_keys: Vec<(String, SigningKey)>,
    sealing_keys: Vec<(String, SealingKey)>,
}

impl Validator {
    fn problem(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            origin: self.origin.clone(),
            path: path.into(),
            message: message.into(),
        });
    }

    fn unknown_keys(&mut self, table: &Table, path: &str, known: &[&str]) {
        for key in table.keys() {
            if !known.contains(&key.as_str()) {
                self.problem(
                    join(path, key),
                    format!("unknown key; expected one of {}", known.join(", ")),
                );
            }
        }
    }

    fn string(&mut self, t: &Table, path: &str, key: &str, required: bool) -> Option<String> {
        match t.get(key) {
            None if required => {
                self.problem(join(path, key), "missing; expected a string");
                None
            }
            None => None,
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.problem(join(path, key), "empty; expected a non-empty string");
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.problem(
                    join(path, key),
                    format!("expected a string, found {}", other.type_str()),
                );
                None
            }
        }
    }

    fn bool(&mut self, t: &Table, path: &str, key: &str) -> bool {
        match t.get(key) {
            None => false,
            Some(Value::Boolean(b)) => *b,
            Some(other) => {
                self.problem(
                    join(path, key),
                    format!("expected true or false, found {}", other.type_str()),
                );
                false
            }
        }
    }

    fn time(&mut self, t: &Table, path: &str, key: &str, required: bool) -> Option<DateTime<Utc>> {
        let text = match t.get(key) {
            None => {
                if required {
                    self.problem(join(path, key), "missing; expected an RFC 3339 timestamp");
                }
                return None;
            }
            Some(Value::String(s)) => s.clone(),
            Some(Value::Datetime(d)) => d.to_string(),
            Some(other) => {
                self.problem(
                    join(path, key),
                    format!("expected an RFC 3339 timestamp, found {}", other.type_str()),
                );
                return None;
            }
        };
        match DateTime::parse_from_rfc3339(&text) {
            Ok(d) => Some(d.with_timezone(&Utc)),
            Err(_) => {
                self.problem(
                    join(path, key),
                    format!("{text:?} is not an RFC 3339 timestamp with a UTC offset, e.g. 2026-01-01T00:00:00Z"),
                );
                None
            }
        }
    }

    fn tables<'t>(&mut self, t: &'t Table, path: &str, key: &str) -> Vec<(String, &'t Table)> {
        match t.get(key) {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    let p = format!("{}[{i}]", join(path, key));
                    match item {
                        Value::Table(table) => Some((p, table)),
                        other => {
                            self.problem(
                                p,
                                format!("expected a table, found {}", other.type_str()),
                            );
                            None
                        }
                    }
                })
                .collect(),
            Some(other) => {
                self.problem(
                    join(path, key),
                    format!(
                        "expected an array of tables ([[{key}]]), found {}",
                        other.type_str()
                    ),
                );
                Vec::new()
            }
        }
    }

    fn participants(&mut self, root: &Table) -> Vec<Draft> {
        self.unknown_keys(root, "", &["participant"]);
        let tables = self.tables(root, "", "participant");
        if tables.is_empty() && !root.contains_key("participant") {
            self.problem("participant", "missing; expected [[participant]] tables");
        }
        tables
            .into_iter()
            .map(|(path, t)| self.participant(&path, t))
            .collect()
    }

    fn participant(&mut self, path: &str, t: &Table) -> Draft {
        self.unknown_keys(t, path, PARTICIPANT_KEYS);
        let id = self
            .string(t, path, "id", true)
            .and_then(|s| match s.parse::<ParticipantId>() {
                Ok(id) => Some(id),
                Err(e) => {
                    self.problem(join(path, "id"), e.to_string());
                    None
                }
            });
        let name = self.string(t, path, "name", true);
        let role = self.string(t, path, "role", true).and_then(|s| match s.parse::<Role>() {
            Ok(r) => Some(r),
            Err(_) => {
                self.problem(
                    join(path, "role"),
                    format!("{s:?} is not a role; expected one of school, preschool, agency, broker, ops"),
                );
                None
            }
        });
        let municipality = self
            .string(t, path, "municipality", false)
            .and_then(|s| match s.parse::<Kommunkod>() {
                Ok(k) => Some(k),
                Err(_) => {
                    self.problem(
                        join(path, "municipality"),
                        format!(
                            "{s:?} is not a municipality code; expected four digits, e.g. \"0581\""
                        ),
                    );
                    None
                }
            });
        if matches!(role, Some(Role::School | Role::Preschool))
            && municipality.is_none()
            && !t.contains_key("municipality")
        {
            self.problem(
                join(path, "municipality"),
                "missing; schools and preschools need their municipality code",
            );
        }
        let amqp_user = self.string(t, path, "amqp_user", false);
        let mailbox = self.string(t, path, "mailbox", false);
        if let Some(m) = &mailbox {
            let ok = m.split_once('@').is_some_and(|(l, d)| {
                !l.is_empty() && d.contains('.') && !m.contains(char::is_whitespace)
            });
            if !ok {
                self.problem(
                    join(path, "mailbox"),
                    format!("{m:?} is not an email address; expected name@domain"),
                );
            }
        }
        let office_hours = self.string(t, path, "office_hours", false);
        let acts_for = self.acts_for(t, path);
        let show_officer_name = self.bool(t, path, "show_officer_name");
        let signing_keys = self
            .tables(t, path, "signing_key")
            .into_iter()
            .filter_map(|(p, k)| self.signing_key(&p, k).map(|key| (p, key)))
            .collect();
        let sealing_keys = self
            .tables(t, path, "sealing_key")
            .into_iter()
            .filter_map(|(p, k)| self.sealing_key(&p, k).map(|key| (p, key)))
            .collect();
        Draft {
            path: path.to_owned(),
            id,
            name,
            role,
            municipality,
            amqp_user,
            mailbox,
            office_hours,
            acts_for,
            show_officer_name,
            signing_keys,
            sealing_keys,
        }
    }

    fn acts_for(&mut self, t: &Table, path: &str) -> Vec<(String, ParticipantId)> {
        let key_path = join(path, "acts_for");
        match t.get("acts_for") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    let p = format!("{key_path}[{i}]");
                    match item.as_str().map(str::parse::<ParticipantId>) {
                        Some(Ok(id)) => Some((p, id)),
                        Some(Err(e)) => {
                            self.problem(p, e.to_string());
                            None
                        }
                        None => {
                            self.problem(p, "expected a participant id string");
                            None
                        }
                    }
                })
                .collect(),
            Some(other) => {
                self.problem(
                    key_path,
                    format!(
                        "expected an array of participant ids, found {}",
                        other.type_str()
                    ),
                );
                Vec::new()
            }
        }
    }

    fn validity(&mut self, t: &Table, path: &str) -> Option<Validity> {
        let from = self.time(t, path, "valid_from", true);
        let until = self.time(t, path, "valid_until", false);
        let revoked = self.bool(t, path, "revoked");
        let from = from?;
        if let Some(u) = until {
            if u <= from {
                self.problem(
                    join(path, "valid_until"),
                    format!("{u} is not after valid_from {from}"),
                );
                return None;
            }
        }
        Some(Validity {
            valid_from: from,
            valid_until: until,
            revoked,
        })
    }

    /// The public key bytes and the kid, checked against each other.
    fn public_key(
        &mut self,
        t: &Table,
        path: &str,
        tag: &str,
        expected_len: usize,
    ) -> Option<(Vec<u8>, String)> {
        let kid = self.string(t, path, "kid", true);
        let text = self.string(t, path, "public_key", true)?;
        let Some(bytes) = envelope::unb64(&text) else {
            self.problem(
                join(path, "public_key"),
                "not base64url (RFC 4648 section 5, without padding)",
            );
            return None;
        };
        if bytes.len() != expected_len {
            self.problem(
                join(path, "public_key"),
                format!("{} bytes; expected {expected_len}", bytes.len()),
            );
            return None;
        }
        let derived = envelope::key_id(tag, &bytes);
        let kid = kid?;
        if kid != derived {
            self.problem(
                join(path, "kid"),
                format!("{kid:?} does not match the public key; expected {derived:?}"),
            );
            return None;
        }
        Some((bytes, kid))
    }

    fn signing_key(&mut self, path: &str, t: &Table) -> Option<SigningKey> {
        self.unknown_keys(t, path, SIGNING_KEY_KEYS);
        let key = self.public_key(t, path, envelope::SIGNING_KEY_TAG, 32);
        let validity = self.validity(t, path);
        let (public_key, kid) = key?;
        Some(SigningKey {
            kid,
            public_key,
            validity: validity?,
        })
    }

    fn sealing_key(&mut self, path: &str, t: &Table) -> Option<SealingKey> {
        self.unknown_keys(t, path, SEALING_KEY_KEYS);
        let suite = self
            .string(t, path, "suite", true)
            .and_then(|s| match s.parse::<Suite>() {
                Ok(s) => Some(s),
                Err(_) => {
                    let known: Vec<_> = Suite::ALL.iter().map(|s| s.code()).collect();
                    self.problem(
                        join(path, "suite"),
                        format!("{s:?} is not a suite; expected one of {}", known.join(", ")),
                    );
                    None
                }
            });
        let validity = self.validity(t, path);
        let suite = suite?;
        let (public_key, kid) =
            self.public_key(t, path, suite.code(), keys::sealing_public_key_len(suite))?;
        if let Err(why) = keys::check_sealing_public_key(suite, &public_key) {
            self.problem(
                join(path, "public_key"),
                format!("not a valid {suite} public key: {why}"),
            );
            return None;
        }
        Some(SealingKey {
            kid,
            suite,
            public_key,
            validity: validity?,
        })
    }

    fn cross_check(&mut self, drafts: Vec<Draft>, version: String) -> Option<Registry> {
        let mut seen_ids: HashMap<ParticipantId, String> = HashMap::new();
        let mut seen_users: HashMap<String, String> = HashMap::new();
        let mut seen_kids: HashMap<String, String> = HashMap::new();
        for d in &drafts {
            if let Some(id) = &d.id {
                if let Some(first) = seen_ids.insert(id.clone(), d.path.clone()) {
                    self.problem(
                        join(&d.path, "id"),
                        format!("duplicate id {id:?}, also used by {first}"),
                    );
                }
            }
            if let Some(u) = &d.amqp_user {
                if let Some(first) = seen_users.insert(u.clone(), d.path.clone()) {
                    self.problem(
                        join(&d.path, "amqp_user"),
                        format!("duplicate AMQP user {u:?}, also used by {first}"),
                    );
                }
            }
            let kids = d
                .signing_keys
                .iter()
                .map(|(p, k)| (p, &k.kid))
                .chain(d.sealing_keys.iter().map(|(p, k)| (p, &k.kid)));
            for (p, kid) in kids {
                if let Some(first) = seen_kids.insert(kid.clone(), p.clone()) {
                    self.problem(
                        join(p, "kid"),
                        format!("duplicate key id {kid:?}, also used by {first}"),
                    );
                }
            }
            let sends = d.role.is_some_and(|r| r != Role::Ops);
            if sends && d.signing_keys.is_empty() && !self.has_problem_under(&d.path, "signing_key")
            {
                self.problem(
                    join(&d.path, "signing_key"),
                    "missing; this role sends messages and needs at least one [[participant.signing_key]]",
                );
            }
            let receives = matches!(d.role, Some(Role::Agency | Role::Broker));
            if receives
                && d.sealing_keys.is_empty()
                && !self.has_problem_under(&d.path, "sealing_key")
            {
                self.problem(
                    join(&d.path, "sealing_key"),
                    "missing; this role receives sealed sections and needs at least one [[participant.sealing_key]]",
                );
            }
        }
        for d in &drafts {
            for (p, target) in &d.acts_for {
                if !seen_ids.contains_key(target) {
                    self.problem(
                        p.clone(),
                        format!("{target:?} is not a registered participant"),
                    );
                } else if d.id.as_ref() == Some(target) {
                    self.problem(p.clone(), "a participant cannot act for itself");
                }
            }
        }
        let brokers: Vec<&Draft> = drafts
            .iter()
            .filter(|d| d.role == Some(Role::Broker))
            .collect();
        if brokers.len() != 1 {
            let at: Vec<&str> = brokers.iter().map(|d| d.path.as_str()).collect();
            self.problem(
                "participant",
                format!(
                    "{} participants with role \"broker\"{}; expected exactly one",
                    brokers.len(),
                    if at.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", at.join(", "))
                    }
                ),
            );
        }
        if !self.problems.is_empty() {
            return None;
        }

        let mut participants = Vec::with_capacity(drafts.len());
        for d in drafts {
            participants.push(Participant {
                id: d.id?,
                name: d.name?,
                role: d.role?,
                municipality: d.municipality,
                amqp_user: d.amqp_user,
                mailbox: d.mailbox,
                office_hours: d.office_hours,
                acts_for: d.acts_for.into_iter().map(|(_, id)| id).collect(),
                show_officer_name: d.show_officer_name,
                signing_keys: d.signing_keys.into_iter().map(|(_, k)| k).collect(),
                sealing_keys: d.sealing_keys.into_iter().map(|(_, k)| k).collect(),
            });
        }
        let by_id = participants
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.clone(), i))
            .collect();
        let by_signing_kid = participants
            .iter()
            .enumerate()
            .flat_map(|(i, p)| {
                p.signing_keys
                    .iter()
                    .enumerate()
                    .map(move |(k, key)| (key.kid.clone(), (i, k)))
            })
            .collect();
        let broker = participants.iter().position(|p| p.role == Role::Broker)?;
        Some(Registry {
            participants,
            by_id,
            by_signing_kid,
            broker,
            version,
            origin: self.origin.clone(),
        })
    }

    fn has_problem_under(&self, path: &str, key: &str) -> bool {
        let prefix = join(path, key);
        self.problems.iter().any(|p| p.path.starts_with(&prefix))
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The set of problem paths, for tests and tools that want to match on them.
pub fn problem_paths(err: &Error) -> HashSet<String> {
    match err {
        Error::Invalid { problems, .. } => problems.iter().map(|p| p.path.clone()).collect(),
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
        assert_eq!(
            r.version(),
            envelope::hex(&envelope::sha256(text.as_bytes()))
        );
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
    fn validity_tells_why_a_key_is_unusable() {
        let v = Validity {
            valid_from: "2026-01-01T00:00:00Z".parse().unwrap(),
            valid_until: Some("2027-01-01T00:00:00Z".parse().unwrap()),
            revoked: false,
        };
        assert_eq!(
            v.usability("2025-12-31T23:59:59Z".parse().unwrap()),
            Usability::NotYetValid
        );
        assert_eq!(
            v.usability("2026-01-01T00:00:00Z".parse().unwrap()),
            Usability::Usable
        );
        assert_eq!(
            v.usability("2027-01-01T00:00:00Z".parse().unwrap()),
            Usability::Expired
        );
        let revoked = Validity { revoked: true, ..v };
        assert_eq!(
            revoked.usability("2026-06-01T00:00:00Z".parse().unwrap()),
            Usability::Revoked
        );
    }

    #[test]
    fn roles_send_only_their_kinds() {
        assert!(Role::School.may_send(Kind::Alert));
        assert!(Role::Preschool.may_send(Kind::Cancel));
        assert!(!Role::School.may_send(Kind::Ack));
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
            "colour = \"blue\"\n\
             [[participant]]\nid = \"skola-a\"\nname = \"A\"\nrole = \"school\"\nmunicipality = \"581\"\n{}\n\
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
            "colour",
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
