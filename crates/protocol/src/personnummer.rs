//! Swedish personal identity numbers and coordination numbers: parsing and checksum validation.
//!
//! A [`Personnummer`] is personal data of the most sensitive kind in varsel, so the type keeps it
//! out of every place it could leak by accident: `Debug` and `Display` print a mask, errors
//! never echo the input, and the only way to the digits is the explicit [`Personnummer::expose`].

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::refusal::{Reason, Refusal};

/// What the number-shaped input got wrong. The words never contain the input itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not one of `YYYYMMDD-NNNN`, `YYYYMMDDNNNN`, `YYMMDD-NNNN`, `YYMMDDNNNN` or `YYMMDD+NNNN`.
    #[error(
        "personnummer is not written as YYYYMMDD-NNNN, YYYYMMDDNNNN, YYMMDD-NNNN or YYMMDD+NNNN"
    )]
    BadFormat,
    /// The date part is not a date that exists, or lies in the future.
    #[error("personnummer has a date of birth that does not exist or lies in the future")]
    BadDate,
    /// The last digit does not match the Luhn checksum of the other nine.
    #[error("personnummer check digit does not match (a digit is mistyped or swapped)")]
    BadChecksum,
    /// The three-digit serial after the date is `000`; serials run from 001 to 999.
    #[error("personnummer has serial number 000, which is never issued (serials run 001-999)")]
    BadSerial,
}

impl Error {
    /// The refusal reason code every personnummer error maps to.
    pub fn reason(self) -> Reason {
        Reason::InvalidPersonnummer
    }
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Refusal {
        Refusal::new(e.reason(), e.to_string())
    }
}

/// A validated personnummer or samordningsnummer (coordination number, day of birth + 60).
///
/// Held in the normalised form `YYYYMMDD-NNNN`; a samordningsnummer keeps its day + 60 there,
/// since that is the number, while [`Personnummer::date_of_birth`] gives the real date.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Personnummer {
    normalised: String,
    date_of_birth: NaiveDate,
    coordination: bool,
}

impl Personnummer {
    /// Parses and validates `s`, resolving the century of the short forms against `today`:
    /// `YYMMDD-NNNN` is the most recent such date not after `today`, and `YYMMDD+NNNN` (used
    /// from the year the holder turns 100) is a century before that. Dates after `today` are
    /// refused in every form.
    pub fn parse_at(s: &str, today: NaiveDate) -> Result<Personnummer, Error> {
        let b = s.as_bytes();
        if !b.is_ascii() {
            return Err(Error::BadFormat);
        }
        let digits_at = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
        // (digits of the date, the four last digits, the year written as a century or not, '+')
        let (date_part, last_four, century_given, hundred_plus) = match b.len() {
            13 if b[8] == b'-' && digits_at(0..8) && digits_at(9..13) => {
                (&s[0..8], &s[9..13], true, false)
            }
            12 if digits_at(0..12) => (&s[0..8], &s[8..12], true, false),
            11 if (b[6] == b'-' || b[6] == b'+') && digits_at(0..6) && digits_at(7..11) => {
                (&s[0..6], &s[7..11], false, b[6] == b'+')
            }
            10 if digits_at(0..10) => (&s[0..6], &s[6..10], false, false),
            _ => return Err(Error::BadFormat),
        };
        let num = |t: &str| t.parse::<u32>().map_err(|_| Error::BadFormat);
        let (md_start, year) = if century_given {
            (4, num(&date_part[0..4])? as i32)
        } else {
            (2, num(&date_part[0..2])? as i32)
        };
        let month = num(&date_part[md_start..md_start + 2])?;
        let written_day = num(&date_part[md_start + 2..md_start + 4])?;
        let (day, coordination) = if written_day > 60 {
            (written_day - 60, true)
        } else {
            (written_day, false)
        };
        let year = if century_given {
            year
        } else {
            let mut y = today.year() - today.year().rem_euclid(100) + year;
            // Compare as numbers, before knowing whether the date exists, so 29 February of a
            // century year resolves the same way as any other day.
            if (y, month, day) > (today.year(), today.month(), today.day()) {
                y -= 100;
            }
            if hundred_plus {
                y -= 100;
            }
            y
        };
        let date_of_birth = NaiveDate::from_ymd_opt(year, month, day).ok_or(Error::BadDate)?;
        if date_of_birth > today {
            return Err(Error::BadDate);
        }
        let yy = year.rem_euclid(100) as u32;
        let ten = format!("{yy:02}{month:02}{written_day:02}{last_four}");
        if !luhn_ok(&ten) {
            return Err(Error::BadChecksum);
        }
        if &last_four[..3] == "000" {
            return Err(Error::BadSerial);
        }
        Ok(Personnummer {
            normalised: format!("{year:04}{month:02}{written_day:02}-{last_four}"),
            date_of_birth,
            coordination,
        })
    }

