//! Everything the desk's pages say, in Swedish (the default) and English, and the words for the
//! protocol's codes (categories, urgencies, outcomes, sections).

/// The language of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Sv,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Sv => "sv",
            Lang::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        match code {
            "sv" => Some(Lang::Sv),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The other language, which the switch on every page offers.
    pub fn other(self) -> Lang {
        match self {
            Lang::Sv => Lang::En,
            Lang::En => Lang::Sv,
        }
    }

    pub fn t(self) -> &'static Text {
        match self {
            Lang::Sv => &SV,
            Lang::En => &EN,
        }
    }
}

/// The fixed strings of the pages.
pub struct Text {
    pub language_name: &'static str,
    pub sign_in: &'static str,
    pub username: &'static str,
    pub password: &'static str,
    pub next: &'static str,
    pub code: &'static str,
    pub code_hint: &'static str,
    pub sign_in_failed: &'static str,
    pub code_failed: &'static str,
    pub throttled: &'static str,
    pub sign_out: &'static str,
    pub signed_in_as: &'static str,
    pub inbox: &'static str,
    pub inbox_empty: &'static str,
    pub received: &'static str,
    pub urgency: &'static str,
    pub category: &'static str,
    pub municipality: &'static str,
    pub deadline: &'static str,
    pub role: &'static str,
    pub state: &'static str,
    pub school: &'static str,
    pub required: &'static str,
    pub informed: &'static str,
    pub overdue: &'static str,
    pub in_time: &'static str,
    pub acknowledged_by: &'static str,
    pub not_acknowledged: &'static str,
    pub exercise: &'static str,
    pub test: &'static str,
    pub alert: &'static str,
    pub planned_departure: &'static str,
    pub sealed_note: &'static str,
    pub open_sections: &'static str,
    pub opened_logged: &'static str,
    pub not_granted: &'static str,
    pub acknowledge: &'static str,
    pub outcome: &'static str,
    pub choose_outcome: &'static str,
    pub outcome_missing: &'static str,
    pub already_acknowledged: &'static str,
    pub ack_failed: &'static str,
    pub csrf_refused: &'static str,
    pub forbidden: &'static str,
    pub not_found: &'static str,
    pub back_to_inbox: &'static str,
    pub store_failed: &'static str,
    pub log_failed: &'static str,
    pub ack_unrecorded: &'static str,
    pub sent_unrecorded: &'static str,
    pub new_alert: &'static str,
    pub my_alerts: &'static str,
    pub send: &'static str,
    pub send_failed: &'static str,
    pub already_sent: &'static str,
    pub no_alerts_sent: &'static str,
    pub form_has_errors: &'static str,
    pub recipients: &'static str,
    pub no_feedback: &'static str,
    pub sent_at: &'static str,
    // The live inbox (web/live.rs and its script).
    pub new_delivery: &'static str,
    pub enable_notifications: &'static str,
    pub live_signed_out: &'static str,
    pub live_stopped: &'static str,
}

