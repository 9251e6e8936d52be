//! The checks across entries (unique ids, AMQP users and key ids, keys for those who send or
//! receive, `acts_for` targets, exactly one broker) and the assembly of the loaded registry.

use std::collections::HashMap;

use super::entries::Draft;
use super::raw::join;
use super::{Participant, Registry, Role};
use crate::message::ParticipantId;
use crate::problems::Problems;

/// The registry the drafts make, or `None` when any problem was found, here or before.
pub(super) fn cross_check(
    problems: &mut Problems,
    drafts: Vec<Draft>,
    version: String,
    origin: &str,
) -> Option<Registry> {
    let mut seen_ids: HashMap<ParticipantId, String> = HashMap::new();
    let mut seen_users: HashMap<String, String> = HashMap::new();
    let mut seen_kids: HashMap<String, String> = HashMap::new();
    for d in &drafts {
        if let Some(id) = &d.id {
            if let Some(first) = seen_ids.insert(id.clone(), d.path.clone()) {
                problems.add(
                    &join(&d.path, "id"),
                    format!("duplicate id {id:?}, also used by {first}"),
                );
            }
        }
        if let Some(u) = &d.amqp_user {
            if let Some(first) = seen_users.insert(u.clone(), d.path.clone()) {
                problems.add(
                    &join(&d.path, "amqp_user"),
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
                problems.add(
                    &join(p, "kid"),
                    format!("duplicate key id {kid:?}, also used by {first}"),
                );
            }
        }
        let sends = d.role.is_some_and(|r| r != Role::Ops);
        if sends && !d.wrote_signing_keys {
            problems.add(
                &join(&d.path, "signing_key"),
                "missing; this role sends messages and needs at least one [[participant.signing_key]]",
            );
        }
        let receives = matches!(d.role, Some(Role::Agency | Role::Broker));
        if receives && !d.wrote_sealing_keys {
            problems.add(
                &join(&d.path, "sealing_key"),
                "missing; this role receives sealed sections and needs at least one [[participant.sealing_key]]",
            );
        }
    }
    for d in &drafts {
        for (p, target) in &d.acts_for {
            if !seen_ids.contains_key(target) {
                problems.add(p, format!("{target:?} is not a registered participant"));
            } else if d.id.as_ref() == Some(target) {
                problems.add(p, "a participant cannot act for itself");
            }
        }
    }
    let brokers: Vec<&Draft> = drafts
        .iter()
        .filter(|d| d.role == Some(Role::Broker))
        .collect();
    if brokers.len() != 1 {
        let at: Vec<&str> = brokers.iter().map(|d| d.path.as_str()).collect();
        problems.add(
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
    if !problems.is_empty() {
        return None;
    }

    let mut participants = Vec::with_capacity(drafts.len());
    for d in drafts {
        participants.push(Participant {
            id: d.id?,
            name: d.name?,
            role: d.role?,
            agency: d.agency,
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
        origin: origin.to_owned(),
    })
}