    /// The number in its normalised form `YYYYMMDD-NNNN`. Call it only where the number must
    /// leave the type: into a sealed section, or onto an officer's screen.
    pub fn expose(&self) -> &str {
        &self.normalised
    }

    /// The real date of birth (for a samordningsnummer, the written day minus 60).
    pub fn date_of_birth(&self) -> NaiveDate {
        self.date_of_birth
    }

    /// Whether this is a samordningsnummer (coordination number) rather than a personnummer.
    pub fn is_coordination_number(&self) -> bool {
        self.coordination
    }
}

/// Luhn over the ten-digit form: weights 2,1,2,1,… on the first nine digits, the tenth is the
/// check digit.
fn luhn_ok(ten: &str) -> bool {
    let digits: Vec<u32> = ten.bytes().map(|b| u32::from(b - b'0')).collect();
    if digits.len() != 10 {
        return false;
    }
    let sum: u32 = digits[..9]
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let p = if i % 2 == 0 { d * 2 } else { *d };
            p / 10 + p % 10
        })
        .sum();
    (10 - sum % 10) % 10 == digits[9]
}

impl FromStr for Personnummer {
    type Err = Error;
    /// Parses against today's date (UTC); use [`Personnummer::parse_at`] to choose the date.
    fn from_str(s: &str) -> Result<Self, Error> {
        Personnummer::parse_at(s, Utc::now().date_naive())
    }
}

impl fmt::Debug for Personnummer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Personnummer(********-****)")
    }
}

impl fmt::Display for Personnummer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********-****")
    }
}

impl Serialize for Personnummer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.normalised)
    }
}

