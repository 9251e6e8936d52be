//! Office hours and Swedish public holidays in Europe/Stockholm.
//!
//! Agencies are open on working days and closed on public holidays and on the eves they treat as
//! holidays (midsommarafton, julafton, nyårsafton). Routing asks "is this office open now?" to
//! decide whether an alert goes to socialtjänsten or to socialjouren, and escalation deadlines
//! ask "when does it open next?".

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc,
    Weekday,
};
use chrono_tz::Tz;

/// The time zone every office-hours string is read in.
pub const TZ: Tz = chrono_tz::Europe::Stockholm;

/// How far ahead [`OfficeHours::next_open`] looks before it gives up. Any schedule with at least
/// one window opens well within this, holidays included.
const LOOKAHEAD_DAYS: i64 = 400;

/// Why an office-hours string was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("office hours {input:?}: {why} (expected e.g. \"mon-fri 08:00-17:00\", \"mon-thu 08:00-16:30; fri 08:00-15:00\" or \"always\")")]
    Parse { input: String, why: String },
}

/// One opening window on a day, `[start, end)` in local time. `end` is `None` for "until
/// midnight" (written `24:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Window {
    start: NaiveTime,
    end: Option<NaiveTime>,
}

impl Window {
    fn end_seconds(&self) -> u32 {
        self.end.map_or(86_400, |e| e.num_seconds_from_midnight())
    }

    fn overlaps(&self, other: &Window) -> bool {
        self.start.num_seconds_from_midnight() < other.end_seconds()
            && other.start.num_seconds_from_midnight() < self.end_seconds()
    }

    fn contains(&self, t: NaiveTime) -> bool {
        t >= self.start && self.end.is_none_or(|end| t < end)
    }
}

/// When a participant's office is staffed, in Europe/Stockholm local time.
///
/// Written as `"always"` (staffed around the clock, holidays included: socialjouren, the police)
/// or as `;`-separated groups of days and time windows, e.g. `"mon-thu 08:00-16:30; fri
/// 08:00-15:00"` or `"mon,wed 08:00-12:00, 13:00-16:00"`. Windows include their start and exclude
/// their end; `24:00` may end a window. A weekly schedule is closed on every Swedish public
/// holiday (see [`is_holiday`]).
///
/// Serialises as its canonical string, so a registry file can hold it as text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OfficeHours {
    /// `None` means always open; otherwise windows per weekday, Monday first.
    weekly: Option<[Vec<Window>; 7]>,
}

impl OfficeHours {
    /// Staffed around the clock, every day of the year.
    pub fn always() -> OfficeHours {
        OfficeHours { weekly: None }
    }

    /// Whether the office is open at `at`, read in Europe/Stockholm and closed on public holidays
    /// unless it is [`always`](OfficeHours::always) open.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let Some(weekly) = &self.weekly else {
            return true;
        };
        let local = at.with_timezone(&TZ);
        if is_holiday(local.date_naive()).is_some() {
            return false;
        }
        let day = local.weekday().num_days_from_monday() as usize;
        weekly[day].iter().any(|w| w.contains(local.time()))
    }

    /// The first instant at or after `after` when the office is open: `after` itself if it is
    /// open then. `None` only if the schedule never opens within about a year.
    pub fn next_open(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.is_open(after) {
            return Some(after);
        }
        let weekly = self.weekly.as_ref()?;
        let first_day = after.with_timezone(&TZ).date_naive();
        for offset in 0..LOOKAHEAD_DAYS {
            let day = first_day.checked_add_signed(Duration::days(offset))?;
            if is_holiday(day).is_some() {
                continue;
            }
            let windows = &weekly[day.weekday().num_days_from_monday() as usize];
            for w in windows {
                let start = local_to_utc(day.and_time(w.start))?;
                // A window starting in the spring-forward gap opens when the clocks resume, which
                // may already be past its end; is_open is the judge.
                if start > after && self.is_open(start) {
                    return Some(start);
                }
            }
        }
        None
    }

    /// Whether this schedule is open around the clock.
    pub fn is_always(&self) -> bool {
        self.weekly.is_none()
    }
}

