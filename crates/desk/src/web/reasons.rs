//! The broker's refusal reasons and escalation steps in words, Swedish and English, for the
//! school's alert page: a school reads why a message was refused and what the broker did when a
//! deadline passed, not a code. Every reason code of the protocol has its words (a test checks).

use varsel_protocol::refusal::Reason;

use super::text::Lang;

/// Each reason code: Swedish, English.
const REASONS: &[(Reason, &str, &str)] = &[
    (Reason::Oversized, "Meddelandet är för stort.", "The message is too large."),
    (Reason::Malformed, "Meddelandet gick inte att läsa (felaktigt format).", "The message could not be read (malformed)."),
    (Reason::UnsupportedAlg, "Meddelandet är signerat med en metod som inte godtas.", "The message is signed with a method that is not accepted."),
    (Reason::UnsupportedVersion, "Meddelandet har en formatversion som inte längre (eller ännu inte) godtas.", "The message is in a wire format version that is no longer (or not yet) accepted."),
    (Reason::UnknownKey, "Signeringsnyckeln finns inte i registret.", "The signing key is not in the registry."),
    (Reason::UnknownSender, "Avsändaren finns inte i registret.", "The sender is not in the registry."),
    (Reason::KeyNotSenders, "Signeringsnyckeln tillhör någon annan än avsändaren.", "The signing key belongs to someone other than the sender."),
    (Reason::KeyRevoked, "Signeringsnyckeln är spärrad.", "The signing key is revoked."),
    (Reason::KeyExpired, "Signeringsnyckeln gäller inte längre (eller ännu inte).", "The signing key is no longer (or not yet) valid."),
    (Reason::BadSignature, "Signaturen stämmer inte.", "The signature does not verify."),
    (Reason::Schema, "Meddelandet följer inte formatet (fält saknas eller har fel värden).", "The message does not follow the format (fields missing or wrong)."),
    (Reason::KindNotAllowed, "Avsändaren får inte skicka den här sortens meddelande.", "The sender may not send this kind of message."),
    (Reason::Stale, "Meddelandet är för gammalt (skickat för länge sedan eller skickat igen).", "The message is too old (sent too long ago, or sent again)."),
    (Reason::FutureDated, "Meddelandet är daterat i framtiden.", "The message is dated in the future."),
    (Reason::ReusedId, "Meddelandets id har redan använts för ett annat meddelande.", "The message id was already used for another message."),
    (Reason::WrongRoutingKey, "Meddelandet skickades med fel adressering.", "The message was sent with the wrong routing."),
    (Reason::IdentityMismatch, "Meddelandet skickades av någon annan än avsändaren.", "The message was published by someone other than the sender."),
    (Reason::UnknownReference, "Varslet som meddelandet gäller är okänt, redan återkallat eller avslutat.", "The alert the message is about is unknown, already cancelled or closed."),
    (Reason::NotEntitled, "Avsändaren får inte ändra eller återkalla det här varslet.", "The sender may not update or cancel this alert."),
    (Reason::NotACaseMember, "Avsändaren är inte med i ärendet: varken skolan som varslade eller en av varslets mottagare.", "The sender is not a member of the case: neither the school that raised the alert nor one of its recipients."),
    (Reason::NoteKindNotPermitted, "Avsändaren får inte skicka den här sortens anteckning till ärendet.", "The sender may not post this kind of note to the case."),
    (Reason::NotSealedForBroker, "Innehållet är inte förseglat till förmedlingen, så det kan inte skickas vidare.", "The content is not sealed to the broker, so it cannot be passed on."),
    (Reason::NotWrappedForRecipient, "En del av innehållet är inte förseglad till mottagaren.", "A section is not sealed to the recipient."),
    (Reason::Undecryptable, "Innehållet gick inte att dekryptera.", "The content could not be decrypted."),
    (Reason::InvalidPersonnummer, "Personnumret eller samordningsnumret är ogiltigt.", "The personal identity or coordination number is invalid."),
    (Reason::Internal, "Förmedlingen kunde inte ta emot meddelandet på grund av ett eget fel. Larma mottagarna på annat sätt.", "The broker could not take the message because of a fault of its own. Alert the recipients another way."),
];

/// A refusal's reason code in words; a code this desk does not know is said to be unknown,
/// with the code itself (bounded) beside it.
pub(crate) fn reason(lang: Lang, code: &str) -> String {
    let words = REASONS
        .iter()
        .find(|(r, _, _)| r.code() == code)
        .map(|(_, sv, en)| if lang == Lang::Sv { *sv } else { *en });
    match words {
        Some(w) => w.to_owned(),
        None => {
            let code =
                varsel_protocol::refusal::bounded(&code.chars().take(64).collect::<String>());
            match lang {
                Lang::Sv => format!("Okänd orsak ({code})."),
                Lang::En => format!("Unknown reason ({code})."),
            }
        }
    }
}

/// What the broker did when a recipient's deadline passed (an escalation step's code), in words.
pub(crate) fn escalation(lang: Lang, step: &str) -> String {
    let words = match step {
        "redeliver" => Some((
            "Ej kvitterat i tid: skickat igen",
            "Not acknowledged in time: sent again",
        )),
        "email" => Some((
            "Ej kvitterat i tid: påminnelse via e-post",
            "Not acknowledged in time: reminder by email",
        )),
        "add_recipient" => Some((
            "Ej kvitterat i tid: fler mottagare tillagda",
            "Not acknowledged in time: more recipients added",
        )),
        "page_ops" => Some((
            "Ej kvitterat i tid: driften larmad",
            "Not acknowledged in time: operations alerted",
        )),
        _ => None,
    };
    match (words, lang) {
        (Some((sv, _)), Lang::Sv) => sv.to_owned(),
        (Some((_, en)), Lang::En) => en.to_owned(),
        (None, _) => {
            let step =
                varsel_protocol::refusal::bounded(&step.chars().take(64).collect::<String>());
            match lang {
                Lang::Sv => format!("Eskalerat ({step})"),
                Lang::En => format!("Escalated ({step})"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_words_in_both_languages() {
        for r in Reason::ALL {
            let sv = reason(Lang::Sv, r.code());
            let en = reason(Lang::En, r.code());
            assert!(
                !sv.starts_with("Okänd") && !en.starts_with("Unknown"),
                "{r:?}"
            );
            assert_ne!(sv, en, "{r:?}");
        }
        assert_eq!(REASONS.len(), Reason::ALL.len());
    }

    #[test]
    fn an_unknown_code_is_bounded_and_escaped() {
        let hostile = format!("x\u{202e}\n{}", "y".repeat(10_000));
        let said = reason(Lang::Sv, &hostile);
        assert!(said.starts_with("Okänd orsak (x\\u{202e}\\u{a}y"), "{said}");
        assert!(said.chars().count() < 100, "{}", said.len());
        assert!(!said.chars().any(char::is_control));
        let step = escalation(Lang::En, &hostile);
        assert!(step.chars().count() < 100 && !step.chars().any(char::is_control));
        assert_eq!(
            escalation(Lang::Sv, "redeliver"),
            "Ej kvitterat i tid: skickat igen"
        );
    }
}
