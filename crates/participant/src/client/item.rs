//! What the inbox yields: an opened delivery, feedback, an error reply or a refused message; as
//! JSON for `--json` and as the Swedish text an officer or school reads.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use varsel_protocol::alert::Body;
use varsel_protocol::message::{Kind, ParticipantId, SectionLabel};
use varsel_protocol::refusal::Refusal;

/// A delivery as the recipient sees it after opening.
#[derive(Debug, Clone, Serialize)]
pub struct OpenedDelivery {
    pub delivery: Uuid,
    pub alert: Uuid,
    pub kind: Kind,
    pub message: Uuid,
    pub school: ParticipantId,
    pub school_name: String,
    pub role: varsel_protocol::message::RecipientRole,
    pub header: varsel_protocol::message::Header,
    pub sent_at: DateTime<Utc>,
    pub receipt_due: Option<DateTime<Utc>>,
    pub ack_due: Option<DateTime<Utc>>,
    /// The sections this recipient could open.
    pub opened: Vec<SectionLabel>,
    /// Sections in the message that were not granted to this recipient.
    pub not_granted: Vec<SectionLabel>,
    /// The alert's body as far as opened (empty for a note).
    pub body: Body,
    /// For a note to the case: its kind and what it says (`school` and `school_name` are then
    /// the member that posted it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<OpenedNote>,
}

/// A note to a case as its member sees it.
#[derive(Debug, Clone, Serialize)]
pub struct OpenedNote {
    pub kind: varsel_protocol::message::NoteKind,
    /// `None` when its section was not sealed to this member.
    pub body: Option<varsel_protocol::note::Body>,
}

/// One processed inbox message.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum Item {
    Delivery(Box<OpenedDelivery>),
    Feedback(varsel_protocol::message::Feedback),
    Error(varsel_protocol::message::ErrorReply),
    /// The broker's signed audit checkpoint (ops keeps them as evidence of the chain's head).
    Checkpoint(varsel_protocol::message::Checkpoint),
    /// The broker's check of this participant's line: the inbox answers it with a receipt at
    /// once and shows it to no one (see `Client::inbox`).
    Heartbeat(varsel_protocol::message::Heartbeat),
    Refused(#[serde(serialize_with = "ser_refusal")] Refusal),
}

fn ser_refusal<S: serde::Serializer>(r: &Refusal, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(2))?;
    m.serialize_entry("reason", r.reason.code())?;
    m.serialize_entry("detail", &r.detail)?;
    m.end()
}

impl Item {
    /// The key the client deduplicates on: the delivery id for deliveries.
    pub(super) fn key(&self) -> String {
        match self {
            Item::Delivery(d) => format!("delivery-{}", d.delivery),
            Item::Feedback(f) => match &f.escalation {
                Some(step) => format!(
                    "feedback-{}-escalation-{step}-{}",
                    f.delivery,
                    f.at.timestamp_millis()
                ),
                None => format!("feedback-{}-{}", f.delivery, f.state),
            },
            Item::Checkpoint(c) => format!("checkpoint-{}", c.seq),
            Item::Heartbeat(h) => format!("heartbeat-{}", h.heartbeat),
            // Several errors can concern one message (one per recipient it could not reach):
            // each distinct one is shown once.
            Item::Error(e) => {
                let what = varsel_protocol::envelope::sha256(
                    format!("{}\n{}", e.reason, e.detail).as_bytes(),
                );
                format!(
                    "error-{}-{}",
                    e.refused
                        .map(|i| i.to_string())
                        .unwrap_or_else(|| "unread".to_owned()),
                    hex::encode(&what[..8])
                )
            }
            Item::Refused(_) => String::new(),
        }
    }
}