/// The earliest UTC instant showing local time `local` in Stockholm; for a local time skipped by
/// the spring-forward change, the instant the clocks resume.
fn local_to_utc(local: NaiveDateTime) -> Option<DateTime<Utc>> {
    // The gap is one hour; minute steps land exactly on its end because windows are whole minutes.
    for minutes in 0..=180 {
        let candidate = local.checked_add_signed(Duration::minutes(minutes))?;
        if let Some(t) = TZ.from_local_datetime(&candidate).earliest() {
            return Some(t.with_timezone(&Utc));
        }
    }
    None
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn parse_day(s: &str) -> Option<usize> {
    DAY_NAMES.iter().position(|d| *d == s)
}

fn parse_time(s: &str, is_end: bool) -> Result<Option<NaiveTime>, String> {
    let bad = || format!("{s:?} is not a time of day as HH:MM");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if is_end && h == 24 && m == 0 {
        return Ok(None);
    }
    NaiveTime::from_hms_opt(h, m, 0).map(Some).ok_or_else(bad)
}

fn parse_days(s: &str) -> Result<Vec<usize>, String> {
    let mut days = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let unknown = |d: &str| format!("{d:?} is not a day (use {})", DAY_NAMES.join(", "));
        match part.split_once('-') {
            Some((from, to)) => {
                let from_i = parse_day(from.trim()).ok_or_else(|| unknown(from.trim()))?;
                let to_i = parse_day(to.trim()).ok_or_else(|| unknown(to.trim()))?;
                if to_i < from_i {
                    return Err(format!(
                        "day range {part:?} must run forward from mon to sun"
                    ));
                }
                days.extend(from_i..=to_i);
            }
            None => days.push(parse_day(part).ok_or_else(|| unknown(part))?),
        }
    }
    Ok(days)
}

fn parse_window(s: &str) -> Result<Window, String> {
    let (from, to) = s
        .split_once('-')
        .ok_or_else(|| format!("{s:?} is not a time window as HH:MM-HH:MM"))?;
    let start =
        parse_time(from.trim(), false)?.ok_or_else(|| format!("{s:?} cannot start at 24:00"))?;
    let end = parse_time(to.trim(), true)?;
    if end.is_some_and(|end| end <= start) {
        return Err(format!(
            "window {s:?} ends before it starts (windows may not cross midnight; split them)"
        ));
    }
    Ok(Window { start, end })
}

impl FromStr for OfficeHours {
    type Err = Error;

    fn from_str(input: &str) -> Result<OfficeHours, Error> {
        let fail = |why: String| Error::Parse {
            input: input.to_owned(),
            why,
        };
        let text = input.trim().to_ascii_lowercase();
        if text == "always" {
            return Ok(OfficeHours::always());
        }
        if text.is_empty() {
            return Err(fail("is empty".into()));
        }
        let mut weekly: [Vec<Window>; 7] = Default::default();
        for group in text.split(';') {
            let group = group.trim();
            let (days, windows) = group
                .split_once(char::is_whitespace)
                .ok_or_else(|| fail(format!("{group:?} needs days and at least one window")))?;
            let days = parse_days(days).map_err(&fail)?;
            for window in windows.split(',') {
                let w = parse_window(window.trim()).map_err(&fail)?;
                for &d in &days {
                    if weekly[d].iter().any(|o| o.overlaps(&w)) {
                        return Err(fail(format!("{} has overlapping windows", DAY_NAMES[d])));
                    }
                    weekly[d].push(w);
                }
            }
        }
        for day in &mut weekly {
            day.sort();
        }
        Ok(OfficeHours {
            weekly: Some(weekly),
        })
    }
}

impl fmt::Display for OfficeHours {
    /// The canonical form: one group per distinct run of consecutive days with equal windows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(weekly) = &self.weekly else {
            return f.write_str("always");
        };
        let mut groups = Vec::new();
        let mut d = 0;
        while d < 7 {
            let mut end = d;
            while end + 1 < 7 && weekly[end + 1] == weekly[d] {
                end += 1;
            }
            if !weekly[d].is_empty() {
                let days = if end == d {
                    DAY_NAMES[d].to_owned()
                } else {
                    format!("{}-{}", DAY_NAMES[d], DAY_NAMES[end])
                };
                let windows: Vec<String> = weekly[d]
                    .iter()
                    .map(|w| {
                        let end = w
                            .end
                            .map_or("24:00".to_owned(), |e| e.format("%H:%M").to_string());
                        format!("{}-{}", w.start.format("%H:%M"), end)
                    })
                    .collect();
                groups.push(format!("{days} {}", windows.join(", ")));
            }
            d = end + 1;
        }
        if groups.is_empty() {
            // Parsing never yields this; keep Display total anyway.
            return f.write_str("never");
        }
        f.write_str(&groups.join("; "))
    }
}