pub static SV: Text = Text {
    language_name: "Svenska",
    sign_in: "Logga in",
    username: "Användarnamn",
    password: "Lösenord",
    next: "Fortsätt",
    code: "Engångskod",
    code_hint: "Sex siffror från din autentiseringsapp.",
    sign_in_failed: "Inloggningen misslyckades: fel användarnamn eller lösenord, eller så är kontot tillfälligt låst.",
    code_failed: "Koden godtogs inte. Vänta på nästa kod och försök igen.",
    throttled: "För många inloggningsförsök. Vänta en minut och försök igen.",
    sign_out: "Logga ut",
    signed_in_as: "Inloggad som",
    inbox: "Inkorg",
    inbox_empty: "Inga varsel har kommit.",
    received: "Mottaget",
    urgency: "Brådska",
    category: "Kategori",
    municipality: "Kommun",
    deadline: "Tid kvar att kvittera",
    role: "Roll",
    state: "Läge",
    school: "Skola",
    required: "Måste kvittera",
    informed: "För kännedom",
    overdue: "FÖRSENAD",
    in_time: "kvar",
    acknowledged_by: "Kvitterat av",
    not_acknowledged: "Ej kvitterat",
    exercise: "ÖVNING",
    test: "TEST",
    alert: "Varsel",
    planned_departure: "Planerad avresa",
    sealed_note: "Innehållet är förseglat. Det öppnas först när du begär det, och öppnandet loggas med ditt namn.",
    open_sections: "Öppna innehållet",
    opened_logged: "Öppnat och loggat.",
    not_granted: "Delar som inte tilldelats er",
    acknowledge: "Kvittera",
    outcome: "Utfall",
    choose_outcome: "Välj utfall",
    outcome_missing: "Välj ett utfall innan du kvitterar.",
    already_acknowledged: "Varslet är redan kvitterat. Kvitteringen skickades inte en gång till.",
    ack_failed: "Kvitteringen kunde inte skickas just nu (ingen kontakt med meddelandeservern). Försök igen.",
    csrf_refused: "Formuläret saknar giltig kontrollkod (det kan ha gått ut). Ladda om sidan och försök igen.",
    forbidden: "Din roll har inte tillgång till den här sidan.",
    not_found: "Sidan finns inte.",
    back_to_inbox: "Tillbaka till inkorgen",
    store_failed: "Ett internt fel uppstod. Försök igen om en stund.",
    log_failed: "Inget skickades: skrivbordet kunde inte skriva i åtkomstloggen. Försök igen om en stund.",
    ack_unrecorded: "Kvitteringen skickades, men skrivbordet kunde inte spara att den skickats. Åtkomstloggen visar att den skickades. Skicka den inte igen; kontakta den som driver skrivbordet. Meddelande-id:",
    sent_unrecorded: "Varslet skickades, men skrivbordet kunde inte spara det, så det syns inte under Mina varsel eller på varslets sida. Åtkomstloggen visar att det skickades. Skicka det inte igen; kontakta den som driver skrivbordet. Meddelande-id:",
    new_alert: "Nytt varsel",
    my_alerts: "Mina varsel",
    send: "Skicka varslet",
    send_failed: "Varslet kunde inte skickas just nu (ingen kontakt med meddelandeservern). Inget skickades; försök igen.",
    already_sent: "Det här formuläret är redan skickat. Varslet skickades inte en gång till.",
    no_alerts_sent: "Inga varsel har skickats härifrån.",
    form_has_errors: "Varslet skickades inte. Rätta uppgifterna som är markerade nedan.",
    recipients: "Mottagare",
    no_feedback: "Ingen återkoppling ännu",
    sent_at: "Skickat",
    new_delivery: "Nytt varsel",
    enable_notifications: "Aktivera aviseringar",
    live_signed_out: "Du är inte längre inloggad. Nya varsel visas inte förrän du loggar in igen.",
    live_stopped: "Inkorgen uppdateras inte längre automatiskt. Ladda om sidan.",
};