impl std::fmt::Display for Item {
    /// The text an officer or school sees in the terminal (Swedish).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Item::Delivery(d) => {
                let what = match d.kind {
                    Kind::Alert => "VARSEL",
                    Kind::Update => "UPPDATERING",
                    Kind::Cancel => "ÅTERKALLAT",
                    Kind::Note
                        if d.note.as_ref().map(|n| n.kind)
                            == Some(varsel_protocol::message::NoteKind::CaseClosed) =>
                    {
                        "ÄRENDET AVSLUTAT"
                    }
                    Kind::Note => "ANTECKNING I ÄRENDET",
                    _ => "MEDDELANDE",
                };
                let exercise = match d.header.status {
                    varsel_protocol::message::Status::Actual => "",
                    varsel_protocol::message::Status::Exercise => " [ÖVNING]",
                    varsel_protocol::message::Status::Test => " [TEST]",
                };
                writeln!(
                    f,
                    "=== {what}{exercise} från {} ({}) ===",
                    d.school_name, d.school
                )?;
                writeln!(f, "  leverans:  {}", d.delivery)?;
                writeln!(f, "  varsel:    {}", d.alert)?;
                writeln!(
                    f,
                    "  kategori:  {}   brådska: {}   kommun: {}",
                    d.header.category, d.header.urgency, d.header.municipality
                )?;
                if let Some(t) = d.header.planned_departure {
                    writeln!(
                        f,
                        "  avresa:    {}",
                        t.with_timezone(&chrono_tz::Europe::Stockholm)
                            .format("%Y-%m-%d %H:%M")
                    )?;
                }
                writeln!(
                    f,
                    "  roll:      {}",
                    if d.role == varsel_protocol::message::RecipientRole::Required {
                        "måste kvittera"
                    } else {
                        "för kännedom"
                    }
                )?;
                if let Some(t) = d.ack_due {
                    writeln!(
                        f,
                        "  kvittera senast: {}",
                        t.with_timezone(&chrono_tz::Europe::Stockholm)
                            .format("%Y-%m-%d %H:%M")
                    )?;
                }
                let opened: Vec<&str> = d.opened.iter().map(|l| l.code()).collect();
                writeln!(f, "  öppnade delar: {}", opened.join(", "))?;
                if !d.not_granted.is_empty() {
                    let others: Vec<&str> = d.not_granted.iter().map(|l| l.code()).collect();
                    writeln!(f, "  ej tilldelade delar: {}", others.join(", "))?;
                }
                if let Some(n) = &d.note {
                    writeln!(f, "  anteckning: {}", n.kind)?;
                    if let Some(o) = n.body.as_ref().and_then(|b| b.outcome) {
                        writeln!(f, "  utfall:    {}", outcome_sv(o))?;
                    }
                }
                let body = match &d.note {
                    Some(n) => serde_json::to_string_pretty(&n.body),
                    None => serde_json::to_string_pretty(&d.body),
                }
                .unwrap_or_default();
                for line in body.lines() {
                    writeln!(f, "  | {line}")?;
                }
                writeln!(
                    f,
                    "  Kvittera: varsel ack {} --officer \"Namn\" --outcome case_opened",
                    d.delivery
                )
            }
            Item::Feedback(fb) => {
                let state = match fb.state {
                    varsel_protocol::message::DeliveryState::Sent => "levererat",
                    varsel_protocol::message::DeliveryState::Received => "mottaget",
                    varsel_protocol::message::DeliveryState::Acknowledged => "kvitterat",
                    varsel_protocol::message::DeliveryState::Declined => "avböjt",
                    varsel_protocol::message::DeliveryState::Escalated => "eskalerat",
                    other => other.code(),
                };
                write!(
                    f,
                    "--- återkoppling: varsel {} hos {}: {state}",
                    fb.alert, fb.recipient
                )?;
                if let Some(o) = &fb.officer {
                    write!(f, " av {o}")?;
                }
                if let Some(o) = fb.outcome {
                    write!(f, " ({o})")?;
                }
                if let Some(e) = &fb.escalation {
                    write!(f, " [eskalering: {e}]")?;
                }
                writeln!(
                    f,
                    " {}",
                    fb.at
                        .with_timezone(&chrono_tz::Europe::Stockholm)
                        .format("%H:%M:%S")
                )
            }
            Item::Error(e) => writeln!(
                f,
                "!!! avvisat av mäklaren: {} ({}) {}",
                e.reason,
                e.detail,
                e.refused.map(|i| i.to_string()).unwrap_or_default()
            ),
            Item::Checkpoint(c) => writeln!(
                f,
                "kontrollpunkt för granskningsloggen: post {} hash {} ({})",
                c.seq,
                c.hash,
                c.at.to_rfc3339()
            ),
            Item::Heartbeat(h) => writeln!(
                f,
                "hjärtslag från mäklaren {} (besvarat automatiskt)",
                h.heartbeat
            ),
            Item::Refused(r) => writeln!(f, "!!! ogiltigt meddelande i inkorgen: {r}"),
        }
    }
}

/// How a case ended, in Swedish.
pub fn outcome_sv(o: varsel_protocol::message::CaseOutcome) -> &'static str {
    use varsel_protocol::message::CaseOutcome::*;
    match o {
        Returned => "eleven är tillbaka",
        ProblematicAbsence => "problematisk frånvaro",
        Moved => "flyttat, känd destination",
        AbroadAgainstWill => "utomlands mot sin vilja",
        Other => "annat",
    }
}