impl TryFrom<String> for OfficeHours {
    type Error = Error;
    fn try_from(s: String) -> Result<OfficeHours, Error> {
        s.parse()
    }
}

impl From<OfficeHours> for String {
    fn from(h: OfficeHours) -> String {
        h.to_string()
    }
}

/// Easter Sunday in the Gregorian calendar (the Anonymous Gregorian algorithm, also known as
/// Meeus/Jones/Butcher).
pub fn easter(year: i32) -> Option<NaiveDate> {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c.div_euclid(4);
    let k = c.rem_euclid(4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l).div_euclid(451);
    let month = (h + l - 7 * m + 114).div_euclid(31);
    let day = (h + l - 7 * m + 114).rem_euclid(31) + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// The first `weekday` on or after `from`.
fn weekday_on_or_after(from: NaiveDate, weekday: Weekday) -> Option<NaiveDate> {
    let ahead = (7 + weekday.num_days_from_monday() - from.weekday().num_days_from_monday()) % 7;
    from.checked_add_signed(Duration::days(i64::from(ahead)))
}

/// The days Swedish agencies are closed in `year`, sorted by date, with their Swedish names.
///
/// These are the public holidays of lag (1989:253) om allmänna helgdagar (including pingstdagen,
/// which always falls on a Sunday) and the three eves treated as holidays: midsommarafton,
/// julafton and nyårsafton.
pub fn holidays(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let ymd = |m, d| NaiveDate::from_ymd_opt(year, m, d);
    let easter = easter(year);
    let from_easter = |days: i64| easter.and_then(|e| e.checked_add_signed(Duration::days(days)));
    let candidates: [(Option<NaiveDate>, &'static str); 16] = [
        (ymd(1, 1), "nyårsdagen"),
        (ymd(1, 6), "trettondedag jul"),
        (from_easter(-2), "långfredagen"),
        (from_easter(0), "påskdagen"),
        (from_easter(1), "annandag påsk"),
        (ymd(5, 1), "första maj"),
        (from_easter(39), "Kristi himmelsfärdsdag"),
        (from_easter(49), "pingstdagen"),
        (ymd(6, 6), "nationaldagen"),
        (
            ymd(6, 19).and_then(|d| weekday_on_or_after(d, Weekday::Fri)),
            "midsommarafton",
        ),
        (
            ymd(6, 20).and_then(|d| weekday_on_or_after(d, Weekday::Sat)),
            "midsommardagen",
        ),
        (
            ymd(10, 31).and_then(|d| weekday_on_or_after(d, Weekday::Sat)),
            "alla helgons dag",
        ),
        (ymd(12, 24), "julafton"),
        (ymd(12, 25), "juldagen"),
        (ymd(12, 26), "annandag jul"),
        (ymd(12, 31), "nyårsafton"),
    ];
    let mut days: Vec<(NaiveDate, &'static str)> = candidates
        .into_iter()
        .filter_map(|(d, name)| d.map(|d| (d, name)))
        .collect();
    // Nationaldagen can coincide with pingstdagen (e.g. 2049); keep the date once.
    days.sort_by_key(|(d, _)| *d);
    days.dedup_by_key(|(d, _)| *d);
    days
}

/// The name of the holiday on `date`, if agencies are closed for one.
pub fn is_holiday(date: NaiveDate) -> Option<&'static str> {
    holidays(date.year())
        .into_iter()
        .find(|(d, _)| *d == date)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn weekdays() -> OfficeHours {
        "mon-fri 08:00-17:00".parse().unwrap()
    }

    #[test]
    fn easter_by_the_computus() {
        assert_eq!(easter(2024), Some(date(2024, 3, 31)));
        assert_eq!(easter(2025), Some(date(2025, 4, 20)));
        assert_eq!(easter(2026), Some(date(2026, 4, 5)));
        assert_eq!(easter(2027), Some(date(2027, 3, 28)));
        // The extremes of the Gregorian range: 22 March and 25 April.
        assert_eq!(easter(2285), Some(date(2285, 3, 22)));
        assert_eq!(easter(2038), Some(date(2038, 4, 25)));
        assert_eq!(easter(2000), Some(date(2000, 4, 23)));
    }

    #[test]
    fn holidays_2026() {
        let h = holidays(2026);
        let expect = [
            (date(2026, 1, 1), "nyårsdagen"),
            (date(2026, 1, 6), "trettondedag jul"),
            (date(2026, 4, 3), "långfredagen"),
            (date(2026, 4, 5), "påskdagen"),
            (date(2026, 4, 6), "annandag påsk"),
            (date(2026, 5, 1), "första maj"),
            (date(2026, 5, 14), "Kristi himmelsfärdsdag"),
            (date(2026, 5, 24), "pingstdagen"),
            (date(2026, 6, 6), "nationaldagen"),
            (date(2026, 6, 19), "midsommarafton"),
            (date(2026, 6, 20), "midsommardagen"),
            (date(2026, 10, 31), "alla helgons dag"),
            (date(2026, 12, 24), "julafton"),
            (date(2026, 12, 25), "juldagen"),
            (date(2026, 12, 26), "annandag jul"),
            (date(2026, 12, 31), "nyårsafton"),
        ];
        assert_eq!(h, expect);
    }

    #[test]
    fn moving_holidays_in_other_years() {
        assert_eq!(is_holiday(date(2025, 6, 20)), Some("midsommarafton"));
        assert_eq!(is_holiday(date(2024, 6, 21)), Some("midsommarafton"));
        assert_eq!(is_holiday(date(2025, 11, 1)), Some("alla helgons dag"));
        assert_eq!(is_holiday(date(2027, 11, 6)), Some("alla helgons dag"));
        assert_eq!(
            is_holiday(date(2025, 5, 29)),
            Some("Kristi himmelsfärdsdag")
        );
        assert_eq!(is_holiday(date(2026, 6, 18)), None);
        assert_eq!(is_holiday(date(2026, 3, 10)), None);
        // Nationaldagen and pingstdagen fall together in 2049; the date is listed once.
        let h = holidays(2049);
        assert_eq!(h.iter().filter(|(d, _)| *d == date(2049, 6, 6)).count(), 1);
    }

    #[test]
    fn office_hours_on_ordinary_days() {
        let h = weekdays();
        // Tuesday 2026-03-10 10:00 CET = 09:00Z.
        assert!(h.is_open(utc("2026-03-10T09:00:00Z")));
        // Friday 2026-03-13 17:30 CET = 16:30Z.
        assert!(!h.is_open(utc("2026-03-13T16:30:00Z")));
        // The end of the window is closed, the start open.
        assert!(!h.is_open(utc("2026-03-13T16:00:00Z")));
        assert!(h.is_open(utc("2026-03-13T07:00:00Z")));
        assert!(!h.is_open(utc("2026-03-14T10:00:00Z")), "Saturday");
    }

    #[test]
    fn closed_on_holidays_unless_always() {
        let h = weekdays();
        // Easter Monday 2026-04-06 10:00 CEST = 08:00Z.
        assert!(!h.is_open(utc("2026-04-06T08:00:00Z")));
        // Midsommarafton 2026-06-19 10:00 CEST.
        assert!(!h.is_open(utc("2026-06-19T08:00:00Z")));
        assert!(h.is_open(utc("2026-06-18T08:00:00Z")));
        assert!(OfficeHours::always().is_open(utc("2026-06-19T08:00:00Z")));
    }

    #[test]
    fn stockholm_time_across_dst_changes() {
        let h = weekdays();
        // Friday 2026-03-27, CET (UTC+1): 06:30Z is 07:30 local, closed.
        assert!(!h.is_open(utc("2026-03-27T06:30:00Z")));
        // Monday 2026-03-30, CEST (UTC+2) since Sunday 29 March: 06:30Z is 08:30 local, open.
        assert!(h.is_open(utc("2026-03-30T06:30:00Z")));
        // Friday 2026-10-23, CEST: 15:30Z is 17:30 local, closed.
        assert!(!h.is_open(utc("2026-10-23T15:30:00Z")));
        // Monday 2026-10-26, CET since Sunday 25 October: 15:30Z is 16:30 local, open.
        assert!(h.is_open(utc("2026-10-26T15:30:00Z")));

        // On the change days themselves, with Sunday night hours.
        let night: OfficeHours = "sun 01:00-04:00".parse().unwrap();
        assert!(night.is_open(utc("2026-03-29T00:30:00Z")), "01:30 CET");
        assert!(night.is_open(utc("2026-03-29T01:30:00Z")), "03:30 CEST");
        assert!(!night.is_open(utc("2026-03-29T02:00:00Z")), "04:00 CEST");
        // 25 October: 02:00-03:00 local happens twice; 03:30 local is 02:30Z.
        assert!(night.is_open(utc("2026-10-25T00:30:00Z")), "02:30 CEST");
        assert!(night.is_open(utc("2026-10-25T01:30:00Z")), "02:30 CET");
        assert!(night.is_open(utc("2026-10-25T02:30:00Z")), "03:30 CET");
        assert!(!night.is_open(utc("2026-10-25T03:00:00Z")), "04:00 CET");
    }

    #[test]
    fn next_open() {
        let h = weekdays();
        // Friday 17:30 before Easter week-end 2026 (Thursday 2 April): långfredagen, påskdagen
        // and annandag påsk are closed, so Tuesday 7 April 08:00 CEST.
        assert_eq!(
            h.next_open(utc("2026-04-02T15:30:00Z")),
            Some(utc("2026-04-07T06:00:00Z"))
        );
        // Open already: the same instant.
        let t = utc("2026-03-10T09:00:00Z");
        assert_eq!(h.next_open(t), Some(t));
        // Early morning on the day DST starts the week after.
        assert_eq!(
            h.next_open(utc("2026-03-28T12:00:00Z")),
            Some(utc("2026-03-30T06:00:00Z"))
        );
        // A window that starts inside the spring-forward gap opens when the clocks resume.
        let gap: OfficeHours = "sun 02:30-04:00".parse().unwrap();
        assert_eq!(
            gap.next_open(utc("2026-03-28T12:00:00Z")),
            Some(utc("2026-03-29T01:00:00Z"))
        );
        let t = utc("2026-12-24T20:00:00Z");
        assert_eq!(OfficeHours::always().next_open(t), Some(t));
    }

    #[test]
    fn parse_and_display() {
        let h: OfficeHours = "mon-thu 08:00-16:30; fri 08:00-15:00".parse().unwrap();
        assert_eq!(h.to_string(), "mon-thu 08:00-16:30; fri 08:00-15:00");
        // Friday 15:30 CET closed, Thursday 15:30 open.
        assert!(!h.is_open(utc("2026-03-13T14:30:00Z")));
        assert!(h.is_open(utc("2026-03-12T14:30:00Z")));
        let split: OfficeHours = "Mon,Wed 08:00-12:00, 13:00-24:00".parse().unwrap();
        assert_eq!(
            split.to_string(),
            "mon 08:00-12:00, 13:00-24:00; wed 08:00-12:00, 13:00-24:00"
        );
        assert!(!split.is_open(utc("2026-03-09T11:30:00Z")), "12:30 lunch");
        assert!(split.is_open(utc("2026-03-09T22:59:00Z")), "23:59");
        assert_eq!(
            "always".parse::<OfficeHours>().unwrap(),
            OfficeHours::always()
        );
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, "\"mon-thu 08:00-16:30; fri 08:00-15:00\"");
        assert_eq!(serde_json::from_str::<OfficeHours>(&json).unwrap(), h);
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        let cases = [
            ("", "is empty"),
            ("mon-fri", "needs days and at least one window"),
            ("fri-mon 08:00-17:00", "must run forward"),
            ("mon-fre 08:00-17:00", "\"fre\" is not a day"),
            ("mon-fri 8-17", "is not a time of day"),
            ("mon-fri 17:00-08:00", "ends before it starts"),
            ("mon-fri 08:00-25:00", "is not a time of day"),
            (
                "mon-fri 08:00-12:00; mon 11:00-13:00",
                "mon has overlapping windows",
            ),
        ];
        for (input, expect) in cases {
            let err = input.parse::<OfficeHours>().unwrap_err().to_string();
            assert!(err.contains(expect), "{input:?}: {err}");
        }
    }
}
