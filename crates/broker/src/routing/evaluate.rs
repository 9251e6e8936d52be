//! Routing one alert: the rules tried in order against its header, `when_closed` alternatives
//! chosen by the recipients' office hours, and the recipients merged into a [`Decision`].

use chrono::{DateTime, Utc};

use varsel_protocol::calendar::OfficeHours;
use varsel_protocol::message::{Header, ParticipantId, RecipientRole};

use super::decision::{merge, Decision, Fired, Recipient, DEFAULT_VIA};
use super::table::{ClosedMode, Table};

impl Table {
    /// Route an alert with this header at time `at`. `office_hours` gives a participant's office
    /// hours from the registry; a participant without known office hours is treated as always
    /// open, so its `when_closed` alternative is not used.
    pub fn route(
        &self,
        header: &Header,
        at: DateTime<Utc>,
        office_hours: &dyn Fn(&ParticipantId) -> Option<OfficeHours>,
    ) -> Decision {
        self.evaluate(header, at, office_hours, &mut Vec::new())
    }

    /// The decision for `header` at `at`, with a line in `trace` for each rule and each office
    /// consulted, for [`Table::explain`].
    pub(super) fn evaluate(
        &self,
        header: &Header,
        at: DateTime<Utc>,
        office_hours: &dyn Fn(&ParticipantId) -> Option<OfficeHours>,
        trace: &mut Vec<String>,
    ) -> Decision {
        let mut recipients: Vec<Recipient> = Vec::new();
        let mut fired = Vec::new();
        let mut stopped_by: Option<&str> = None;
        for (i, rule) in self.rules.iter().enumerate() {
            let n = i + 1;
            if let Some(by) = stopped_by {
                trace.push(format!(
                    "rule {n} {:?}: not evaluated ({by:?} fired and does not continue)",
                    rule.name
                ));
                continue;
            }
            let why = match rule.matcher.check(header) {
                Ok(why) => why,
                Err(why_not) => {
                    trace.push(format!("rule {n} {:?}: did not fire: {why_not}", rule.name));
                    continue;
                }
            };
            trace.push(format!("rule {n} {:?}: fired: {why}", rule.name));
            fired.push(Fired {
                rule: rule.name.clone(),
                why,
            });
            for r in &rule.recipients {
                let mut primary = true;
                if let Some(wc) = &r.when_closed {
                    let hours = office_hours(&r.participant);
                    let closed = hours.as_ref().is_some_and(|h| !h.is_open(at));
                    let hours_text = hours
                        .as_ref()
                        .map_or("no office hours known, treated as open".to_owned(), |h| {
                            format!("office hours \"{h}\"")
                        });
                    if closed {
                        primary = wc.mode == ClosedMode::Also;
                        let verb = if primary { "also" } else { "instead" };
                        trace.push(format!(
                            "  {} is closed ({hours_text}): {verb} {}",
                            r.participant, wc.participant
                        ));
                        merge(
                            &mut recipients,
                            Recipient {
                                participant: wc.participant.clone(),
                                role: wc.role.unwrap_or(r.role),
                                sections: r.sections.clone(),
                                policy: wc.policy.clone().or_else(|| r.policy.clone()),
                                via_rule: rule.name.clone(),
                            },
                        );
                    } else {
                        trace.push(format!(
                            "  {} is open ({hours_text}): {} not needed",
                            r.participant, wc.participant
                        ));
                    }
                }
                if primary {
                    merge(
                        &mut recipients,
                        Recipient {
                            participant: r.participant.clone(),
                            role: r.role,
                            sections: r.sections.clone(),
                            policy: r.policy.clone(),
                            via_rule: rule.name.clone(),
                        },
                    );
                }
            }
            if !rule.continues {
                stopped_by = Some(&rule.name);
            }
        }
        let defaulted = recipients.is_empty();
        if defaulted {
            recipients.push(Recipient {
                participant: self.default_recipient.clone(),
                role: RecipientRole::Required,
                sections: Vec::new(),
                policy: self.default_policy.clone(),
                via_rule: DEFAULT_VIA.to_owned(),
            });
        }
        Decision {
            recipients,
            fired,
            defaulted,
            version: self.version.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use varsel_protocol::message::{Category, SectionLabel, Status, Urgency};

    use super::super::tests::{example, header, hours, pid, utc, who, TUESDAY_10};
    use super::*;

    #[test]
    fn departure_imminent_in_office_hours() {
        let t = example();
        let d = t.route(
            &header(Category::DepartureImminent, Status::Actual),
            utc(TUESDAY_10),
            &hours,
        );
        assert!(!d.defaulted);
        assert_eq!(d.version, t.version());
        assert_eq!(
            who(&d),
            [
                ("norrkoping-socialtjansten", RecipientRole::Required),
                ("polisen-region-ost", RecipientRole::Required),
                ("forsakringskassan", RecipientRole::Informed),
                ("skatteverket", RecipientRole::Informed),
            ]
        );
        assert_eq!(d.fired.len(), 1);
        assert_eq!(d.fired[0].rule, "departure-imminent");
        assert_eq!(
            d.fired[0].why,
            "municipality 0581, category departure_imminent, status actual"
        );
        let police = &d.recipients[1];
        assert_eq!(police.sections, [SectionLabel::Core, SectionLabel::Travel]);
        assert_eq!(police.policy.as_deref(), Some("duty"));
        assert_eq!(d.recipients[0].policy.as_deref(), Some("departure"));
        assert_eq!(d.recipients[2].sections, [SectionLabel::Core]);
        assert_eq!(d.recipients[2].policy, None);
    }

    #[test]
    fn closed_office_routes_to_socialjouren() {
        let t = example();
        let closed_instants = [
            ("Friday 17:30", "2026-03-13T16:30:00Z"),
            ("midsommarafton 2026, 10:00", "2026-06-19T08:00:00Z"),
            ("Easter Monday 2026, 10:00", "2026-04-06T08:00:00Z"),
        ];
        for (what, at) in closed_instants {
            // departure_imminent: socialjouren as well.
            let d = t.route(
                &header(Category::DepartureImminent, Status::Actual),
                utc(at),
                &hours,
            );
            let names: Vec<&str> = who(&d).iter().map(|(p, _)| *p).collect();
            assert_eq!(
                names,
                [
                    "norrkoping-socialjouren",
                    "norrkoping-socialtjansten",
                    "polisen-region-ost",
                    "forsakringskassan",
                    "skatteverket"
                ],
                "{what}"
            );
            let jour = &d.recipients[0];
            assert_eq!(jour.role, RecipientRole::Required, "{what}");
            assert_eq!(jour.sections.len(), 4, "{what}");
            assert_eq!(jour.policy.as_deref(), Some("duty"), "{what}");
            assert_eq!(jour.via_rule, "departure-imminent", "{what}");

            // not_returned_after_break: socialjouren instead.
            let d = t.route(
                &header(Category::NotReturnedAfterBreak, Status::Actual),
                utc(at),
                &hours,
            );
            assert_eq!(
                d.recipients[0].participant.as_str(),
                "norrkoping-socialjouren",
                "{what}"
            );
            assert!(
                !d.recipients
                    .iter()
                    .any(|r| r.participant.as_str() == "norrkoping-socialtjansten"),
                "{what}"
            );
        }
        // In office hours the same alert does not go to socialjouren.
        let d = t.route(
            &header(Category::NotReturnedAfterBreak, Status::Actual),
            utc(TUESDAY_10),
            &hours,
        );
        assert_eq!(
            who(&d),
            [
                ("norrkoping-socialtjansten", RecipientRole::Required),
                ("forsakringskassan", RecipientRole::Informed),
                ("skatteverket", RecipientRole::Informed),
            ]
        );
        // Unknown office hours count as open.
        let d = t.route(
            &header(Category::NotReturnedAfterBreak, Status::Actual),
            utc("2026-03-13T16:30:00Z"),
            &|_| None,
        );
        assert_eq!(
            d.recipients[0].participant.as_str(),
            "norrkoping-socialtjansten"
        );
    }

    #[test]
    fn unmatched_alerts_go_to_the_default_recipient_without_sections() {
        let t = example();
        let mut h = header(Category::DepartureImminent, Status::Actual);
        h.municipality = "0180".parse().unwrap(); // Stockholm: not in this table
        let d = t.route(&h, utc(TUESDAY_10), &hours);
        assert!(d.defaulted);
        assert!(d.fired.is_empty());
        assert_eq!(
            d.recipients,
            [Recipient {
                participant: pid("varsel-ops"),
                role: RecipientRole::Required,
                sections: Vec::new(),
                policy: Some("ops".into()),
                via_rule: DEFAULT_VIA.into(),
            }]
        );
        // Test alerts have no rule either.
        let d = t.route(
            &header(Category::SuspectedAbroad, Status::Test),
            utc(TUESDAY_10),
            &hours,
        );
        assert!(d.defaulted);
    }

    const ORDERED: &str = r#"
        default_recipient = "varsel-ops"
        default_policy = "p"

        [[rule]]
        name = "first"
        continue = true
        match = { category = ["departure_imminent"] }
        recipient = [
          { participant = "agency-a", role = "informed", sections = ["core"] },
        ]

        [[rule]]
        name = "second"
        match = { urgency = ["immediate"] }
        recipient = [
          { participant = "agency-a", role = "required", sections = ["travel"] },
          { participant = "agency-b", role = "required", sections = ["core"] },
        ]

        [[rule]]
        name = "third"
        recipient = [{ participant = "agency-c", role = "required", sections = ["core"] }]

        [policy.p]
        receipt_deadline = "5m"
        ack_deadline = "30m"
        step = [{ after = "30m", action = "page_ops" }]
    "#;

    #[test]
    fn rules_fire_in_order_continue_and_merge() {
        let t = Table::from_toml_str(ORDERED, "ordered.toml").unwrap();
        let at = utc(TUESDAY_10);

        // first continues into second, which stops before the catch-all third.
        let d = t.route(
            &header(Category::DepartureImminent, Status::Actual),
            at,
            &hours,
        );
        let fired: Vec<&str> = d.fired.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(fired, ["first", "second"]);
        assert_eq!(
            who(&d),
            [
                ("agency-a", RecipientRole::Required),
                ("agency-b", RecipientRole::Required)
            ]
        );
        // The stronger role wins with its rule; sections are the union.
        assert_eq!(
            d.recipients[0].sections,
            [SectionLabel::Core, SectionLabel::Travel]
        );
        assert_eq!(d.recipients[0].via_rule, "second");
        assert_eq!(d.recipients[0].policy.as_deref(), Some("p"));

        // first does not match; second stops; third is never reached.
        let d = t.route(
            &header(Category::SuspectedAbroad, Status::Actual),
            at,
            &hours,
        );
        let fired: Vec<&str> = d.fired.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(fired, ["second"]);

        // Neither first nor second: the catch-all third.
        let mut h = header(Category::SuspectedAbroad, Status::Actual);
        h.urgency = Urgency::Future;
        let d = t.route(&h, at, &hours);
        assert_eq!(who(&d), [("agency-c", RecipientRole::Required)]);
        assert_eq!(d.fired[0].why, "matches every alert (no conditions)");
        assert!(!d.defaulted);
    }
}
