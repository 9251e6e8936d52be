//! The one wire form of the routing header's optional fields. The sections' associated data
//! binds the header as the receiver rebuilds it from its parsed fields (see
//! `envelope::seal`), so a field written in another form than the one varsel writes would
//! make every section undecryptable; it is refused where it is read instead, naming the field.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use super::{SectionLabel, Token};

/// `planned_departure`: RFC 3339 in UTC with an uppercase `Z`, fractional seconds only when not
/// zero and then in groups of three digits; left out when unknown, never `null`.
pub(super) fn planned_departure<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Err(D::Error::custom(
            "header.planned_departure is null: leave the field out when the departure is unknown",
        ));
    };
    let parsed = DateTime::parse_from_rfc3339(&text)
        .map_err(|_| D::Error::custom("header.planned_departure is not an RFC 3339 date and time"))?
        .with_timezone(&Utc);
    if parsed.to_rfc3339_opts(SecondsFormat::AutoSi, true) != text {
        return Err(D::Error::custom(
            "header.planned_departure must be written in UTC with Z, with fractional seconds \
             only when not zero and in groups of three digits \
             (as 2026-10-24T04:40:00Z or 2026-10-24T04:40:00.500Z)",
        ));
    }
    Ok(Some(parsed))
}

/// `correlation`: at least one token; left out when there is none, never `[]`.
pub(super) fn correlation<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Token>, D::Error> {
    let tokens = Vec::<Token>::deserialize(d)?;
    if tokens.is_empty() {
        return Err(D::Error::custom(
            "header.correlation is empty: leave the field out when there is no token",
        ));
    }
    Ok(tokens)
}

/// A key block's `labels`: at least one, in ascending order of their codes, each once, so the
/// associated data that binds them has one form.
pub(super) fn labels<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SectionLabel>, D::Error> {
    let labels = Vec::<SectionLabel>::deserialize(d)?;
    if labels.is_empty() {
        return Err(D::Error::custom(
            "keys[].labels is empty: a key block carries at least one key",
        ));
    }
    if labels.windows(2).any(|w| w[0].code() >= w[1].code()) {
        return Err(D::Error::custom(
            "keys[].labels must be in ascending order of their codes, each once",
        ));
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use crate::message::Header;

    fn header(extra: &str) -> Result<Header, String> {
        serde_json::from_str(&format!(
            r#"{{"municipality":"0581","category":"departure_imminent","urgency":"immediate","status":"actual"{extra}}}"#
        ))
        .map_err(|e| e.to_string())
    }

    #[test]
    fn the_one_form_round_trips_and_every_other_is_refused_naming_the_field() {
        for ok in [
            "",
            r#","planned_departure":"2026-10-24T04:40:00Z""#,
            r#","planned_departure":"2026-10-24T04:40:00.500Z""#,
            r#","planned_departure":"2026-10-24T04:40:00.000001Z""#,
            r#","correlation":["ektorp-2026-017"]"#,
        ] {
            let h = header(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            let again = serde_json::to_string(&h).unwrap();
            // Written back exactly as read: the form the sections' associated data binds.
            assert!(
                again.ends_with(&format!(r#""status":"actual"{ok}}}"#)),
                "{again}"
            );
        }
        for (bad, field) in [
            (
                r#","planned_departure":"2026-10-24T06:40:00+02:00""#,
                "planned_departure",
            ),
            (
                r#","planned_departure":"2026-10-24T04:40:00.000Z""#,
                "planned_departure",
            ),
            (
                r#","planned_departure":"2026-10-24T04:40:00.5Z""#,
                "planned_departure",
            ),
            (
                r#","planned_departure":"2026-10-24t04:40:00z""#,
                "planned_departure",
            ),
            (
                r#","planned_departure":"2026-10-24 04:40:00Z""#,
                "planned_departure",
            ),
            (r#","planned_departure":null"#, "planned_departure"),
            (r#","correlation":[]"#, "correlation"),
        ] {
            let e = header(bad).expect_err(bad);
            assert!(e.contains(&format!("header.{field} ")), "{bad}: {e}");
        }
    }
}
