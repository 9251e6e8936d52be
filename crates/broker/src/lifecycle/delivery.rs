//! The per-recipient delivery lifecycle: the states a delivery of one alert (or update, or
//! cancel) to one recipient goes through, and which event moves it where.
//!
//! ```text
//! pending ─► sent ─► received ─► acknowledged
//!    │         │        │
//!    │         │        └──────► declined        (outcome not_our_jurisdiction)
//!    └─────────┴──► unroutable / escalated / cancelled / expired
//! ```
//! Transitions are conditional updates in the store (`… WHERE state IN (from)`), so they are
//! idempotent and race-safe: a late receipt after an ack changes nothing, and of two brokers
//! applying the same transition exactly one succeeds.

use varsel_protocol::message::{DeliveryState, Outcome, RecipientRole};

use DeliveryState::*;

/// The state a new delivery starts in: `pending`, or `unroutable` when its sections cannot be
/// passed on to the recipient (no usable sealing key).
pub fn initial(reachable: bool) -> DeliveryState {
    if reachable {
        Pending
    } else {
        Unroutable
    }
}

/// The transition a machine receipt causes: `(from, to)`.
pub fn on_receipt() -> (&'static [DeliveryState], DeliveryState) {
    (&[Pending, Sent, Escalated, Unroutable], Received)
}

/// The transition an officer's ack causes: `(from, to)`. Declining (`not_our_jurisdiction`) ends in
/// `declined`, which the escalation policy re-routes.
pub fn on_ack(outcome: Outcome) -> (&'static [DeliveryState], DeliveryState) {
    let to = match outcome {
        Outcome::NotOurJurisdiction => Declined,
        _ => Acknowledged,
    };
    (&[Pending, Sent, Received, Escalated, Unroutable], to)
}

/// The transition a confirmed publish causes.
pub fn on_published() -> (&'static [DeliveryState], DeliveryState) {
    (&[Pending], Sent)
}

/// The transition an unroutable publish causes.
pub fn on_unroutable() -> (&'static [DeliveryState], DeliveryState) {
    (&[Pending, Sent], Unroutable)
}

/// The transition paging ops causes for the delivery that is overdue.
pub fn on_escalated() -> (&'static [DeliveryState], DeliveryState) {
    (&[Pending, Sent, Received, Unroutable], Escalated)
}

/// The transition a cancel causes for deliveries of the cancelled alert that are still open.
pub fn on_cancel() -> (&'static [DeliveryState], DeliveryState) {
    (&[Pending, Sent, Received, Escalated, Unroutable], Cancelled)
}

/// Whether a delivery in this state still needs something from its recipient.
pub fn is_open(state: DeliveryState) -> bool {
    matches!(state, Pending | Sent | Received | Escalated | Unroutable)
}

/// Whether the broker still waits for this delivery's recipient: a receipt, or for a required
/// delivery its acknowledgement. An informed delivery that was received has nothing left to wait
/// for.
pub fn waits_on_recipient(role: RecipientRole, state: DeliveryState) -> bool {
    is_open(state) && (role == RecipientRole::Required || state != Received)
}

/// The transition closing a case causes for one of its deliveries, if any: what the broker still
/// waits for ends as on a cancel; an informed delivery already received stays received.
pub fn on_close(
    role: RecipientRole,
    state: DeliveryState,
) -> Option<(&'static [DeliveryState], DeliveryState)> {
    waits_on_recipient(role, state).then(on_cancel)
}

/// Whether this delivery, in this state, keeps its alert open.
pub fn holds_alert_open(role: RecipientRole, state: DeliveryState) -> bool {
    role == RecipientRole::Required && is_open(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_ends_what_is_waited_for_and_keeps_a_received_notice() {
        use RecipientRole::*;
        assert_eq!(on_close(Required, Received), Some(on_cancel()));
        assert_eq!(on_close(Informed, Sent), Some(on_cancel()));
        assert_eq!(on_close(Informed, Received), None);
        assert_eq!(on_close(Required, Acknowledged), None);
    }

    #[test]
    fn a_late_receipt_cannot_undo_an_ack() {
        let (from, _) = on_receipt();
        assert!(!from.contains(&Acknowledged));
        assert!(!from.contains(&Declined));
        assert!(!from.contains(&Cancelled));
    }

    #[test]
    fn declining_is_not_acknowledging() {
        assert_eq!(on_ack(Outcome::NotOurJurisdiction).1, Declined);
        assert_eq!(on_ack(Outcome::CaseOpened).1, Acknowledged);
        assert!(!on_ack(Outcome::CaseOpened).0.contains(&Acknowledged));
    }

    #[test]
    fn an_unreachable_recipient_starts_unroutable_and_can_still_answer() {
        assert_eq!(initial(true), Pending);
        assert_eq!(initial(false), Unroutable);
        assert!(on_receipt().0.contains(&Unroutable));
        assert!(is_open(initial(false)));
    }

    #[test]
    fn only_required_open_deliveries_hold_the_alert() {
        assert!(holds_alert_open(RecipientRole::Required, Received));
        assert!(!holds_alert_open(RecipientRole::Informed, Received));
        assert!(!holds_alert_open(RecipientRole::Required, Acknowledged));
        assert!(!holds_alert_open(RecipientRole::Required, Declined));
    }
}
