//! `varsel routes explain`: how an alert with a given header would be routed at a given time, in
//! words: each rule and why it fired or not, the office hours consulted, the recipients, and the
//! plan of each escalation policy used.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use varsel_protocol::calendar::{self, OfficeHours};
use varsel_protocol::message::{Header, ParticipantId};

use super::table::Table;
use crate::escalation::format_duration;

impl Table {
    /// A human-readable account of how an alert with this header would be routed at `at`: each
    /// rule and why it fired or not, the office hours consulted, the recipients, and the plan of
    /// each escalation policy used if the alert were created at `at`.
    pub fn explain(
        &self,
        header: &Header,
        at: DateTime<Utc>,
        office_hours: &dyn Fn(&ParticipantId) -> Option<OfficeHours>,
    ) -> String {
        let mut trace = Vec::new();
        let decision = self.evaluate(header, at, office_hours, &mut trace);
        let mut out = String::new();
        let local = at.with_timezone(&calendar::TZ);
        let holiday = calendar::is_holiday(local.date_naive())
            .map(|h| format!(", {h}"))
            .unwrap_or_default();
        let _ = writeln!(out, "routing table {:?} ({})", self.name, self.origin);
        let _ = writeln!(out, "version {}", self.version);
        let _ = write!(
            out,
            "header: municipality {}, category {}, urgency {}, status {}",
            header.municipality, header.category, header.urgency, header.status
        );
        match header.planned_departure {
            Some(d) => {
                let _ = writeln!(out, ", planned departure {}", d.to_rfc3339());
            }
            None => out.push('\n'),
        }
        let _ = writeln!(
            out,
            "at: {} ({} in Stockholm{holiday})",
            at.to_rfc3339(),
            local.format("%a %Y-%m-%d %H:%M %Z")
        );
        out.push('\n');
        for line in &trace {
            let _ = writeln!(out, "{line}");
        }
        out.push('\n');
        if decision.defaulted {
            let _ = writeln!(
                out,
                "no rule fired: the alert goes to the default recipient {} with no sections",
                self.default_recipient
            );
        }
        let _ = writeln!(out, "recipients:");
        for r in &decision.recipients {
            let sections: Vec<&str> = r.sections.iter().map(|s| s.code()).collect();
            let sections = if sections.is_empty() {
                "no sections".to_owned()
            } else {
                sections.join(", ")
            };
            let policy = r
                .policy
                .as_deref()
                .map_or("no escalation policy".to_owned(), |p| format!("policy {p}"));
            let _ = writeln!(
                out,
                "  {} {}: {sections}; {policy} (via {})",
                r.participant, r.role, r.via_rule
            );
        }
        for r in &decision.recipients {
            if let Some(f) = self.line_down_fallback(&r.participant) {
                let _ = writeln!(
                    out,
                    "  while {}'s line is down (missed heartbeats), {f} gets its alerts too (line_down)",
                    r.participant
                );
            }
        }
        let used: BTreeSet<&str> = decision
            .recipients
            .iter()
            .filter_map(|r| r.policy.as_deref())
            .collect();
        for name in used {
            let Some(policy) = self.policies.get(name) else {
                continue;
            };
            out.push('\n');
            let repeat = if policy.repeat > 0 {
                format!(
                    ", ladder repeats {} more time(s) every {}",
                    policy.repeat,
                    format_duration(policy.period())
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "policy {name}: receipt due {}, ack due {}{repeat}",
                policy.receipt_due(at).to_rfc3339(),
                policy.ack_due(at).to_rfc3339(),
            );
            for p in policy.plan(at, header.planned_departure) {
                let step = &policy.steps[p.step];
                let timing = match step.before_departure.filter(|_| p.round == 0) {
                    Some(b) => format!(
                        "after {} or {} before departure",
                        format_duration(step.after),
                        format_duration(b)
                    ),
                    None => format!("after {}", format_duration(step.after)),
                };
                let _ = writeln!(
                    out,
                    "  {} round {} step {} ({timing}): {}",
                    p.due.to_rfc3339(),
                    p.round,
                    p.step + 1,
                    p.action
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use varsel_protocol::message::{Category, Status};

    use super::super::tests::{example, header, hours, utc, TUESDAY_10};

    #[test]
    fn explain_names_what_did_and_did_not_match() {
        let t = example();
        let mut h = header(Category::DepartureImminent, Status::Exercise);
        h.planned_departure = Some(utc("2026-06-19T11:30:00Z"));
        let text = t.explain(&h, utc("2026-06-19T08:00:00Z"), &hours);
        for expect in [
            "rule 1 \"departure-imminent\": did not fire: status exercise is not in [actual]",
            "rule 2 \"school-alerts\": did not fire: category departure_imminent is not in [not_returned_after_break, missing_at_term_start, suspected_abroad]; status exercise is not in [actual]",
            "rule 3 \"exercise\": fired: municipality 0581, status exercise",
            "norrkoping-socialtjansten required: core, family, travel, school_actions; policy exercise (via exercise)",
            "midsommarafton",
            "policy exercise: receipt due 2026-06-19T09:00:00+00:00",
        ] {
            assert!(text.contains(expect), "missing {expect:?} in:\n{text}");
        }

        let h = header(Category::DepartureImminent, Status::Actual);
        let text = t.explain(&h, utc("2026-03-13T16:30:00Z"), &hours);
        for expect in [
            "rule 1 \"departure-imminent\": fired",
            "norrkoping-socialtjansten is closed (office hours \"mon-fri 08:00-17:00\"): also norrkoping-socialjouren",
            "rule 2 \"school-alerts\": not evaluated (\"departure-imminent\" fired and does not continue)",
            "policy departure:",
            "2026-03-13T17:00:00+00:00 round 0 step 3 (after 30m or 3h before departure): add_recipient norrkoping-socialjouren",
            "policy duty:",
        ] {
            assert!(text.contains(expect), "missing {expect:?} in:\n{text}");
        }

        let mut h = header(Category::DepartureImminent, Status::Test);
        h.municipality = "0180".parse().unwrap();
        let text = t.explain(&h, utc(TUESDAY_10), &hours);
        assert!(
            text.contains("municipality 0180 is not in [0581]"),
            "{text}"
        );
        assert!(
            text.contains("no rule fired: the alert goes to the default recipient varsel-ops"),
            "{text}"
        );
    }
}
