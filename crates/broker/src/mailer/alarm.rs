//! Alarms: email to ops about the broker itself rather than about one alert, when something the
//! broker relies on does not read (a changed registry or routing table refused on reload, a stored
//! escalation policy or timer that does not parse) and a human must look before it matters.
//!
//! An alarm names files, key paths, tables, columns and what was wrong with them: configuration
//! and the broker's own bookkeeping, never message content.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{stockholm_time, Notice};

/// What an alarm is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmReason {
    /// A changed registry or routing table was refused on reload; the ones in force stay.
    ConfigRefused,
    /// A value the broker stored earlier does not read back, so what depends on it cannot be
    /// done (e.g. an escalation step).
    StoredStateInvalid,
    /// An input message kept failing for a reason retrying does not cure; it was set aside on
    /// the dead-letter queue (reason `internal`) so the messages behind it go through.
    MessageParked,
    /// A delivery cannot be made (no usable sealing key, sections that cannot be re-wrapped):
    /// the school was told, and someone must reach the recipient another way.
    DeliveryImpossible,
    /// An agency's line missed the configured number of heartbeats in a row: its client does not
    /// answer, so alerts sent to it now may not be seen.
    LineDown,
    /// An agency's line that ops were paged about answers its heartbeats again.
    LineUp,
}

impl AlarmReason {
    /// The reason's code, used as the action of its audit entry.
    pub fn code(self) -> &'static str {
        match self {
            AlarmReason::ConfigRefused => "config_refused",
            AlarmReason::StoredStateInvalid => "stored_state_invalid",
            AlarmReason::MessageParked => "message_parked",
            AlarmReason::DeliveryImpossible => "delivery_impossible",
            AlarmReason::LineDown => "line_down",
            AlarmReason::LineUp => "line_up",
        }
    }
}

/// An email to ops about the broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    pub reason: AlarmReason,
    /// The alert concerned, if there is one.
    pub alert: Option<Uuid>,
    /// What was wrong, where: the file and key path, or the table, column and row.
    pub detail: String,
    pub at: DateTime<Utc>,
}

impl Alarm {
    /// The subject and plain-text body, in Swedish like the notices.
    pub fn render(&self) -> (String, String) {
        let (headline, what) = match self.reason {
            AlarmReason::ConfigRefused => (
                "ändrad konfiguration vägrades",
                "En ändrad deltagarförteckning eller routningstabell kunde inte läsas och vägrades. \
                 Brokern fortsätter med de filer som gällde före ändringen tills felet är rättat.",
            ),
            AlarmReason::MessageParked => (
                "ett meddelande kunde inte behandlas och lades åt sidan",
                "Ett inkommande meddelande kunde inte lagras av ett skäl som inte går över av sig \
                 självt. Det ligger kvar i kön varsel.dead (x-varsel-reason: internal) och \
                 avsändaren har fått ett felsvar; meddelandena efter det behandlas som vanligt. \
                 En människa måste se till att varslet når fram på annat sätt.",
            ),
            AlarmReason::DeliveryImpossible => (
                "ett varsel kan inte levereras till en mottagare",
                "Ett varsel kan inte levereras till en av mottagarna (mottagaren saknar användbar \
                 krypteringsnyckel, eller skolans sektioner går inte att öppna). Skolan har fått \
                 ett felsvar. Kontakta mottagaren på annat sätt nu.",
            ),
            AlarmReason::LineDown => (
                "en myndighets linje svarar inte",
                "En myndighets klient har inte kvitterat brokerns hjärtslag i tid, flera gånger i \
                 rad. Varsel som skickas till myndigheten nu kanske inte blir sedda. Kontrollera \
                 myndighetens klient och kontakta myndigheten på annat sätt vid brådskande varsel.",
            ),
            AlarmReason::LineUp => (
                "en myndighets linje svarar igen",
                "En myndighets klient som inte svarade på brokerns hjärtslag har kvitterat igen. \
                 Linjen fungerar.",
            ),
            AlarmReason::StoredStateInvalid => (
                "lagrade uppgifter kan inte läsas",
                "Uppgifter som brokern själv har lagrat kan inte läsas, så det som bygger på dem \
                 (till exempel ett eskaleringssteg) kunde inte utföras. En människa måste ta över.",
            ),
        };
        let mut body = format!("{what}\n\n");
        if let Some(alert) = self.alert {
            body.push_str(&format!("Varsel-id: {alert}\n"));
        }
        body.push_str(&format!(
            "Tidpunkt:  {} (svensk tid)\n\n",
            stockholm_time(self.at)
        ));
        body.push_str("Fel:\n");
        body.push_str(&self.detail);
        body.push_str("\n\n-- \nSkickat automatiskt av varsel. Svara inte på detta meddelande.\n");
        (format!("[varsel] DRIFTLARM: {headline}"), body)
    }
}

/// What the outbox sends by email: a notice about an alert, or an alarm to ops. An outbox row
/// holds the JSON of either one as it is (no tag), so rows written before alarms existed still
/// read as notices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Mail {
    Notice(Notice),
    Alarm(Alarm),
}

impl Mail {
    /// The subject and plain-text body.
    pub fn render(&self) -> (String, String) {
        match self {
            Mail::Notice(n) => n.render(),
            Mail::Alarm(a) => a.render(),
        }
    }
}

impl From<Notice> for Mail {
    fn from(n: Notice) -> Mail {
        Mail::Notice(n)
    }
}

impl From<Alarm> for Mail {
    fn from(a: Alarm) -> Mail {
        Mail::Alarm(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn alarm() -> Alarm {
        Alarm {
            reason: AlarmReason::ConfigRefused,
            alert: None,
            detail: "registry.toml: participant[3].office_hours: office hours \"mon-fri 8-17\""
                .to_owned(),
            at: Utc.with_ymd_and_hms(2026, 3, 10, 22, 0, 0).unwrap(),
        }
    }

    #[test]
    fn an_alarm_says_what_and_where() {
        let (subject, body) = alarm().render();
        assert_eq!(subject, "[varsel] DRIFTLARM: ändrad konfiguration vägrades");
        assert!(body.contains("participant[3].office_hours"), "{body}");
        assert!(body.contains("tisdag 10 mars 2026 kl. 23:00"), "{body}");
        assert!(!body.contains("Varsel-id"), "{body}");
    }

    #[test]
    fn notices_and_alarms_read_back_as_what_they_are() {
        let a = Mail::from(Alarm {
            reason: AlarmReason::StoredStateInvalid,
            alert: Some(Uuid::nil()),
            ..alarm()
        });
        let json = serde_json::to_vec(&a).unwrap();
        assert_eq!(serde_json::from_slice::<Mail>(&json).unwrap(), a);
        // A notice row as the outbox held it before alarms existed.
        let notice = serde_json::json!({
            "alert": Uuid::nil(), "category": "departure_imminent", "urgency": "immediate",
            "status": "actual", "school_name": "Ektorpsskolan", "deadline": null,
            "reason": "escalated"
        });
        let read: Mail = serde_json::from_value(notice).unwrap();
        assert!(matches!(read, Mail::Notice(_)), "{read:?}");
        assert!(serde_json::from_slice::<Mail>(b"{\"reason\":\"nonsense\"}").is_err());
    }
}