pub static EN: Text = Text {
    language_name: "English",
    sign_in: "Sign in",
    username: "User name",
    password: "Password",
    next: "Continue",
    code: "One-time code",
    code_hint: "Six digits from your authenticator app.",
    sign_in_failed: "Sign-in failed: wrong user name or password, or the account is locked for a while.",
    code_failed: "The code was not accepted. Wait for the next code and try again.",
    throttled: "Too many sign-in attempts. Wait a minute and try again.",
    sign_out: "Sign out",
    signed_in_as: "Signed in as",
    inbox: "Inbox",
    inbox_empty: "No alerts have arrived.",
    received: "Received",
    urgency: "Urgency",
    category: "Category",
    municipality: "Municipality",
    deadline: "Time left to acknowledge",
    role: "Role",
    state: "State",
    school: "School",
    required: "Must acknowledge",
    informed: "For information",
    overdue: "OVERDUE",
    in_time: "left",
    acknowledged_by: "Acknowledged by",
    not_acknowledged: "Not acknowledged",
    exercise: "EXERCISE",
    test: "TEST",
    alert: "Alert",
    planned_departure: "Planned departure",
    sealed_note: "The content is sealed. It is opened only when you ask, and the opening is logged with your name.",
    open_sections: "Open the content",
    opened_logged: "Opened and logged.",
    not_granted: "Sections not granted to you",
    acknowledge: "Acknowledge",
    outcome: "Outcome",
    choose_outcome: "Choose an outcome",
    outcome_missing: "Choose an outcome before acknowledging.",
    already_acknowledged: "The alert is already acknowledged. The acknowledgement was not sent again.",
    ack_failed: "The acknowledgement could not be sent just now (no contact with the message server). Try again.",
    csrf_refused: "The form has no valid check code (it may have expired). Reload the page and try again.",
    forbidden: "Your role does not give access to this page.",
    not_found: "No such page.",
    back_to_inbox: "Back to the inbox",
    store_failed: "An internal error occurred. Try again in a while.",
    log_failed: "Nothing was sent: the desk could not write to its access log. Try again in a while.",
    ack_unrecorded: "The acknowledgement was sent, but the desk could not record that it was. The access log shows it was sent. Do not send it again; contact whoever runs the desk. Message id:",
    sent_unrecorded: "The alert was sent, but the desk could not keep it, so neither My alerts nor the alert's page lists it. The access log shows it was sent. Do not send it again; contact whoever runs the desk. Message id:",
    new_alert: "New alert",
    my_alerts: "My alerts",
    send: "Send the alert",
    send_failed: "The alert could not be sent just now (no contact with the message server). Nothing was sent; try again.",
    already_sent: "This form was sent already. The alert was not sent again.",
    no_alerts_sent: "No alerts have been sent from here.",
    form_has_errors: "The alert was not sent. Correct what is marked below.",
    recipients: "Recipients",
    no_feedback: "No feedback yet",
    sent_at: "Sent",
    new_delivery: "New alert",
    enable_notifications: "Turn on notifications",
    live_signed_out: "You are no longer signed in. New alerts are not shown until you sign in again.",
    live_stopped: "The inbox no longer updates by itself. Reload the page.",
};

/// The words for the protocol's codes: code, Swedish, English.
const CODES: &[(&str, &str, &str)] = &[
    (
        "departure_imminent",
        "Förestående avresa",
        "Departure imminent",
    ),
    (
        "not_returned_after_break",
        "Ej återkommen efter lov",
        "Not returned after a break",
    ),
    (
        "missing_at_term_start",
        "Saknas vid terminsstart",
        "Missing at term start",
    ),
    (
        "suspected_abroad",
        "Misstänks vara utomlands",
        "Suspected abroad",
    ),
    ("immediate", "Omedelbar", "Immediate"),
    ("expected", "Snar", "Expected"),
    ("future", "Framtida", "Future"),
    ("case_opened", "Ärende öppnat", "Case opened"),
    ("already_known", "Redan känt", "Already known"),
    (
        "not_our_jurisdiction",
        "Inte vårt ansvar",
        "Not our jurisdiction",
    ),
    ("forwarded", "Vidarebefordrat", "Forwarded"),
    (
        "no_action_needed",
        "Ingen åtgärd behövs",
        "No action needed",
    ),
    ("core", "Elev, skola och oro", "Pupil, school and concern"),
    ("family", "Familj", "Family"),
    ("travel", "Resa", "Travel"),
    ("school_actions", "Skolans åtgärder", "School's actions"),
    ("alert", "Varsel", "Alert"),
    ("update", "Uppdatering", "Update"),
    ("cancel", "Återkallat", "Cancelled"),
    ("note", "Anteckning i ärendet", "Note to the case"),
    ("case_closed", "Ärendet avslutat", "Case closed"),
    ("returned", "Eleven är tillbaka", "The pupil is back"),
    (
        "problematic_absence",
        "Problematisk frånvaro",
        "Problematic absence",
    ),
    (
        "moved",
        "Flyttat, känd destination",
        "Moved, destination known",
    ),
    (
        "abroad_against_will",
        "Utomlands mot sin vilja",
        "Abroad against their will",
    ),
    (
        "travel_ban_decided",
        "Utreseförbud beslutat",
        "Travel ban decided",
    ),
    (
        "travel_ban_requested",
        "Utreseförbud ansökt",
        "Travel ban applied for",
    ),
    ("child_located", "Barnet har hittats", "Child located"),
    ("case_taken", "Ärendet övertaget", "Case taken"),
    (
        "information_request",
        "Begäran om uppgifter",
        "Information request",
    ),
    (
        "information_reply",
        "Svar med uppgifter",
        "Information reply",
    ),
    ("sent", "levererat", "delivered"),
    ("received", "mottaget", "received"),
    ("acknowledged", "kvitterat", "acknowledged"),
    ("declined", "avböjt", "declined"),
    ("escalated", "eskalerat", "escalated"),
    ("actual", "Skarpt varsel", "Real alert"),
    ("exercise", "Övning", "Exercise"),
    ("forced_marriage", "Tvångsäktenskap", "Forced marriage"),
    ("genital_mutilation", "Könsstympning", "Genital mutilation"),
    ("re_education_trip", "Uppfostringsresa", "Re-education trip"),
    ("other", "Annat", "Other"),
    ("test", "Test", "Test"),
    ("mother", "Mamma", "Mother"),
    ("father", "Pappa", "Father"),
    (
        "legal_guardian",
        "Särskilt förordnad vårdnadshavare",
        "Appointed legal guardian",
    ),
    ("other_relative", "Annan släkting", "Other relative"),
    (
        "concern_report_filed",
        "Orosanmälan gjord",
        "Concern report filed",
    ),
    (
        "guardians_contacted",
        "Vårdnadshavarna kontaktade",
        "Guardians contacted",
    ),
    ("home_visit", "Hembesök", "Home visit"),
    (
        "siblings_schools_checked",
        "Syskonens skolor kontrollerade",
        "Siblings' schools checked",
    ),
    ("police_contacted", "Polisen kontaktad", "Police contacted"),
    (
        "skatteverket_contacted",
        "Skatteverket kontaktat",
        "Skatteverket contacted",
    ),
];

