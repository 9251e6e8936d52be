//! Reading the `[[participant]]` entries and their signing and sealing keys into drafts: every
//! field checked on its own, before the checks across entries.

use toml::{Table, Value};

use super::validator::{join, Validator};
use super::Role;
use crate::envelope;
use crate::envelope::keys::{self, SealingKey, SigningKey, Validity};
use crate::message::{Kommunkod, ParticipantId, Suite};

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
pub(super) struct Draft {
    pub(super) path: String,
    pub(super) id: Option<ParticipantId>,
    pub(super) name: Option<String>,
    pub(super) role: Option<Role>,
    pub(super) municipality: Option<Kommunkod>,
    pub(super) amqp_user: Option<String>,
    pub(super) mailbox: Option<String>,
    pub(super) office_hours: Option<String>,
    pub(super) acts_for: Vec<(String, ParticipantId)>,
    pub(super) show_officer_name: bool,
    pub(super) signing_keys: Vec<(String, SigningKey)>,
    pub(super) sealing_keys: Vec<(String, SealingKey)>,
}

impl Validator {
    pub(super) fn participants(&mut self, root: &Table) -> Vec<Draft> {
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

    pub(super) fn participant(&mut self, path: &str, t: &Table) -> Draft {
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

    pub(super) fn acts_for(&mut self, t: &Table, path: &str) -> Vec<(String, ParticipantId)> {
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

    pub(super) fn validity(&mut self, t: &Table, path: &str) -> Option<Validity> {
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
    pub(super) fn public_key(
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

    pub(super) fn signing_key(&mut self, path: &str, t: &Table) -> Option<SigningKey> {
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

    pub(super) fn sealing_key(&mut self, path: &str, t: &Table) -> Option<SealingKey> {
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
}
