//! The codes and registered identifiers an alert body uses: indicators, actions, relations,
//! school unit codes and ISO 3166-1 country codes. Each refuses what is not in its list, so the
//! body holds no free text where a code belongs.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::message::{self, code_enum};

code_enum!(
    /// What the school has seen that points to the harm it fears.
    Indicator {
        ForcedMarriage = "forced_marriage",
        GenitalMutilation = "genital_mutilation",
        /// A so-called re-education trip ("uppfostringsresa").
        ReEducationTrip = "re_education_trip",
        Other = "other",
    }
);

code_enum!(
    /// Something the school has already done (the checklist used in Västerås).
    Action {
        /// A concern report (orosanmälan) to social services.
        ConcernReportFiled = "concern_report_filed",
        GuardiansContacted = "guardians_contacted",
        HomeVisit = "home_visit",
        /// The schools of the pupil's siblings were asked whether the siblings are present.
        SiblingsSchoolsChecked = "siblings_schools_checked",
        /// The school told the police (for example of a departure about to happen).
        PoliceContacted = "police_contacted",
        /// The school asked Skatteverket (for example whether the family is registered as moved).
        SkatteverketContacted = "skatteverket_contacted",
        Other = "other",
    }
);

code_enum!(
    /// How a guardian or other adult in the family relates to the pupil.
    Relation {
        Mother = "mother",
        Father = "father",
        /// A legal guardian who is not a parent (e.g. särskilt förordnad vårdnadshavare).
        LegalGuardian = "legal_guardian",
        /// Another relative with care of the pupil.
        OtherRelative = "other_relative",
        Other = "other",
    }
);

/// A school unit code (skolenhetskod) from Skolverket's register: exactly eight digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Skolenhetskod(String);

impl Skolenhetskod {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Skolenhetskod {
    type Error = message::InvalidValue;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Skolenhetskod(s))
        } else {
            Err(message::invalid("skolenhetskod", "must be eight digits"))
        }
    }
}

impl From<Skolenhetskod> for String {
    fn from(s: Skolenhetskod) -> String {
        s.0
    }
}

/// Every ISO 3166-1 alpha-2 code officially assigned (249 codes, as of ISO/TC 46 N1108,
/// 2023-04-05). Reserved and user-assigned codes (`EU`, `UK`, `XK`, …) are not countries one
/// can look up and are refused.
#[rustfmt::skip]
pub const ASSIGNED_COUNTRY_CODES: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// An officially assigned ISO 3166-1 alpha-2 country code, upper case (e.g. `TR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    pub fn as_str(&self) -> &str {
        // Only ever built from an entry of ASSIGNED_COUNTRY_CODES, which is ASCII.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl TryFrom<String> for CountryCode {
    type Error = message::InvalidValue;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        match ASSIGNED_COUNTRY_CODES.binary_search(&s.as_str()) {
            Ok(_) => {
                let b = s.as_bytes();
                Ok(CountryCode([b[0], b[1]]))
            }
            Err(_) => Err(message::invalid(
                "country code",
                format!("{s:?} is not an assigned ISO 3166-1 alpha-2 code (upper case, e.g. TR)"),
            )),
        }
    }
}

impl std::str::FromStr for CountryCode {
    type Err = message::InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CountryCode::try_from(s.to_owned())
    }
}

impl From<CountryCode> for String {
    fn from(c: CountryCode) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_codes_are_the_assigned_ones() {
        assert!(ASSIGNED_COUNTRY_CODES.windows(2).all(|w| w[0] < w[1]));
        for ok in ["TR", "IQ", "SO", "AX", "SS"] {
            assert_eq!(ok.parse::<CountryCode>().unwrap().as_str(), ok);
        }
        for bad in ["tr", "EU", "UK", "XK", "T", "TUR", ""] {
            assert!(bad.parse::<CountryCode>().is_err(), "{bad}");
        }
    }
}