impl<'de> Deserialize<'de> for Personnummer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Personnummer;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a personnummer or samordningsnummer as a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Personnummer, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn today() -> NaiveDate {
        day(2025, 3, 14)
    }

    /// Computes the check digit independently of `luhn_ok`, to build test numbers.
    fn check_digit(nine: &str) -> u32 {
        let mut sum = 0;
        for (i, c) in nine.chars().enumerate() {
            let d = c.to_digit(10).unwrap() * if i % 2 == 0 { 2 } else { 1 };
            sum += d / 10 + d % 10;
        }
        (10 - sum % 10) % 10
    }

    #[test]
    fn skatteverkets_test_number_in_every_form() {
        for form in ["19121212-1212", "191212121212", "121212+1212"] {
            let p = Personnummer::parse_at(form, today()).unwrap();
            assert_eq!(p.expose(), "19121212-1212", "{form}");
            assert_eq!(p.date_of_birth(), day(1912, 12, 12));
            assert!(!p.is_coordination_number());
        }
        // Without '+', the short form names the most recent 12 December 1912+100n: 2012.
        for form in ["121212-1212", "1212121212"] {
            let p = Personnummer::parse_at(form, today()).unwrap();
            assert_eq!(p.expose(), "20121212-1212", "{form}");
        }
    }

    #[test]
    fn serial_000_is_refused_and_001_and_999_are_accepted() {
        for (serial, ok) in [("000", false), ("001", true), ("999", true)] {
            let nine = format!("900101{serial}");
            let number = format!("19900101-{serial}{}", check_digit(&nine));
            let parsed = Personnummer::parse_at(&number, today());
            if ok {
                assert!(parsed.is_ok(), "serial {serial}: {parsed:?}");
            } else {
                assert_eq!(parsed, Err(Error::BadSerial), "serial {serial}");
            }
        }
    }

    #[test]
    fn check_digits_computed_independently_are_accepted() {
        // 19900101-001x: 9,0,0,1,0,1,0,0,1 weighted 2,1,2,… -> (1+8)+0+0+1+0+1+0+0+2 = 13 -> 7.
        assert_eq!(check_digit("900101001"), 7);
        let p = Personnummer::parse_at("19900101-0017", today()).unwrap();
        assert_eq!(p.date_of_birth(), day(1990, 1, 1));
        for (nine, long) in [("120315238", "20120315-238"), ("000229123", "20000229-123")] {
            let s = format!("{long}{}", check_digit(nine));
            let p = Personnummer::parse_at(&s, today()).unwrap();
            assert_eq!(p.expose(), s);
        }
    }

    #[test]
    fn wrong_check_digit_is_refused() {
        assert_eq!(
            Personnummer::parse_at("19121212-1213", today()),
            Err(Error::BadChecksum)
        );
        // A swap of two neighbouring digits is caught.
        assert_eq!(
            Personnummer::parse_at("19121221-1212", today()),
            Err(Error::BadChecksum)
        );
    }

    #[test]
    fn dates_that_do_not_exist_are_refused() {
        // 29 February on a non-leap year (with a correct check digit, so only the date is wrong).
        let s = format!("20100229-457{}", check_digit("100229457"));
        assert_eq!(Personnummer::parse_at(&s, today()), Err(Error::BadDate));
        // 1900 was not a leap year, 2000 was: the century decides.
        let nine = "000229123";
        let short_plus = format!("000229+123{}", check_digit(nine));
        assert_eq!(
            Personnummer::parse_at(&short_plus, today()),
            Err(Error::BadDate)
        );
        let short = format!("000229-123{}", check_digit(nine));
        assert_eq!(
            Personnummer::parse_at(&short, today()).unwrap().expose(),
            format!("20000229-123{}", check_digit(nine))
        );
        for (nine, s) in [("121312121", "20121312-121"), ("120432121", "20120432-121")] {
            let s = format!("{s}{}", check_digit(nine));
            assert_eq!(
                Personnummer::parse_at(&s, today()),
                Err(Error::BadDate),
                "{s}"
            );
        }
    }

    #[test]
    fn future_dates_are_refused() {
        let s = format!("20250315-123{}", check_digit("250315123"));
        assert_eq!(Personnummer::parse_at(&s, today()), Err(Error::BadDate));
        assert!(Personnummer::parse_at(&s, day(2025, 3, 15)).is_ok());
        // The short form of the same number falls back a century rather than into the future.
        let short = format!("250315-123{}", check_digit("250315123"));
        let p = Personnummer::parse_at(&short, today()).unwrap();
        assert_eq!(p.date_of_birth(), day(1925, 3, 15));
    }

    #[test]
    fn samordningsnummer_is_accepted_and_flagged() {
        // Skatteverket's example: 701063-2391, born 3 October 1970.
        let p = Personnummer::parse_at("701063-2391", today()).unwrap();
        assert!(p.is_coordination_number());
        assert_eq!(p.date_of_birth(), day(1970, 10, 3));
        assert_eq!(p.expose(), "19701063-2391");
        // Day 92 would be the 32nd.
        let s = format!("20120392-123{}", check_digit("120392123"));
        assert_eq!(Personnummer::parse_at(&s, today()), Err(Error::BadDate));
        // Day 60 is day 0 of nothing.
        let s = format!("20120360-123{}", check_digit("120360123"));
        assert_eq!(Personnummer::parse_at(&s, today()), Err(Error::BadDate));
    }

    #[test]
    fn malformed_input_is_refused() {
        for bad in [
            "",
            "19121212_1212",
            "1912121-21212",
            "19121212+1212",
            "121212 1212",
            "1212121-212",
            "19121212-121",
            "19121212-12120",
            "１２１２１２-１２１２",
            " 19121212-1212",
            "19121212-12a2",
        ] {
            assert_eq!(
                Personnummer::parse_at(bad, today()),
                Err(Error::BadFormat),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn debug_display_and_errors_mask_the_number() {
        let p = Personnummer::parse_at("19121212-1212", today()).unwrap();
        assert_eq!(format!("{p:?}"), "Personnummer(********-****)");
        assert_eq!(p.to_string(), "********-****");
        assert_eq!(
            format!("{:?}", Some(&p)),
            "Some(Personnummer(********-****))"
        );
        let err = serde_json::from_str::<Personnummer>("\"19121212-1213\"").unwrap_err();
        let words = err.to_string();
        assert!(words.contains("check digit"), "{words}");
        assert!(
            !words.contains("1213") && !words.contains("121212"),
            "{words}"
        );
        assert_eq!(
            Refusal::from(Error::BadDate).reason,
            Reason::InvalidPersonnummer
        );
    }

    #[test]
    fn serde_round_trips_the_normalised_form() {
        let p: Personnummer = serde_json::from_str("\"191212121212\"").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"19121212-1212\"");
        let back: Personnummer = serde_json::from_str("\"19121212-1212\"").unwrap();
        assert_eq!(back, p);
        assert!(serde_json::from_str::<Personnummer>("191212121212").is_err());
    }
}
