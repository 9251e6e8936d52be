//! The alert lifecycle: where an alert stands as a whole, and which events move it.
//!
//! ```text
//! open ─────────────────────► acknowledged   (every required recipient has acknowledged)
//!   │                              ▲
//!   └──► escalated ────────────────┘          (ops paged; a later acknowledgement still settles)
//!
//! open / escalated / acknowledged ──► cancelled   (the school withdrew it; final)
//! open / escalated / acknowledged ──► closed      (the school closed the case with its outcome; final)
//! ```
//! The states are the store's [`AlertState`]; the deliveries' own lifecycle is in
//! [`super::delivery`]. As there, a transition is a conditional update, so a second page, a
//! settle after a cancel or a cancel racing an acknowledgement changes nothing twice.

use crate::store::AlertState;

use AlertState::*;

/// The transition the last required acknowledgement causes: `(from, to)`.
pub fn on_settled() -> (&'static [AlertState], AlertState) {
    (&[Open, Escalated], Acknowledged)
}

/// The transition paging ops causes: only an alert nobody has settled yet is handed to ops.
pub fn on_paged() -> (&'static [AlertState], AlertState) {
    (&[Open], Escalated)
}

/// The transition the school's cancel causes.
pub fn on_cancel() -> (&'static [AlertState], AlertState) {
    (&[Open, Escalated, Acknowledged], Cancelled)
}

/// The transition the school's closing of the case causes.
pub fn on_close() -> (&'static [AlertState], AlertState) {
    (&[Open, Escalated, Acknowledged], Closed)
}

/// Whether the alert's escalation ladder still runs: its steps fire only while it is unsettled.
pub fn is_open(state: AlertState) -> bool {
    on_settled().0.contains(&state)
}

/// Whether the school may still update, cancel or close the alert, and members post notes to
/// its case: until it is cancelled or closed.
pub fn accepts_follow_up(state: AlertState) -> bool {
    on_cancel().0.contains(&state) && on_close().0.contains(&state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transitions() -> [(&'static [AlertState], AlertState); 4] {
        [on_settled(), on_paged(), on_cancel(), on_close()]
    }

    #[test]
    fn cancelled_and_closed_are_final() {
        for end in [Cancelled, Closed] {
            for (from, _) in transitions() {
                assert!(!from.contains(&end), "{end}");
            }
            assert!(!is_open(end));
            assert!(!accepts_follow_up(end));
        }
    }

    #[test]
    fn an_escalated_alert_still_settles_but_is_not_paged_twice() {
        assert!(on_settled().0.contains(&Escalated));
        assert!(!on_paged().0.contains(&Escalated));
        assert!(!on_paged().0.contains(&Acknowledged));
    }

    #[test]
    fn the_ladder_runs_until_the_alert_is_settled() {
        assert!(is_open(Open));
        assert!(is_open(Escalated));
        assert!(!is_open(Acknowledged));
    }

    #[test]
    fn an_acknowledged_alert_can_still_be_updated_or_cancelled() {
        for state in [Open, Escalated, Acknowledged] {
            assert!(accepts_follow_up(state), "{state}");
        }
    }

    #[test]
    fn every_transition_moves_somewhere_else() {
        for (from, to) in transitions() {
            assert!(!from.is_empty());
            assert!(!from.contains(&to));
        }
        for &state in AlertState::ALL {
            let reachable = transitions().iter().any(|(_, to)| *to == state);
            assert_eq!(reachable, state != Open, "{state}");
        }
    }
}