/// The words for a protocol code, or the code itself when there are none.
pub fn code(lang: Lang, code: &str) -> &str {
    words(CODES, lang, code)
}

/// The words in `table` (key, Swedish, English) for `key`, or the key itself.
fn words<'a>(table: &[(&str, &'static str, &'static str)], lang: Lang, key: &'a str) -> &'a str {
    match table.iter().find(|(k, _, _)| *k == key) {
        Some((_, sv, _)) if lang == Lang::Sv => sv,
        Some((_, _, en)) => en,
        None => key,
    }
}

/// The words for the alert document's field names (the keys of its sections' JSON), for pages
/// that show a document: field name, Swedish, English.
const LABELS: &[(&str, &str, &str)] = &[
    ("pupil", "Elev", "Pupil"),
    ("name", "Namn", "Name"),
    ("personnummer", "Personnummer", "Personal identity number"),
    ("date_of_birth", "Födelsedatum", "Date of birth"),
    ("school", "Skola", "School"),
    ("skolenhetskod", "Skolenhetskod", "School unit code"),
    ("indicators", "Tecken på risk", "Signs of risk"),
    ("concern", "Skolans oro", "The school's concern"),
    ("guardians", "Vårdnadshavare", "Guardians"),
    ("siblings", "Syskon", "Siblings"),
    ("relation", "Relation till eleven", "Relation to the pupil"),
    ("phone", "Telefon", "Phone"),
    (
        "destination_country",
        "Resmål (land)",
        "Destination (country)",
    ),
    ("planned_departure", "Planerad avresa", "Planned departure"),
    ("carrier", "Resebolag", "Carrier"),
    ("flight", "Flygnummer", "Flight number"),
    ("actions", "Redan gjort", "Already done"),
    ("action", "Åtgärd", "Action"),
    ("at", "När", "When"),
    ("contact", "Kontaktperson", "Contact person"),
    ("role", "Roll", "Role"),
    ("email", "E-post", "Email"),
    ("note", "Övrigt", "Other information"),
    ("text", "Text", "Text"),
    ("outcome", "Utfall", "Outcome"),
    ("decided_at", "Beslutat", "Decided"),
    ("reference", "Diarienummer", "Reference"),
];

/// The words for a field of the alert document, or the field's name when there are none.
pub fn label(lang: Lang, key: &str) -> &str {
    words(LABELS, lang, key)
}
