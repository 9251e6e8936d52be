//! The routing table: ordered rules from header to recipients, sections and escalation policy.
//!
//! The table is a TOML file (see `deploy/routing.example.toml` and
//! `schemas/routing.schema.json`). Rules are tried in order; every rule whose `match` fits the
//! alert's cleartext header adds its recipients, and evaluation stops at the first such rule
//! unless it says `continue = true`. An alert no rule takes is never dropped: it goes to the
//! table's `default_recipient` (ops) with no sections, so a human sees it without reading it.
//!
//! Loading is two-step: the file is read into `Raw…` structs, then validated as a whole so an
//! operator sees every problem at once, each under its key path.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::escalation::{self, Policy, Problems, RawPolicy};
use varsel_protocol::calendar::{self, OfficeHours};
use varsel_protocol::message::{
    Category, Header, Kommunkod, ParticipantId, RecipientRole, SectionLabel, Status, Urgency,
};

/// The `via_rule` of the default recipient. Rule names cannot contain parentheses, so it never
/// collides with one.
pub const DEFAULT_VIA: &str = "(default)";

/// Why a routing table was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read routing table {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: not a valid routing table: {message}")]
    Syntax { origin: String, message: String },
    #[error("{origin}: {count} problem(s) in the routing table:{list}", count = .problems.len(), list = bullets(.problems))]
    Invalid {
        origin: String,
        problems: Vec<Problem>,
    },
}

impl Error {
    /// The problems found, for a table that parsed but did not validate.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Error::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

fn bullets(problems: &[Problem]) -> String {
    problems.iter().fold(String::new(), |mut out, p| {
        let _ = write!(out, "\n  - {p}");
        out
    })
}

/// One problem in a routing table: where (a key path such as
/// `rule.departure-imminent.recipient[0].sections`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

fn problems_from(raw: Problems) -> Vec<Problem> {
    raw.into_iter()
        .map(|(key, message)| Problem { key, message })
        .collect()
}

/// A validated routing table.
#[derive(Debug, Clone)]
pub struct Table {
    name: String,
    origin: String,
    version: String,
    default_recipient: ParticipantId,
    default_policy: Option<String>,
    rules: Vec<Rule>,
    policies: BTreeMap<String, Policy>,
    /// Every participant named, with the key it is named under, for [`Table::check_against`].
    named: Vec<(String, ParticipantId)>,
    warnings: Vec<Problem>,
}

#[derive(Debug, Clone)]
struct Rule {
    name: String,
    matcher: Match,
    recipients: Vec<RuleRecipient>,
    continues: bool,
}

/// Accepted values per header field; `None` accepts any value.
#[derive(Debug, Clone, Default)]
struct Match {
    municipality: Option<Vec<Kommunkod>>,
    category: Option<Vec<Category>>,
    urgency: Option<Vec<Urgency>>,
    status: Option<Vec<Status>>,
}

#[derive(Debug, Clone)]
struct RuleRecipient {
    participant: ParticipantId,
    role: RecipientRole,
    sections: Vec<SectionLabel>,
    when_closed: Option<WhenClosed>,
    policy: Option<String>,
}

#[derive(Debug, Clone)]
struct WhenClosed {
    participant: ParticipantId,
    mode: ClosedMode,
    /// Overrides the original recipient's role for the alternative.
    role: Option<RecipientRole>,
    /// Overrides the original recipient's policy for the alternative, e.g. a round-the-clock
    /// service needs no ladder that adds itself.
    policy: Option<String>,
}

/// What `when_closed` does with the original recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClosedMode {
    /// Route to the alternative as well as the original.
    Also,
    /// Route to the alternative only.
    Instead,
}

/// The outcome of routing one alert: who gets it, which rules fired, and the table version used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// One entry per participant, in order of first appearance.
    pub recipients: Vec<Recipient>,
    pub fired: Vec<Fired>,
    /// No rule took the alert; it went to the default recipient (ops should count this).
    pub defaulted: bool,
    /// The table's [`Table::version`].
    pub version: String,
}

