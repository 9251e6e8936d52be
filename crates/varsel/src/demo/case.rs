//! The case after social services have taken the alert: they decide a temporary travel ban
//! (31 d § LVU) and post it to the case; the police must acknowledge it before the departure, and
//! do; the school closes the case as returned, and every member is told while the case's timers
//! stop.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use varsel_broker::store::Store;
use varsel_participant::client::{Client, Item, OpenedDelivery};
use varsel_protocol::message::{CaseOutcome, DeliveryState, Kind, NoteKind, Outcome};
use varsel_protocol::note;
use varsel_testkit::wait;
use varsel_transport::clock::Clock;

use super::queues::read_inbox;
use super::timeline::say;
use super::POLL;

const SCHOOL: &str = "norrkoping-ektorpsskolan";
const POLICE: &str = "polisen-region-ost";
/// How long (real time) the story waits for one step of the broker.
const STEP: StdDuration = StdDuration::from_secs(20);

/// The next delivery of message `message` in `c`'s inbox, within [`STEP`].
async fn delivery_of(c: &Client, message: Uuid) -> anyhow::Result<OpenedDelivery> {
    let what = format!("{} to get message {message}", c.me());
    // A failed read ends the wait at once with its error; no delivery yet polls again.
    let found = wait::poll(STEP, POLL, &what, || async {
        match read_inbox(c).await {
            Err(e) => Some(Err(e)),
            Ok(items) => items.into_iter().find_map(|i| match i {
                Item::Delivery(d) if d.message == message => Some(Ok(*d)),
                _ => None,
            }),
        }
    })
    .await?;
    found
}

/// Runs the case's story for `alert`, which social services (`social`) have taken.
pub(super) async fn story(
    agents: &BTreeMap<&str, Client>,
    store: &Store,
    clock: &Clock,
    started: DateTime<Utc>,
    alert: Uuid,
    social: &str,
) -> anyhow::Result<()> {
    let ban = note::Body {
        text: "Tillfälligt utreseförbud beslutat av nämndens ordförande (31 d § LVU).".into(),
        decided_at: Some(clock.now()),
        reference: Some("SN 2026/0417".into()),
        outcome: None,
    };
    let posted = agents[social]
        .send_note(NoteKind::TravelBanDecided, alert, &ban)
        .await
        .context("social services posting the travel ban")?;
    say(
        clock,
        started,
        "Socialtjänsten beslutar tillfälligt utreseförbud (31 d § LVU) och lägger det i ärendet",
    );
    let at_police = delivery_of(&agents[POLICE], posted).await?;
    say(
        clock,
        started,
        &format!(
            "Polisen region Öst får utreseförbudet ({}), kvittera senast {}",
            if at_police.ack_due.is_some() {
                "måste kvittera"
            } else {
                "för kännedom"
            },
            at_police
                .ack_due
                .map(|t| super::timeline::hms(t - started))
                .map_or_else(|| "-".to_owned(), |t| format!("+{t}"))
        ),
    );
    agents[POLICE]
        .ack(at_police.delivery, "Insp. Karin Lund", Outcome::CaseOpened)
        .await?;
    let acked = wait::holds(STEP, POLL, "the police's ack of the ban", || async {
        store
            .delivery(at_police.delivery)
            .await
            .ok()
            .flatten()
            .is_some_and(|d| d.state == DeliveryState::Acknowledged)
    })
    .await;
    if acked.is_err() {
        bail!("the police's acknowledgement of the travel ban did not arrive within {STEP:?}");
    }
    say(
        clock,
        started,
        "Polisen kvitterar utreseförbudet före avresan (Insp. Karin Lund)",
    );

    let closing = note::Body {
        text: "Hana är tillbaka i skolan; resan blev inte av.".into(),
        outcome: Some(CaseOutcome::Returned),
        ..note::Body::default()
    };
    let closed = agents[SCHOOL]
        .send_note(NoteKind::CaseClosed, alert, &closing)
        .await
        .context("the school closing the case")?;
    say(
        clock,
        started,
        "Ektorpsskolan avslutar ärendet: eleven är tillbaka",
    );
    for (id, c) in agents.iter().filter(|(id, _)| **id != SCHOOL) {
        let member = store
            .deliveries_of(alert)
            .await?
            .iter()
            .any(|d| d.kind == Kind::Alert && d.recipient.as_str() == *id);
        if member {
            delivery_of(c, closed).await?;
            say(
                clock,
                started,
                &format!(
                    "{} får veta att ärendet är avslutat",
                    c.registry
                        .participant(c.me())
                        .map_or(*id, |p| p.name.as_str())
                ),
            );
        }
    }
    Ok(())
}
