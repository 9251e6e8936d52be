//! Validating the `[[participant]]` entries and their signing and sealing keys into drafts: every
//! field checked on its own, before the checks across entries.

use toml::Value;

use super::raw::{join, string, time, RawParticipant, RawRegistry, RawSealingKey, RawSigningKey};
use super::{Agency, Role};
use crate::calendar::OfficeHours;
use crate::envelope;
use crate::envelope::keys::{self, SealingKey, SigningKey, Validity};
use crate::message::{Kommunkod, ParticipantId, Suite};
use crate::problems::Problems;

/// A participant as read, before the cross-checks; `None` fields had problems already reported.
pub(super) struct Draft {
    pub(super) path: String,
    pub(super) id: Option<ParticipantId>,
    pub(super) name: Option<String>,
    pub(super) role: Option<Role>,
    pub(super) agency: Option<Agency>,
    pub(super) municipality: Option<Kommunkod>,
    pub(super) amqp_user: Option<String>,
    pub(super) mailbox: Option<String>,
    pub(super) office_hours: Option<OfficeHours>,
    pub(super) acts_for: Vec<(String, ParticipantId)>,
    pub(super) show_officer_name: bool,
    pub(super) signing_keys: Vec<(String, SigningKey)>,
    pub(super) sealing_keys: Vec<(String, SealingKey)>,
    /// Whether any signing or sealing key was written at all: when some were but none is valid,
    /// their problems are reported already and "missing" would be one too many.
    pub(super) wrote_signing_keys: bool,
    pub(super) wrote_sealing_keys: bool,
}

/// Every participant in file order, each validated on its own.
pub(super) fn participants(problems: &mut Problems, raw: RawRegistry) -> Vec<Draft> {
    let Some(entries) = raw.participant else {
        problems.add("participant", "missing; expected [[participant]] tables");
        return Vec::new();
    };
    entries
        .into_iter()
        .enumerate()
        .map(|(i, p)| participant(problems, &format!("participant[{i}]"), p))
        .collect()
}

fn participant(problems: &mut Problems, path: &str, raw: RawParticipant) -> Draft {
    let key = |k: &str| join(path, k);
    let id = string(problems, &key("id"), raw.id, true)
        .and_then(|s| problems.participant(&key("id"), &s));
    let name = string(problems, &key("name"), raw.name, true);
    let role = string(problems, &key("role"), raw.role, true).and_then(|s| match s.parse::<Role>() {
        Ok(r) => Some(r),
        Err(_) => {
            problems.add(
                &key("role"),
                format!("{s:?} is not a role; expected one of school, preschool, agency, broker, ops"),
            );
            None
        }
    });
    let agency = string(problems, &key("agency"), raw.agency, false).and_then(|s| {
        match s.parse::<Agency>() {
            Ok(a) => Some(a),
            Err(_) => {
                let known: Vec<&str> = Agency::ALL.iter().map(|a| a.code()).collect();
                problems.add(
                    &key("agency"),
                    format!(
                        "{s:?} is not an agency kind; expected one of {}",
                        known.join(", ")
                    ),
                );
                None
            }
        }
    });
    if agency.is_some() && role.is_some_and(|r| r != Role::Agency) {
        problems.add(
            &key("agency"),
            "only a participant with role \"agency\" names an agency kind",
        );
    }
    let municipality_written = raw.municipality.is_some();
    let municipality =
        string(problems, &key("municipality"), raw.municipality, false).and_then(|s| match s
            .parse::<Kommunkod>(
        ) {
            Ok(k) => Some(k),
            Err(_) => {
                problems.add(
                    &key("municipality"),
                    format!(
                        "{s:?} is not a municipality code; expected four digits, e.g. \"0581\""
                    ),
                );
                None
            }
        });
    // A municipality written but wrong has its problem already.
    if matches!(role, Some(Role::School | Role::Preschool)) && !municipality_written {
        problems.add(
            &key("municipality"),
            "missing; schools and preschools need their municipality code",
        );
    }
    let amqp_user = string(problems, &key("amqp_user"), raw.amqp_user, false);
    let mailbox = string(problems, &key("mailbox"), raw.mailbox, false);
    if let Some(m) = &mailbox {
        let ok = m.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !m.contains(char::is_whitespace)
        });
        if !ok {
            problems.add(
                &key("mailbox"),
                format!("{m:?} is not an email address; expected name@domain"),
            );
        }
    }
    // Read into its type here, so a typo refuses the file instead of leaving the participant
    // with no office hours (treated as always open) when an alert is routed.
    let office_hours =
        string(problems, &key("office_hours"), raw.office_hours, false).and_then(|s| {
            match s.parse::<OfficeHours>() {
                Ok(h) => Some(h),
                Err(e) => {
                    problems.add(&key("office_hours"), e.to_string());
                    None
                }
            }
        });
    let acts_for = raw
        .acts_for
        .iter()
        .enumerate()
        .filter_map(|(i, target)| {
            let p = format!("{}[{i}]", key("acts_for"));
            problems.participant(&p, target).map(|id| (p, id))
        })
        .collect();
    let wrote_signing_keys = !raw.signing_key.is_empty();
    let signing_keys = raw
        .signing_key
        .into_iter()
        .enumerate()
        .filter_map(|(i, k)| {
            let p = format!("{}[{i}]", key("signing_key"));
            signing_key(problems, &p, k).map(|k| (p, k))
        })
        .collect();
    let wrote_sealing_keys = !raw.sealing_key.is_empty();
    let sealing_keys = raw
        .sealing_key
        .into_iter()
        .enumerate()
        .filter_map(|(i, k)| {
            let p = format!("{}[{i}]", key("sealing_key"));
            sealing_key(problems, &p, k).map(|k| (p, k))
        })
        .collect();
    Draft {
        path: path.to_owned(),
        id,
        name,
        role,
        agency,
        municipality,
        amqp_user,
        mailbox,
        office_hours,
        acts_for,
        show_officer_name: raw.show_officer_name,
        signing_keys,
        sealing_keys,
        wrote_signing_keys,
        wrote_sealing_keys,
    }
}

