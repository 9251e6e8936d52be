//! The desk answers the broker's heartbeats: a desk serving socialtjänsten takes the heartbeat
//! from its inbox, sends the signed receipt at once, keeps nothing and shows no one anything, so
//! the broker has socialtjänsten's line up; with the desk stopped, the next heartbeat goes
//! unanswered and the line goes down.

use std::time::Duration;

use varsel_broker::store::{LineRow, LineState, Store};
use varsel_protocol::message::ParticipantId;
use varsel_testkit::harness::{
    office_morning, wait_until, Harness, HEARTBEAT_GRACE, HEARTBEAT_INTERVAL,
};
use varsel_transport::clock::Clock;

mod common;

use common::desk_on;

const SOCIAL: &str = "norrkoping-socialtjansten";
const WAIT: Duration = Duration::from_secs(30);

async fn line(store: &Store, id: &ParticipantId) -> LineRow {
    let line = store.line(id).await.expect("lines readable");
    line.unwrap_or_else(|| panic!("no line for {id}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_receipts_heartbeats_and_keeps_none() {
    let mut h = Harness::start_with("desk-heartbeat", Clock::manual(office_morning()), None).await;
    let (desk, _) = desk_on(&h, &[SOCIAL], &[], h.clock.clone()).await;
    h.restart_with_heartbeats().await;
    let broker = h.store();
    let social: ParticipantId = SOCIAL.parse().unwrap();

    wait_until(
        WAIT,
        "the desk to receipt socialtjänsten's heartbeat",
        || {
            let broker = broker.clone();
            let social = social.clone();
            async move {
                let l = line(&broker, &social).await;
                l.state == LineState::Up && l.receipts >= 1 && l.receipt_due.is_none()
            }
        },
    )
    .await;
    assert!(
        desk.store.inbox(&social).await.unwrap().is_empty(),
        "a heartbeat is no alert: the desk's inbox stays empty"
    );

    // Without the desk the next heartbeat goes unanswered: the line is down after the grace.
    desk.stop().await;
    let receipts = line(&broker, &social).await.receipts;
    let sent = line(&broker, &social)
        .await
        .sent_at
        .expect("a heartbeat was sent");
    h.clock
        .set(sent + chrono::Duration::from_std(HEARTBEAT_INTERVAL).unwrap());
    wait_until(WAIT, "the next heartbeat to be sent", || {
        let broker = broker.clone();
        let social = social.clone();
        async move { line(&broker, &social).await.receipt_due.is_some() }
    })
    .await;
    h.clock
        .advance(chrono::Duration::from_std(HEARTBEAT_GRACE + Duration::from_secs(1)).unwrap());
    wait_until(WAIT, "socialtjänsten's line to go down", || {
        let broker = broker.clone();
        let social = social.clone();
        async move { line(&broker, &social).await.state == LineState::Down }
    })
    .await;
    let down = line(&broker, &social).await;
    assert_eq!(down.receipts, receipts, "no receipt without the desk");
    assert!(
        down.misses >= 1,
        "the unanswered heartbeat is a miss: {down:?}"
    );
}
