//! Step 5 for a note to a case: the sender must be a member of the alert's case and entitled to
//! the note's kind; the routing table's note line picks the members that get it and whether they
//! must acknowledge; each gets a delivery like an alert's (outbox, receipt and ack, deadlines and
//! ladder), all in the one transaction.
//!
//! The school closes its case with a note of kind `case_closed` (its outcome sealed in the body):
//! every other member is told, informed, whatever the note lines say; the case's timers stop, what
//! its deliveries were still waited for ends, and the alert becomes `closed`.
//!
//! A case is closed to notes once its alert is cancelled or closed: a note then is refused as
//! `unknown_reference`, as an update would be, since nobody is left to act on it.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Intake, World};
use crate::commit::{self, Committed, Ending, Error, HandOver};
use crate::escalation;
use crate::lifecycle;
use crate::routing::Member;
use crate::store::{self, AlertRow, NewAudit, NewMessage};
use varsel_protocol::message::{Kind, Note, NoteKind, ParticipantId, Payload, RecipientRole};
use varsel_protocol::note;
use varsel_protocol::refusal::{Reason, Refusal};
use varsel_protocol::registry::{Registry, Role};

fn refused(reason: Reason, detail: impl Into<String>) -> Result<Committed, Error> {
    Ok(Committed::Refused(Refusal::new(reason, detail)))
}