/// One recipient of an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    pub participant: ParticipantId,
    pub role: RecipientRole,
    /// The sections whose keys are re-wrapped for this recipient, in declaration order. Empty for
    /// the default recipient.
    pub sections: Vec<SectionLabel>,
    /// The escalation policy's name in the table, if any.
    pub policy: Option<String>,
    /// The rule that decided the role and policy, or [`DEFAULT_VIA`].
    pub via_rule: String,
}

/// A rule that fired, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fired {
    pub rule: String,
    /// The header fields that matched, e.g. `municipality 0581, category departure_imminent`.
    pub why: String,
}

fn role_strength(role: RecipientRole) -> u8 {
    match role {
        RecipientRole::Required => 2,
        RecipientRole::Informed => 1,
    }
}

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
        let raw: RawTable = toml::from_str(text).map_err(|e| Error::Syntax {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        raw.validate(origin, sha256_hex(text.as_bytes()))
    }

    /// The table's `name`, or its origin if it has none.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the table was loaded from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Hex SHA-256 of the table's bytes, recorded on every alert routed with it.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Where alerts no rule takes are sent.
    pub fn default_recipient(&self) -> &ParticipantId {
        &self.default_recipient
    }

    /// The escalation policy called `name`.
    pub fn policy(&self, name: &str) -> Option<&Policy> {
        self.policies.get(name)
    }

    /// Every policy by name.
    pub fn policies(&self) -> &BTreeMap<String, Policy> {
        &self.policies
    }

    /// Every participant the table names (recipients, `when_closed` alternatives, participants
    /// added by escalation steps, the default recipient).
    pub fn participants(&self) -> BTreeSet<ParticipantId> {
        self.named.iter().map(|(_, p)| p.clone()).collect()
    }

    /// Things that are allowed but probably not meant: unused policies, policies that never page
    /// ops, rules that can never fire.
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    /// Check every participant the table names against the registry: `known` says whether a
    /// participant id is registered. Reports all unknown ones at once.
    pub fn check_against(&self, known: &dyn Fn(&ParticipantId) -> bool) -> Result<(), Error> {
        let problems: Vec<Problem> = self
            .named
            .iter()
            .filter(|(_, p)| !known(p))
            .map(|(key, p)| Problem {
                key: key.clone(),
                message: format!("{p} is not in the registry"),
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid {
                origin: self.origin.clone(),
                problems,
            })
        }
    }

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
                    escalation::format_duration(policy.period())
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
                        escalation::format_duration(step.after),
                        escalation::format_duration(b)
                    ),
                    None => format!("after {}", escalation::format_duration(step.after)),
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

    fn evaluate(
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

/// Add a recipient, or merge it into an earlier entry for the same participant: the stronger role
/// wins and brings its policy and rule; sections are the union.
fn merge(recipients: &mut Vec<Recipient>, new: Recipient) {
    let Some(old) = recipients
        .iter_mut()
        .find(|r| r.participant == new.participant)
    else {
        recipients.push(new);
        return;
    };
    old.sections.extend(new.sections.iter().copied());
    old.sections.sort();
    old.sections.dedup();
    if role_strength(new.role) > role_strength(old.role) {
        old.role = new.role;
        old.policy = new.policy.or(old.policy.take());
        old.via_rule = new.via_rule;
    } else if old.policy.is_none() && new.role == old.role {
        old.policy = new.policy;
    }
}

fn list<T: fmt::Display>(values: &[T]) -> String {
    let v: Vec<String> = values.iter().map(T::to_string).collect();
    format!("[{}]", v.join(", "))
}

impl Match {
    /// `Ok(the fields that matched)` or `Err(every field that did not)`.
    fn check(&self, h: &Header) -> Result<String, String> {
        let mut matched = Vec::new();
        let mut failed = Vec::new();
        fn field<T: PartialEq + fmt::Display>(
            name: &str,
            accepted: &Option<Vec<T>>,
            value: &T,
            matched: &mut Vec<String>,
            failed: &mut Vec<String>,
        ) {
            if let Some(accepted) = accepted {
                if accepted.contains(value) {
                    matched.push(format!("{name} {value}"));
                } else {
                    failed.push(format!("{name} {value} is not in {}", list(accepted)));
                }
            }
        }
        field(
            "municipality",
            &self.municipality,
            &h.municipality,
            &mut matched,
            &mut failed,
        );
        field(
            "category",
            &self.category,
            &h.category,
            &mut matched,
            &mut failed,
        );
        field(
            "urgency",
            &self.urgency,
            &h.urgency,
            &mut matched,
            &mut failed,
        );
        field("status", &self.status, &h.status, &mut matched, &mut failed);
        if !failed.is_empty() {
            Err(failed.join("; "))
        } else if matched.is_empty() {
            Ok("matches every alert (no conditions)".to_owned())
        } else {
            Ok(matched.join(", "))
        }
    }

    fn is_catch_all(&self) -> bool {
        self.municipality.is_none()
            && self.category.is_none()
            && self.urgency.is_none()
            && self.status.is_none()
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest
        .as_ref()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
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
        problems.push((
            key.clone(),
            "an empty list matches nothing; remove the key to match any value".into(),
        ));
    }
    let mut out = Vec::new();
    for v in values {
        match v.parse::<T>() {
            Ok(c) => out.push(c),
            Err(e) => problems.push((key.clone(), e.why)),
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
        problems.push((key, format!("{what} is missing")));
        return None;
    };
    match value.parse::<ParticipantId>() {
        Ok(p) => {
            named.push((key, p.clone()));
            Some(p)
        }
        Err(e) => {
            problems.push((key, e.why));
            None
        }
    }
}

fn role(value: Option<&str>, key: String, problems: &mut Problems) -> Option<RecipientRole> {
    match value {
        None => {
            problems.push((key, "role is missing (required or informed)".into()));
            None
        }
        Some(v) => v
            .parse::<RecipientRole>()
            .map_err(|e| problems.push((key, e.why)))
            .ok(),
    }
}

impl RawTable {
    fn validate(self, origin: &str, version: String) -> Result<Table, Error> {
        let mut problems = Problems::new();
        let mut warnings = Problems::new();
        let mut named = Vec::new();

        let mut policies = BTreeMap::new();
        for (name, raw) in &self.policy {
            let key = format!("policy.{name}");
            if !valid_rule_name(name) {
                problems.push((
                    key.clone(),
                    "policy names are 1-64 characters of a-z, 0-9, '-' and '_'".into(),
                ));
            }
            if let Some(p) = raw.validate(&key, &mut problems) {
                if !p.pages_ops() {
                    warnings.push((
                        key.clone(),
                        "never pages ops: an alert nobody acknowledges is not seen by a human"
                            .into(),
                    ));
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
                problems.push((
                    key,
                    format!("no policy named {name:?} (defined: {})", list(&known)),
                ));
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
            warnings.push((
                "rule".into(),
                "no rules: every alert goes to the default recipient".into(),
            ));
        }
        for (i, raw) in self.rule.iter().enumerate() {
            let key = match &raw.name {
                Some(n) if valid_rule_name(n) => format!("rule.{n}"),
                _ => format!("rule[{i}]"),
            };
            let name = match &raw.name {
                None => {
                    problems.push((format!("{key}.name"), "every rule needs a name".into()));
                    String::new()
                }
                Some(n) if !valid_rule_name(n) => {
                    problems.push((
                        format!("{key}.name"),
                        format!("{n:?} must be 1-64 characters of a-z, 0-9, '-' and '_'"),
                    ));
                    n.clone()
                }
                Some(n) => {
                    if !names.insert(n.clone()) {
                        problems.push((
                            format!("{key}.name"),
                            format!("another rule is already called {n:?}"),
                        ));
                    }
                    n.clone()
                }
            };
            if let Some(by) = &catch_all {
                warnings.push((key.clone(), format!("can never fire: rule {by:?} before it matches every alert and does not continue")));
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
                problems.push((
                    format!("{key}.recipient"),
                    "a rule needs at least one recipient".into(),
                ));
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
                        problems.push((
                            format!("{rkey}.participant"),
                            format!("{p} is listed twice in this rule"),
                        ));
                    }
                }
                let r = role(rr.role.as_deref(), format!("{rkey}.role"), &mut problems);
                let sections = match &rr.sections {
                    Some(s) => {
                        escalation::parse_sections(s, &format!("{rkey}.sections"), &mut problems)
                    }
                    None => {
                        problems.push((
                            format!("{rkey}.sections"),
                            "sections are missing: list what this recipient may read".into(),
                        ));
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
                    problems.push((format!("{rkey}.escalation"), "a required recipient needs an escalation policy (set escalation on the recipient or the rule, or default_policy)".into()));
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
                        problems.push((
                            format!("{wkey}.participant"),
                            "is the recipient itself; name the after-hours alternative".into(),
                        ));
                    }
                    let mode = match wc.mode.as_deref() {
                        Some("also") => Some(ClosedMode::Also),
                        Some("instead") => Some(ClosedMode::Instead),
                        Some(other) => {
                            problems.push((
                                format!("{wkey}.mode"),
                                format!("{other:?} is not one of also, instead"),
                            ));
                            None
                        }
                        None => {
                            problems.push((
                                format!("{wkey}.mode"),
                                "mode is missing (also or instead)".into(),
                            ));
                            None
                        }
                    };
                    let role = wc.role.as_deref().and_then(|v| {
                        v.parse::<RecipientRole>()
                            .map_err(|e| problems.push((format!("{wkey}.role"), e.why)))
                            .ok()
                    });
                    let own =
                        policy_ref(&wc.escalation, format!("{wkey}.escalation"), &mut problems);
                    let effective_policy = own.clone().or_else(|| policy.clone());
                    if role.or(r) == Some(RecipientRole::Required) && effective_policy.is_none() {
                        problems.push((
                            format!("{wkey}.escalation"),
                            "a required recipient needs an escalation policy".into(),
                        ));
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
        for name in self.policy.keys() {
            if !used.contains(name) {
                warnings.push((format!("policy.{name}"), "is not used by any rule".into()));
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
                named,
                warnings: problems_from(warnings),
            }),
            _ => Err(Error::Invalid {
                origin: origin.to_owned(),
                problems: problems_from(problems),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/routing.example.toml"
    );

    fn example() -> Table {
        match Table::load(Path::new(EXAMPLE)) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn header(category: Category, status: Status) -> Header {
        Header {
            municipality: "0581".parse().unwrap(),
            category,
            urgency: Urgency::Immediate,
            status,
            planned_departure: None,
            correlation: Vec::new(),
        }
    }

    fn pid(s: &str) -> ParticipantId {
        s.parse().unwrap()
    }

    /// Socialtjänsten keeps office hours; socialjouren and the police are always open.
    fn hours(p: &ParticipantId) -> Option<OfficeHours> {
        match p.as_str() {
            "norrkoping-socialtjansten" => Some("mon-fri 08:00-17:00".parse().unwrap()),
            "norrkoping-socialjouren" | "polisen-region-ost" | "varsel-ops" => {
                Some(OfficeHours::always())
            }
            _ => None,
        }
    }

    fn who(d: &Decision) -> Vec<(&str, RecipientRole)> {
        d.recipients
            .iter()
            .map(|r| (r.participant.as_str(), r.role))
            .collect()
    }

    /// Tuesday 2026-03-10 10:00 in Stockholm.
    const TUESDAY_10: &str = "2026-03-10T09:00:00Z";

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
