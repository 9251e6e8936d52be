//! Loading a routing table in two steps: the file is deserialized into `Raw…` structs, then
//! validated as a whole into a [`Table`], every problem collected under its key path and the
//! table's warnings kept beside it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use varsel_protocol::message::{ParticipantId, RecipientRole};
use varsel_protocol::problems::{self, Problems};

use super::matcher::{list, Match};
use super::notes::{self, RawNoteLine};
use super::table::{ClosedMode, Rule, RuleRecipient, Table, WhenClosed};
use super::Error;
use crate::escalation::{self, RawPolicy};

impl Table {
    /// Read and validate a routing table file.
    pub fn load(path: &Path) -> Result<Table, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        Table::from_toml_str(&text, &path.display().to_string())
    }

    /// Parse and validate a routing table; `origin` names it in errors (usually the file path).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Table, Error> {
        let raw: RawTable = problems::parse_toml(text, origin).map_err(Error::Syntax)?;
        raw.validate(origin, sha256_hex(text.as_bytes()))
    }
}

/// The table's version: the SHA-256 of its text, in lowercase hex.
fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(varsel_protocol::envelope::sha256(bytes))
}

/// The table as written. Most values are text so validation can report every bad one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    name: Option<String>,
    default_recipient: Option<String>,
    default_policy: Option<String>,
    #[serde(default)]
    rule: Vec<RawRule>,
    #[serde(default)]
    policy: BTreeMap<String, RawPolicy>,
    /// Who gets a recipient's alerts too while its line is down: participant → fallback.
    #[serde(default)]
    line_down: BTreeMap<String, String>,
    /// Who of a case's members gets which kind of note (see `notes`).
    #[serde(default)]
    note: Vec<RawNoteLine>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    #[serde(rename = "match", default)]
    matcher: RawMatch,
    #[serde(default)]
    recipient: Vec<RawRecipient>,
    escalation: Option<String>,
    #[serde(rename = "continue", default)]
    continues: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    municipality: Option<Vec<String>>,
    category: Option<Vec<String>>,
    urgency: Option<Vec<String>>,
    status: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecipient {
    participant: Option<String>,
    role: Option<String>,
    sections: Option<Vec<String>>,
    when_closed: Option<RawWhenClosed>,
    escalation: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWhenClosed {
    participant: Option<String>,
    mode: Option<String>,
    role: Option<String>,
    escalation: Option<String>,
}

fn valid_rule_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Parse every code in a match list; `None` when the key is absent.
fn codes<T: std::str::FromStr<Err = varsel_protocol::message::InvalidValue>>(
    values: &Option<Vec<String>>,
    key: String,
    problems: &mut Problems,
) -> Option<Vec<T>> {
    let values = values.as_ref()?;
    if values.is_empty() {
        problems.add(
            &key,
            "an empty list matches nothing; remove the key to match any value",
        );
    }
    let mut out = Vec::new();
    for v in values {
        match v.parse::<T>() {
            Ok(c) => out.push(c),
            Err(e) => problems.add(&key, e.why),
        }
    }
    Some(out)
}

fn participant(
    value: Option<&str>,
    key: String,
    what: &str,
    problems: &mut Problems,
    named: &mut Vec<(String, ParticipantId)>,
) -> Option<ParticipantId> {
    let Some(value) = value else {
        problems.add(&key, format!("{what} is missing"));
        return None;
    };
    match value.parse::<ParticipantId>() {
        Ok(p) => {
            named.push((key, p.clone()));
            Some(p)
        }
        Err(e) => {
            problems.add(&key, e.why);
            None
        }
    }
}

fn role(value: Option<&str>, key: String, problems: &mut Problems) -> Option<RecipientRole> {
    match value {
        None => {
            problems.add(&key, "role is missing (required or informed)");
            None
        }
        Some(v) => v
            .parse::<RecipientRole>()
            .map_err(|e| problems.add(&key, e.why))
            .ok(),
    }
}

impl RawTable {
    fn validate(self, origin: &str, version: String) -> Result<Table, Error> {
        let mut problems = Problems::default();
        let mut warnings = Problems::default();
        let mut named = Vec::new();

        let mut policies = BTreeMap::new();
        for (name, raw) in &self.policy {
            let key = format!("policy.{name}");
            if !valid_rule_name(name) {
                problems.add(
                    &key,
                    "policy names are 1-64 characters of a-z, 0-9, '-' and '_'",
                );
            }
            if let Some(p) = raw.validate(&key, &mut problems) {
                if !p.pages_ops() {
                    warnings.add(
                        &key,
                        "never pages ops: an alert nobody acknowledges is not seen by a human",
                    );
                }
                for (i, step) in p.steps.iter().enumerate() {
                    if let escalation::Action::AddRecipient { participant, .. } = &step.action {
                        named.push((format!("{key}.step[{i}].participant"), participant.clone()));
                    }
                }
                policies.insert(name.clone(), p);
            }
        }
        let mut used: BTreeSet<String> = BTreeSet::new();
        let mut policy_ref = |name: &Option<String>, key: String, problems: &mut Problems| {
            let name = name.as_ref()?;
            used.insert(name.clone());
            if !self.policy.contains_key(name) {
                let known: Vec<&str> = self.policy.keys().map(String::as_str).collect();
                problems.add(
                    &key,
                    format!("no policy named {name:?} (defined: {})", list(&known)),
                );
            }
            Some(name.clone())
        };

        let default_recipient = participant(
            self.default_recipient.as_deref(),
            "default_recipient".into(),
            "the participant that receives alerts no rule takes",
            &mut problems,
            &mut named,
        );
        let default_policy =
            policy_ref(&self.default_policy, "default_policy".into(), &mut problems);

        let mut rules = Vec::new();
        let mut names = BTreeSet::new();
        let mut catch_all: Option<String> = None;
        if self.rule.is_empty() {
            warnings.add(
                "rule",
                "no rules: every alert goes to the default recipient",
            );
        }
        for (i, raw) in self.rule.iter().enumerate() {
            let key = match &raw.name {
                Some(n) if valid_rule_name(n) => format!("rule.{n}"),
                _ => format!("rule[{i}]"),
            };
            let name = match &raw.name {
                None => {
                    problems.add(&format!("{key}.name"), "every rule needs a name");
                    String::new()
                }
                Some(n) if !valid_rule_name(n) => {
                    problems.add(
                        &format!("{key}.name"),
                        format!("{n:?} must be 1-64 characters of a-z, 0-9, '-' and '_'"),
                    );
                    n.clone()
                }
                Some(n) => {
                    if !names.insert(n.clone()) {
                        problems.add(
                            &format!("{key}.name"),
                            format!("another rule is already called {n:?}"),
                        );
                    }
                    n.clone()
                }
            };
            if let Some(by) = &catch_all {
                warnings.add(&key, format!("can never fire: rule {by:?} before it matches every alert and does not continue"));
            }
            let m = &raw.matcher;
            let matcher = Match {
                municipality: codes(
                    &m.municipality,
                    format!("{key}.match.municipality"),
                    &mut problems,
                ),
                category: codes(&m.category, format!("{key}.match.category"), &mut problems),
                urgency: codes(&m.urgency, format!("{key}.match.urgency"), &mut problems),
                status: codes(&m.status, format!("{key}.match.status"), &mut problems),
            };
            if matcher.is_catch_all() && !raw.continues && catch_all.is_none() {
                catch_all = Some(name.clone());
            }
            let rule_policy =
                policy_ref(&raw.escalation, format!("{key}.escalation"), &mut problems);
            if raw.recipient.is_empty() {
                problems.add(
                    &format!("{key}.recipient"),
                    "a rule needs at least one recipient",
                );
            }
            let mut recipients = Vec::new();
            let mut seen = BTreeSet::new();
            for (j, rr) in raw.recipient.iter().enumerate() {
                let rkey = format!("{key}.recipient[{j}]");
                let before = problems.len();
                let p = participant(
                    rr.participant.as_deref(),
                    format!("{rkey}.participant"),
                    "participant",
                    &mut problems,
                    &mut named,
                );
                if let Some(p) = &p {
                    if !seen.insert(p.clone()) {
                        problems.add(
                            &format!("{rkey}.participant"),
                            format!("{p} is listed twice in this rule"),
                        );
                    }
                }
                let r = role(rr.role.as_deref(), format!("{rkey}.role"), &mut problems);
                let sections = match &rr.sections {
                    Some(s) => {
                        escalation::parse_sections(s, &format!("{rkey}.sections"), &mut problems)
                    }
                    None => {
                        problems.add(
                            &format!("{rkey}.sections"),
                            "sections are missing: list what this recipient may read",
                        );
                        Vec::new()
                    }
                };
                let own_policy =
                    policy_ref(&rr.escalation, format!("{rkey}.escalation"), &mut problems);
                // Required recipients fall back to the rule's and then the table's policy;
                // informed ones need not acknowledge, so they escalate only if told to.
                let policy = match r {
                    Some(RecipientRole::Required) => own_policy
                        .or_else(|| rule_policy.clone())
                        .or_else(|| default_policy.clone()),
                    _ => own_policy,
                };
                if r == Some(RecipientRole::Required) && policy.is_none() {
                    problems.add(&format!("{rkey}.escalation"), "a required recipient needs an escalation policy (set escalation on the recipient or the rule, or default_policy)");
                }
                let when_closed = rr.when_closed.as_ref().and_then(|wc| {
                    let wkey = format!("{rkey}.when_closed");
                    let alt = participant(
                        wc.participant.as_deref(),
                        format!("{wkey}.participant"),
                        "participant",
                        &mut problems,
                        &mut named,
                    );
                    if alt.is_some() && alt == p {
                        problems.add(
                            &format!("{wkey}.participant"),
                            "is the recipient itself; name the after-hours alternative",
                        );
                    }
                    let mode = match wc.mode.as_deref() {
                        Some("also") => Some(ClosedMode::Also),
                        Some("instead") => Some(ClosedMode::Instead),
                        Some(other) => {
                            problems.add(
                                &format!("{wkey}.mode"),
                                format!("{other:?} is not one of also, instead"),
                            );
                            None
                        }
                        None => {
                            problems
                                .add(&format!("{wkey}.mode"), "mode is missing (also or instead)");
                            None
                        }
                    };
                    let role = wc.role.as_deref().and_then(|v| {
                        v.parse::<RecipientRole>()
                            .map_err(|e| problems.add(&format!("{wkey}.role"), e.why))
                            .ok()
                    });
                    let own =
                        policy_ref(&wc.escalation, format!("{wkey}.escalation"), &mut problems);
                    let effective_policy = own.clone().or_else(|| policy.clone());
                    if role.or(r) == Some(RecipientRole::Required) && effective_policy.is_none() {
                        problems.add(
                            &format!("{wkey}.escalation"),
                            "a required recipient needs an escalation policy",
                        );
                    }
                    Some(WhenClosed {
                        participant: alt?,
                        mode: mode?,
                        role,
                        policy: own,
                    })
                });
                if problems.len() == before {
                    if let (Some(participant), Some(role)) = (p, r) {
                        recipients.push(RuleRecipient {
                            participant,
                            role,
                            sections,
                            when_closed,
                            policy,
                        });
                    }
                }
            }
            rules.push(Rule {
                name,
                matcher,
                recipients,
                continues: raw.continues,
            });
        }
        let notes = notes::validate(
            &self.note,
            default_policy.as_ref(),
            &mut policy_ref,
            &mut problems,
            &mut warnings,
        );
        let mut line_down = BTreeMap::new();
        for (line, fallback) in &self.line_down {
            let key = format!("line_down.{line}");
            let line = participant(
                Some(line),
                key.clone(),
                "participant",
                &mut problems,
                &mut named,
            );
            let fallback = participant(
                Some(fallback),
                key.clone(),
                "fallback",
                &mut problems,
                &mut named,
            );
            if let (Some(line), Some(fallback)) = (line, fallback) {
                if line == fallback {
                    problems.add(&key, "is the participant itself; name who takes its alerts while its line is down");
                } else {
                    line_down.insert(line, fallback);
                }
            }
        }
        for name in self.policy.keys() {
            if !used.contains(name) {
                warnings.add(&format!("policy.{name}"), "is not used by any rule");
            }
        }
        match default_recipient {
            Some(default_recipient) if problems.is_empty() => Ok(Table {
                name: self.name.unwrap_or_else(|| origin.to_owned()),
                origin: origin.to_owned(),
                version,
                default_recipient,
                default_policy,
                rules,
                policies,
                line_down,
                notes,
                named,
                warnings: warnings.into_vec(),
            }),
            _ => Err(Error::Invalid(problems::Error {
                origin: origin.to_owned(),
                problems: problems.into_vec(),
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use varsel_protocol::message::{Category, Status};

    use super::super::tests::{example, header, hours, pid, utc, EXAMPLE};
    use super::*;

    #[test]
    fn example_table_loads_and_validates() {
        let t = example();
        assert_eq!(t.name(), "Norrköping skolvarsel");
        assert_eq!(t.version().len(), 64);
        let bytes = std::fs::read(EXAMPLE).unwrap();
        assert_eq!(t.version(), sha256_hex(&bytes));
        assert!(t.warnings().is_empty(), "{:?}", t.warnings());
        let departure = t.policy("departure").unwrap();
        assert_eq!(departure.steps.len(), 4);
        assert_eq!(departure.repeat, 1);
        assert!(t.policy("nonexistent").is_none());
        let named: Vec<String> = t.participants().iter().map(|p| p.to_string()).collect();
        assert_eq!(
            named,
            [
                "forsakringskassan",
                "norrkoping-socialjouren",
                "norrkoping-socialtjansten",
                "polisen-region-ost",
                "skatteverket",
                "varsel-ops"
            ]
        );
    }

    #[test]
    fn validation_reports_every_problem_at_once() {
        let text = r#"
            default_recipient = "Varsel Ops"

            [[rule]]
            name = "a"
            escalation = "missing-policy"
            match = { municipality = ["581"], category = [], status = ["actual"] }
            recipient = [
              { participant = "agency-a", role = "requird", sections = ["core", "diary"] },
              { participant = "agency-b", role = "required", sections = ["core"], when_closed = { participant = "agency-b", mode = "sometimes" } },
            ]

            [[rule]]
            name = "a"

            [policy.p]
            receipt_deadline = "10 minutes"
            ack_deadline = "1h"
            step = [{ after = "1h", action = "page_ops" }]
        "#;
        let err = Table::from_toml_str(text, "bad.toml").unwrap_err();
        let shown = err.to_string();
        assert!(shown.starts_with("bad.toml: "), "{shown}");
        let keys: Vec<&str> = err.problems().iter().map(|p| p.key.as_str()).collect();
        for expect in [
            "default_recipient",
            "rule.a.escalation",
            "rule.a.match.municipality",
            "rule.a.match.category",
            "rule.a.recipient[0].role",
            "rule.a.recipient[0].sections",
            "rule.a.recipient[1].when_closed.participant",
            "rule.a.recipient[1].when_closed.mode",
            "rule.a.name",
            "rule.a.recipient",
            "policy.p.receipt_deadline",
        ] {
            assert!(keys.contains(&expect), "no problem at {expect}: {shown}");
        }
        assert!(
            shown.contains("no policy named \"missing-policy\" (defined: [p])"),
            "{shown}"
        );
        assert!(
            shown.contains("another rule is already called \"a\""),
            "{shown}"
        );
        assert!(
            shown.contains("\"10 minutes\" is not a duration"),
            "{shown}"
        );
    }

    #[test]
    fn required_recipients_need_a_policy_and_syntax_errors_say_where() {
        let text = r#"
            default_recipient = "varsel-ops"
            [[rule]]
            name = "r"
            recipient = [{ participant = "agency-a", role = "required", sections = ["core"] }]
        "#;
        let err = Table::from_toml_str(text, "t.toml").unwrap_err();
        assert_eq!(err.problems().len(), 1, "{err}");
        assert_eq!(err.problems()[0].key, "rule.r.recipient[0].escalation");

        // A rule key written after its recipient table lands in the recipient.
        let text = r#"
            default_recipient = "varsel-ops"
            [[rule]]
            name = "r"
            [[rule.recipient]]
            participant = "agency-a"
            role = "informed"
            sections = ["core"]
            continue = true
        "#;
        let err = Table::from_toml_str(text, "t.toml").unwrap_err();
        assert!(matches!(err, Error::Syntax { .. }));
        assert!(err.to_string().contains("continue"), "{err}");
    }

    #[test]
    fn warnings_and_registry_check() {
        let text = r#"
            default_recipient = "varsel-ops"
            [[rule]]
            name = "all"
            escalation = "quiet"
            recipient = [{ participant = "agency-a", role = "required", sections = ["core"] }]
            [[rule]]
            name = "never"
            recipient = [{ participant = "agency-b", role = "informed", sections = ["core"] }]
            [policy.quiet]
            receipt_deadline = "5m"
            ack_deadline = "1h"
            step = [{ after = "10m", action = "add_recipient", participant = "agency-x", sections = ["core"] }]
            [policy.unused]
            receipt_deadline = "5m"
            ack_deadline = "1h"
            step = [{ after = "10m", action = "page_ops" }]
        "#;
        let t = Table::from_toml_str(text, "w.toml").unwrap();
        let warnings: Vec<String> = t.warnings().iter().map(|w| w.to_string()).collect();
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("policy.quiet: never pages ops")),
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("policy.unused: is not used")),
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("rule.never: can never fire")),
            "{warnings:?}"
        );

        let registry: BTreeSet<ParticipantId> = [pid("varsel-ops"), pid("agency-a")].into();
        let err = t.check_against(&|p| registry.contains(p)).unwrap_err();
        let shown: Vec<String> = err.problems().iter().map(|p| p.to_string()).collect();
        assert_eq!(
            shown,
            [
                "policy.quiet.step[0].participant: agency-x is not in the registry",
                "rule.never.recipient[0].participant: agency-b is not in the registry",
            ]
        );
        assert!(t.check_against(&|_| true).is_ok());
        let all = example();
        assert!(all
            .check_against(&|p| all.participants().contains(p))
            .is_ok());
    }

    fn examples(kind: &str) -> Vec<(String, serde_json::Value)> {
        let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .join("schemas/examples/routing")
            .join(kind);
        let mut out: Vec<(String, serde_json::Value)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap();
                (
                    p.display().to_string(),
                    serde_json::from_str(&text).unwrap(),
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        assert!(!out.is_empty(), "no examples in {}", dir.display());
        out
    }

    fn load_json(origin: &str, v: &serde_json::Value) -> Result<Table, String> {
        let raw: RawTable = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        raw.validate(origin, sha256_hex(v.to_string().as_bytes()))
            .map_err(|e| e.to_string())
    }

    /// The schema and the loader agree on every example: valid ones pass both, invalid ones
    /// fail both.
    #[test]
    fn schema_examples_agree_with_the_loader() {
        let schema_path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../schemas/routing.schema.json"
        );
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        for (origin, v) in examples("valid") {
            let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{origin}: {errors:?}");
            if let Err(e) = load_json(&origin, &v) {
                panic!("{e}");
            }
        }
        for (origin, v) in examples("invalid") {
            assert!(!validator.is_valid(&v), "{origin} passes the schema");
            assert!(
                load_json(&origin, &v).is_err(),
                "{origin} passes the loader"
            );
        }
        // The JSON form of the deployed example is the same table as the TOML.
        let json = examples("valid")
            .into_iter()
            .find(|(o, _)| o.ends_with("norrkoping.json"))
            .unwrap()
            .1;
        let from_json = load_json("norrkoping.json", &json).unwrap();
        let from_toml = example();
        let h = header(Category::DepartureImminent, Status::Actual);
        let at = utc("2026-03-13T16:30:00Z");
        assert_eq!(
            from_json.route(&h, at, &hours).recipients,
            from_toml.route(&h, at, &hours).recipients
        );
        assert_eq!(from_json.policies(), from_toml.policies());
    }
}