impl Intake {
    /// Checks a note against its case and hands it over to the members its note line names.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn note(
        &self,
        tx: &mut store::Tx,
        world: &World,
        message: &NewMessage,
        compact: &str,
        payload: &Payload,
        note: &Note,
        now: DateTime<Utc>,
    ) -> Result<Committed, Error> {
        let [alert_id] = payload.references.as_slice() else {
            return refused(Reason::Schema, "a note must reference exactly one alert");
        };
        let Some(alert) = tx.alert_for_update(*alert_id).await? else {
            return refused(
                Reason::UnknownReference,
                format!("no alert {alert_id} is known"),
            );
        };
        if !lifecycle::alert::accepts_follow_up(alert.state) {
            return refused(
                Reason::UnknownReference,
                format!(
                    "the case of alert {alert_id} is over (the alert is {})",
                    alert.state
                ),
            );
        }
        let existing = tx.deliveries_of(*alert_id).await?;
        // The case's members: the school and every recipient of the alert, each once.
        let mut members: Vec<ParticipantId> = vec![alert.sender.clone()];
        for d in existing.iter().filter(|d| d.kind == Kind::Alert) {
            if !members.contains(&d.recipient) {
                members.push(d.recipient.clone());
            }
        }
        let sender = &payload.sender;
        let registry = &world.registry;
        // One acting for the school (see the registry's acts_for) speaks for it here as in an
        // update.
        let for_school = registry
            .participant(sender)
            .is_some_and(|p| p.acts_for.contains(&alert.sender));
        if !members.contains(sender) && !for_school {
            return refused(
                Reason::NotACaseMember,
                format!("{sender} is neither the school nor a recipient of alert {alert_id}"),
            );
        }
        if !registry
            .participant(sender)
            .is_some_and(|p| note::may_post(p, note.note))
        {
            let kind = registry
                .participant(sender)
                .and_then(|p| p.agency)
                .map_or_else(|| "no agency kind".to_owned(), |a| format!("agency {a}"));
            return refused(
                Reason::NoteKindNotPermitted,
                format!(
                    "{sender} ({kind} in the registry) may not post {}",
                    note.note
                ),
            );
        }
        if let Some(r) = same_case(note, &alert) {
            return Ok(Committed::Refused(r));
        }
        if note.sections.len() != 1 || note.sections[0].label != note::SECTION {
            return refused(
                Reason::Schema,
                format!("a note carries its body in one section, {}", note::SECTION),
            );
        }
        let sealed = note.sealed();
        if let Some(r) = super::alert::sealed_for_broker(&sealed, self.writer.broker()) {
            return Ok(Committed::Refused(r));
        }

        // Who gets it: the line's members, or every other member, informed; a closing goes to
        // every other member, informed, and takes no line.
        let closing = note.note == NoteKind::CaseClosed;
        let line = world.table.note_line(note.note).filter(|_| !closing);
        let recipients: Vec<(ParticipantId, RecipientRole)> = members
            .iter()
            .filter(|m| *m != sender)
            .filter_map(|m| {
                let role = match line {
                    Some(line) => line.role_of(member(registry, &alert, m)?)?,
                    None => RecipientRole::Informed,
                };
                Some((m.clone(), role))
            })
            .collect();
        let required = recipients
            .iter()
            .any(|(_, r)| *r == RecipientRole::Required);

        // A required member escalates by the line's policy, frozen on the alert like the
        // alert's own, so the scheduler finds it when a step falls due.
        let mut policy = None;
        if let Some(name) = line.and_then(|l| l.policy.clone()).filter(|_| required) {
            let mut frozen =
                escalation::frozen(&alert).map_err(|e| store::Error::Value(e.to_string()))?;
            if !frozen.contains_key(&name) {
                let Some(p) = world.table.policy(&name) else {
                    return Err(store::Error::Value(format!(
                        "the note line's policy {name} is not in the table"
                    ))
                    .into());
                };
                frozen.insert(name.clone(), p.clone());
                let value = serde_json::to_value(&frozen).map_err(|e| {
                    store::Error::Value(format!("cannot freeze the escalation policies: {e}"))
                })?;
                tx.freeze_policies(alert.id, &value).await?;
            }
            policy = frozen.remove(&name).map(|p| (name, p));
        }

        if let Some(seen) = commit::insert_message(tx, message).await? {
            return Ok(Committed::Seen(seen));
        }
        tx.audit(&NewAudit {
            at: now,
            actor: sender.to_string(),
            action: "note_received".into(),
            alert: Some(alert.id),
            delivery: None,
            detail: json!({
                "message": payload.id,
                "note": note.note,
                "recipients": recipients.iter().map(|(p, r)| json!({ "participant": p, "role": r })).collect::<Vec<_>>(),
                "line": line.is_some(),
            }),
        })
        .await?;
        if closing {
            self.writer
                .end_case(tx, alert.id, &existing, Ending::Close, now)
                .await?;
        }
        for (recipient, role) in &recipients {
            let deadlines = policy
                .as_ref()
                .map(|(name, p)| p.deadlines(name, *role, now, alert.planned_departure, true));
            self.writer
                .hand_over(
                    tx,
                    registry,
                    HandOver {
                        alert: alert.id,
                        message: payload.id,
                        compact,
                        digest: &message.digest,
                        sealed: &sealed,
                        recipient,
                        role: *role,
                        sections: &[note::SECTION],
                        kind: Kind::Note,
                        deadlines: deadlines.filter(|_| *role == RecipientRole::Required),
                    },
                    now,
                )
                .await?;
        }
        Ok(Committed::Done {
            alert: alert.id,
            deliveries: recipients.len(),
            defaulted: false,
            timing: None,
        })
    }
}

/// What a member of the case is, as note lines name it: the alert's school, or an agency by its
/// registry kind (`None` for an agency whose entry names no kind).
fn member(registry: &Registry, alert: &AlertRow, p: &ParticipantId) -> Option<Member> {
    if *p == alert.sender {
        return Some(Member::School);
    }
    let entry = registry.participant(p)?;
    match entry.role {
        Role::Agency => entry.agency.map(Member::Agency),
        _ => None,
    }
}

/// A note travels under its case's routing header; one that names another municipality,
/// category or status is refused before anything is handed over.
fn same_case(note: &Note, alert: &AlertRow) -> Option<Refusal> {
    let h = &note.header;
    let same = h.municipality == alert.municipality
        && h.category == alert.category
        && h.status == alert.status;
    (!same).then(|| {
        Refusal::new(
            Reason::Schema,
            format!(
                "a note's header is its case's: municipality, category and status of alert {}",
                alert.id
            ),
        )
    })
}
