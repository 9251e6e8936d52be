//! Pages to ops about a fault of the broker's own rather than about an alert's progress: a
//! message it had to set aside, stored state it cannot read. Like an alert notice it holds only
//! ids, codes and times, never content.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{stockholm_time, Notice, Render};
use varsel_protocol::message::code_enum;

code_enum!(
    /// What went wrong.
    Fault {
        /// An input message failed for a reason retrying does not cure; it was dead-lettered with
        /// reason `internal` so the messages behind it go through.
        MessageParked = "message_parked",
        /// Stored state (a frozen policy, a timer's action, a digest) could not be read back.
        StoredStateUnreadable = "stored_state_unreadable",
        /// A delivery could not be made to its recipient (no inbox, sections that cannot be
        /// re-wrapped): the alert's sender was told and someone must reach the recipient.
        DeliveryImpossible = "delivery_impossible",
    }
);

/// A page to ops about a fault: what, when, and the ids to look up in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultNotice {
    pub fault: Fault,
    pub at: DateTime<Utc>,
    /// The input message concerned, if any.
    pub message: Option<Uuid>,
    /// The alert concerned, if any.
    pub alert: Option<Uuid>,
    /// The participant concerned (an institution's id from the registry), if any.
    pub participant: Option<String>,
}

impl Render for FaultNotice {
    fn render(&self) -> (String, String) {
        let headline = match self.fault {
            Fault::MessageParked => "ett meddelande kunde inte behandlas och har lagts åt sidan",
            Fault::StoredStateUnreadable => "lagrad data kunde inte läsas",
            Fault::DeliveryImpossible => "ett varsel kunde inte levereras till en mottagare",
        };
        let subject = format!("[varsel] Driftlarm: {headline}");
        let mut body = format!(
            "Driftlarm från varsel: {headline}.\n(English: {}.)\n\n",
            self.fault.english()
        );
        body.push_str(&format!("Fel:            {}\n", self.fault.code()));
        body.push_str(&format!(
            "Tid:            {} (svensk tid)\n",
            stockholm_time(self.at)
        ));
        if let Some(m) = self.message {
            body.push_str(&format!("Meddelande-id:  {m}\n"));
        }
        if let Some(a) = self.alert {
            body.push_str(&format!("Varsel-id:      {a}\n"));
        }
        if let Some(p) = &self.participant {
            let p: String = p
                .chars()
                .take(64)
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            body.push_str(&format!("Deltagare:      {p}\n"));
        }
        body.push('\n');
        body.push_str(match self.fault {
            Fault::MessageParked => {
                "Meddelandet ligger kvar i kön varsel.dead (x-varsel-reason: internal) och avsändaren har fått ett felsvar.\nOrsaken står i granskningsloggen och i ops-API:t under /api/refusals.\n"
            }
            Fault::StoredStateUnreadable => "Orsaken står i granskningsloggen och i brokerns logg.\n",
            Fault::DeliveryImpossible => {
                "Skolan har fått ett felsvar. Kontakta mottagaren på annat sätt; orsaken står i granskningsloggen.\n"
            }
        });
        body.push_str("\n-- \nSkickat automatiskt av varsel. Svara inte på detta meddelande.\n");
        (subject, body)
    }
}

impl Fault {
    fn english(self) -> &'static str {
        match self {
            Fault::MessageParked => "a message could not be processed and was set aside",
            Fault::StoredStateUnreadable => "stored state could not be read",
            Fault::DeliveryImpossible => "an alert could not be delivered to a recipient",
        }
    }
}

/// What an email row in the outbox holds: a notice about an alert or a page about a fault.
/// Rows written before fault pages existed hold a bare [`Notice`], which still reads as
/// `Email::Alert`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Email {
    Alert(Notice),
    Fault(FaultNotice),
}

impl Render for Email {
    fn render(&self) -> (String, String) {
        match self {
            Email::Alert(n) => n.render(),
            Email::Fault(f) => f.render(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn parked() -> FaultNotice {
        FaultNotice {
            fault: Fault::MessageParked,
            at: Utc.with_ymd_and_hms(2026, 6, 12, 15, 30, 0).unwrap(),
            message: Some(Uuid::nil()),
            alert: None,
            participant: Some("norrkoping-ektorpsskolan\r\nBcc: x@y".into()),
        }
    }

    #[test]
    fn a_fault_page_names_the_fault_time_and_ids_on_single_lines() {
        let (subject, body) = parked().render();
        assert_eq!(
            subject,
            "[varsel] Driftlarm: ett meddelande kunde inte behandlas och har lagts åt sidan"
        );
        assert!(body.contains("Fel:            message_parked\n"), "{body}");
        assert!(body.contains("fredag 12 juni 2026 kl. 17:30"), "{body}");
        assert!(body.contains(&format!("Meddelande-id:  {}\n", Uuid::nil())));
        assert!(
            body.contains("Deltagare:      norrkoping-ektorpsskolan  Bcc: x@y\n"),
            "{body}"
        );
        assert!(!body.contains('\r'));
    }

    #[test]
    fn an_email_row_reads_as_an_alert_notice_or_a_fault_page() {
        let fault = Email::Fault(parked());
        let json = serde_json::to_vec(&fault).unwrap();
        assert_eq!(serde_json::from_slice::<Email>(&json).unwrap(), fault);
        let notice = Notice {
            alert: Uuid::nil(),
            category: varsel_protocol::message::Category::DepartureImminent,
            urgency: varsel_protocol::message::Urgency::Immediate,
            status: varsel_protocol::message::Status::Actual,
            school_name: "Ektorpsskolan".into(),
            deadline: None,
            reason: super::super::NoticeReason::NewAlert,
        };
        let json = serde_json::to_vec(&notice).unwrap();
        assert_eq!(
            serde_json::from_slice::<Email>(&json).unwrap(),
            Email::Alert(notice)
        );
    }
}
