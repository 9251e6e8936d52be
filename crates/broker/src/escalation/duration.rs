//! Durations in a routing table and in a policy frozen on an alert: read with humantime, written
//! in the compact form the table uses (`90s`, `15m`, `1h30m`).
//!
//! A table accepts only humantime's compact spelling with the units s, m, h and d, the grammar
//! of `schemas/routing.schema.json` (`^([0-9]{1,9}[smhd])+$`): one way to write each value keeps
//! tables easy to compare, and what [`format_duration`] writes must read back the same.

use std::time::Duration;

/// The longest duration accepted anywhere in a policy. Longer ones are almost surely typos, and
/// the bound keeps every date computation far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 86_400);

/// Parse a duration written as whole numbers with units `s`, `m`, `h`, `d`, e.g. `90s`, `15m`,
/// `2h`, `1d` or `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration (write e.g. 90s, 15m, 2h, 1d or 1h30m)");
    if !compact(s) {
        return Err(bad());
    }
    let d = humantime::parse_duration(s).map_err(|_| bad())?;
    if d > MAX_DURATION {
        return Err(format!("{s:?} is longer than the limit of 366d"));
    }
    Ok(d)
}

/// Whether `s` keeps to the table's spelling; humantime alone would also take spaces, fractions,
/// `ms` and long unit names such as `10 minutes`, weeks, months and years.
fn compact(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || b"smhd".contains(&b))
        && !s.contains("ms")
        && s.split(|c: char| !c.is_ascii_digit()).all(|n| n.len() <= 9)
}

/// Write a duration the way [`parse_duration`] reads it, largest units first (`1h30m`, `0s`).
/// humantime's own formatting (`1h 30m`, `1day`) is not in the table's grammar.
pub fn format_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, name) in [(86_400, 'd'), (3_600, 'h'), (60, 'm'), (1, 's')] {
        if secs >= unit {
            out.push_str(&(secs / unit).to_string());
            out.push(name);
            secs %= unit;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mins(m: u64) -> Duration {
        Duration::from_secs(m * 60)
    }

    #[test]
    fn durations_parse_and_format() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(mins(15)));
        assert_eq!(parse_duration("2h"), Ok(mins(120)));
        assert_eq!(parse_duration("1d"), Ok(mins(1440)));
        assert_eq!(parse_duration("1h30m"), Ok(mins(90)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in [
            "",
            "10",
            "m",
            "10x",
            "1.5h",
            "-5m",
            "10 m",
            "367d",
            "9999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(mins(1440 + 61)), "1d1h1m");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