fn validity(
    problems: &mut Problems,
    path: &str,
    valid_from: Option<&Value>,
    valid_until: Option<&Value>,
    revoked: bool,
) -> Option<Validity> {
    let from = time(problems, &join(path, "valid_from"), valid_from, true);
    let until = time(problems, &join(path, "valid_until"), valid_until, false);
    let from = from?;
    if let Some(u) = until {
        if u <= from {
            problems.add(
                &join(path, "valid_until"),
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
    problems: &mut Problems,
    path: &str,
    (kid, public_key): (Option<String>, Option<String>),
    tag: &str,
    expected_len: usize,
) -> Option<(Vec<u8>, String)> {
    let kid = string(problems, &join(path, "kid"), kid, true);
    let text = string(problems, &join(path, "public_key"), public_key, true)?;
    let Some(bytes) = envelope::unb64(&text) else {
        problems.add(
            &join(path, "public_key"),
            "not base64url (RFC 4648 section 5, without padding)",
        );
        return None;
    };
    if bytes.len() != expected_len {
        problems.add(
            &join(path, "public_key"),
            format!("{} bytes; expected {expected_len}", bytes.len()),
        );
        return None;
    }
    let derived = envelope::key_id(tag, &bytes);
    let kid = kid?;
    if kid != derived {
        problems.add(
            &join(path, "kid"),
            format!("{kid:?} does not match the public key; expected {derived:?}"),
        );
        return None;
    }
    Some((bytes, kid))
}

fn signing_key(problems: &mut Problems, path: &str, raw: RawSigningKey) -> Option<SigningKey> {
    let key = public_key(
        problems,
        path,
        (raw.kid, raw.public_key),
        envelope::SIGNING_KEY_TAG,
        32,
    );
    let validity = validity(
        problems,
        path,
        raw.valid_from.as_ref(),
        raw.valid_until.as_ref(),
        raw.revoked,
    );
    let (public_key, kid) = key?;
    Some(SigningKey {
        kid,
        public_key,
        validity: validity?,
    })
}

fn sealing_key(problems: &mut Problems, path: &str, raw: RawSealingKey) -> Option<SealingKey> {
    let suite = string(problems, &join(path, "suite"), raw.suite, true).and_then(|s| {
        match s.parse::<Suite>() {
            Ok(s) => Some(s),
            Err(_) => {
                let known: Vec<_> = Suite::ALL.iter().map(|s| s.code()).collect();
                problems.add(
                    &join(path, "suite"),
                    format!("{s:?} is not a suite; expected one of {}", known.join(", ")),
                );
                None
            }
        }
    });
    let validity = validity(
        problems,
        path,
        raw.valid_from.as_ref(),
        raw.valid_until.as_ref(),
        raw.revoked,
    );
    // Without a known suite neither the key's length nor its kid can be checked.
    let suite = suite?;
    let (public_key, kid) = public_key(
        problems,
        path,
        (raw.kid, raw.public_key),
        suite.code(),
        keys::sealing_public_key_len(suite),
    )?;
    if let Err(why) = keys::check_sealing_public_key(suite, &public_key) {
        problems.add(
            &join(path, "public_key"),
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
