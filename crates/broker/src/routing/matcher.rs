//! A rule's `match`: the accepted values per header field, and whether a header fits, with the
//! words why or why not for `explain`.

use std::fmt;

use varsel_protocol::message::{Category, Header, Kommunkod, Status, Urgency};

/// Accepted values per header field; `None` accepts any value.
#[derive(Debug, Clone, Default)]
pub(super) struct Match {
    pub(super) municipality: Option<Vec<Kommunkod>>,
    pub(super) category: Option<Vec<Category>>,
    pub(super) urgency: Option<Vec<Urgency>>,
    pub(super) status: Option<Vec<Status>>,
}

/// Values as a bracketed list, `[0581, 0580]`, as in messages to operators.
pub(super) fn list<T: fmt::Display>(values: &[T]) -> String {
    let v: Vec<String> = values.iter().map(T::to_string).collect();
    format!("[{}]", v.join(", "))
}

impl Match {
    /// `Ok(the fields that matched)` or `Err(every field that did not)`.
    pub(super) fn check(&self, h: &Header) -> Result<String, String> {
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

    pub(super) fn is_catch_all(&self) -> bool {
        self.municipality.is_none()
            && self.category.is_none()
            && self.urgency.is_none()
            && self.status.is_none()
    }
}
