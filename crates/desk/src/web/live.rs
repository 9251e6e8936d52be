//! The officer's live inbox: a server-sent event stream (`GET /inbox/events`) that tells the
//! open inbox page of each delivery kept for the officer's participant, with its list row rendered
//! as the page renders it (the header fields the list shows, nothing of the sealed content), and
//! the script (`/static/live.js`) that puts the row in the table, says so in an aria-live region
//! and, if the officer allowed it, shows a browser notification. Without JavaScript the page is
//! what it was.
//!
//! The page says when it was rendered (`?since=`, the desk's milliseconds); a stream starts with
//! the deliveries kept since then, so one that arrived between the page and its stream is not
//! missed (the script skips a row it already has).
//!
//! A stream is not use of the session: it reads the session without touching it, and ends when
//! the session does (idle time, lifetime, sign-out), when the account is disabled and when the
//! desk stops. Each session holds a few streams (tabs) at most; a new one ends the oldest.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::Stream;
use serde_json::json;
use tokio::sync::{broadcast, mpsc, watch};

use super::text::{code, Lang};
use super::{cookie, lang_of, Desk, Shared};
use crate::inbox::Arrival;
use crate::session::{self, Stage};
use crate::store::accounts::Account;
use crate::store::deliveries::Delivery;

/// How many streams one session may hold open at once (an officer with a few tabs).
pub(crate) const STREAMS_PER_SESSION: usize = 4;

/// The longest a stream goes without looking at its session again, so a session ended elsewhere
/// (found expired by another request, its account disabled) ends the stream soon after.
const LOOK_AGAIN: Duration = Duration::from_secs(5);

/// The most deliveries a stream starts with (the newest of those since the page was rendered).
const CATCH_UP: usize = 50;

const SCRIPT: &str = include_str!("live.js");

/// The arrivals the inbox consumers announce, and the open streams by session.
pub(crate) struct Hub {
    arrivals: broadcast::Sender<Arrival>,
    sessions: Mutex<Sessions>,
}

#[derive(Default)]
struct Sessions {
    next: u64,
    /// Each session's open streams (by its token's digest), oldest first.
    open: HashMap<Vec<u8>, VecDeque<Open>>,
}

/// An open stream: its number and the switch that ends it.
type Open = (u64, watch::Sender<Option<End>>);

/// One stream's place among its session's until the stream ends.
struct Place {
    hub: Arc<Hub>,
    digest: Vec<u8>,
    number: u64,
    end: watch::Receiver<Option<End>>,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut sessions = self.hub.sessions.lock().expect("the stream table");
        if let Some(open) = sessions.open.get_mut(&self.digest) {
            open.retain(|(n, _)| *n != self.number);
            if open.is_empty() {
                sessions.open.remove(&self.digest);
            }
        }
    }
}

impl Hub {
    pub(crate) fn new(arrivals: broadcast::Sender<Arrival>) -> Hub {
        Hub {
            arrivals,
            sessions: Mutex::new(Sessions::default()),
        }
    }

    /// A place for a new stream of the session. At the limit the session's oldest stream is
    /// ended to make room: the newest page is the one the officer looks at, and a page closed a
    /// moment ago may still hold its stream until the connection is found gone.
    fn take(self: &Arc<Self>, digest: &[u8]) -> Place {
        let mut sessions = self.sessions.lock().expect("the stream table");
        sessions.next += 1;
        let number = sessions.next;
        let open = sessions.open.entry(digest.to_vec()).or_default();
        while open.len() >= STREAMS_PER_SESSION {
            if let Some((_, oldest)) = open.pop_front() {
                oldest.send_replace(Some(End::Replaced));
            }
        }
        let (tx, end) = watch::channel(None);
        open.push_back((number, tx));
        Place {
            hub: self.clone(),
            digest: digest.to_vec(),
            number,
            end,
        }
    }

    /// Ends the session's streams (at sign-out).
    pub(crate) fn end(&self, digest: &[u8]) {
        let open = self
            .sessions
            .lock()
            .expect("the stream table")
            .open
            .remove(digest);
        for (_, tx) in open.into_iter().flatten() {
            tx.send_replace(Some(End::SignedOut));
        }
    }
}

/// Why a stream ended, as its last event says to the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    SignedOut,
    Expired,
    Replaced,
    Stopping,
}

impl End {
    fn code(self) -> &'static str {
        match self {
            End::SignedOut => "signed_out",
            End::Expired => "expired",
            End::Replaced => "replaced",
            End::Stopping => "stopping",
        }
    }
}

/// How long a stream may wait before looking at its session again; `None` when the session is
/// over at `now`. Never past the moment it would go idle or reach its lifetime.
pub(crate) fn look_again(
    policy: &session::Policy,
    created: i64,
    last_seen: i64,
    now: i64,
) -> Option<Duration> {
    if !policy.live(created, last_seen, now) {
        return None;
    }
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let over = last_seen
        .saturating_add(ms(policy.idle))
        .min(created.saturating_add(ms(policy.lifetime)));
    let left = Duration::from_millis(u64::try_from(over - now).unwrap_or(0));
    Some(left.min(LOOK_AGAIN))
}

/// The signed-in officer of a session, looked at without touching it, and how long until the
/// session is to be looked at again; `None` if the session is not (or no longer) an officer's.
async fn officer(
    desk: &Desk,
    digest: &[u8],
) -> Result<Option<(Account, Duration)>, crate::store::Error> {
    let Some(w) = desk.store.watched_session(digest).await? else {
        return Ok(None);
    };
    let wait = look_again(&desk.config.session, w.created_at, w.last_seen, desk.now());
    let (Some(wait), Some(id), Stage::SignedIn) = (wait, w.account, w.stage) else {
        return Ok(None);
    };
    Ok(desk
        .store
        .account(id)
        .await?
        .filter(|a| a.disabled_at.is_none() && a.role.works_inbox())
        .map(|a| (a, wait)))
}

/// A refusal of a stream, with its reason code in the log and the body. An event source does not
/// try again after an answer other than 200.
fn refuse(status: StatusCode, reason: &'static str) -> Response {
    tracing::info!(reason, "a live inbox stream was refused");
    (status, [(header::CONTENT_TYPE, "text/plain")], reason).into_response()
}

/// The stream's query: when the page was rendered.
#[derive(Debug, serde::Deserialize)]
pub(super) struct Since {
    since: Option<String>,
}

/// GET /inbox/events
pub(super) async fn events(
    State(desk): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<Since>,
) -> Response {
    let lang = lang_of(&headers);
    let since = match q.since.as_deref().map(str::parse::<i64>) {
        None => None,
        Some(Ok(ms)) => Some(ms),
        Some(Err(_)) => return refuse(StatusCode::BAD_REQUEST, "bad_since"),
    };
    let Some(token) = cookie(&headers, session::COOKIE) else {
        return refuse(StatusCode::UNAUTHORIZED, "not_signed_in");
    };
    let digest = session::digest(token);
    let account = match officer(&desk, &digest).await {
        Err(e) => {
            tracing::error!(error = %e, "the desk could not look at a session for a stream");
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "store_failed");
        }
        Ok(None) => return refuse(StatusCode::UNAUTHORIZED, "not_signed_in"),
        Ok(Some((a, _))) => a,
    };
    let place = desk.hub.take(&digest);
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(run(desk.clone(), account, lang, since, place, tx));
    tracing::debug!("a live inbox stream opened");
    Sse::new(events_of(rx))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(20)))
        .into_response()
}

fn events_of(rx: mpsc::Receiver<Event>) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
    )
}

/// Feeds one stream until the page goes away or the stream has to end.
async fn run(
    desk: Shared,
    account: Account,
    lang: Lang,
    since: Option<i64>,
    place: Place,
    tx: mpsc::Sender<Event>,
) {
    // Listening first, then looking back: an arrival in between is sent twice, never missed.
    let mut arrivals = desk.hub.arrivals.subscribe();
    if let Some(since) = since {
        for event in catch_up(&desk, &account, lang, since).await {
            if tx.send(event).await.is_err() {
                return;
            }
        }
    }
    let mut ended = place.end.clone();
    let end = loop {
        let wait = match officer(&desk, &place.digest).await {
            Ok(Some((_, wait))) => wait,
            Ok(None) => break End::Expired,
            Err(e) => {
                // Ended rather than left open on a session it cannot check.
                tracing::error!(error = %e, "the desk could not look at a stream's session");
                break End::Expired;
            }
        };
        tokio::select! {
            _ = tx.closed() => return,
            _ = desk.signals.stopped() => break End::Stopping,
            // The guard on the value is let go inside the future: it must not live across awaits.
            why = async { ended.wait_for(Option::is_some).await.ok().and_then(|w| *w) } => {
                break why.unwrap_or(End::SignedOut)
            }
            _ = tokio::time::sleep(wait) => {}
            arrival = arrivals.recv() => match arrival {
                Ok(a) if a.participant == account.participant => {
                    if let Some(event) = delivery_event(&desk, &account, lang, a).await {
                        if tx.send(event).await.is_err() {
                            return;
                        }
                    }
                }
                Ok(_) => {}
                // Missed some: the page loads the inbox again rather than show it incomplete.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let reload = Event::default().event("reload").data("lagged");
                    if tx.send(reload).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => break End::Stopping,
            },
        }
    };
    let t = lang.t();
    let notice = match end {
        End::SignedOut | End::Expired => t.live_signed_out,
        End::Replaced | End::Stopping => t.live_stopped,
    };
    let last = Event::default()
        .event("end")
        .data(json!({ "reason": end.code(), "notice": notice }).to_string());
    let _ = tx.send(last).await;
    tracing::debug!(reason = end.code(), "a live inbox stream ended");
}

/// The events for the deliveries kept since `since`, oldest first (each goes to the table's top).
async fn catch_up(desk: &Desk, account: &Account, lang: Lang, since: i64) -> Vec<Event> {
    match desk.store.inbox(&account.participant).await {
        Ok(rows) => {
            let mut events: Vec<Event> = rows
                .into_iter()
                .filter(|d| d.received_at >= since)
                .take(CATCH_UP)
                .map(|d| event_of(desk, account, lang, d))
                .collect();
            events.reverse();
            events
        }
        Err(e) => {
            tracing::error!(error = %e, "the live inbox could not look back at the deliveries");
            Vec::new()
        }
    }
}

/// The event for a delivery just kept.
async fn delivery_event(desk: &Desk, account: &Account, lang: Lang, a: Arrival) -> Option<Event> {
    match desk.store.delivery(a.delivery).await {
        Ok(Some(d)) => Some(event_of(desk, account, lang, d)),
        Ok(None) => None,
        Err(e) => {
            tracing::error!(error = %e, delivery = %a.delivery, "a new delivery could not be read for the live inbox");
            None
        }
    }
}

/// A delivery's event: its id, the words of the notification and its inbox row.
fn event_of(desk: &Desk, account: &Account, lang: Lang, d: Delivery) -> Event {
    let d = super::agency::named(super::agency::client(desk, account), d);
    let notice = format!(
        "{}: {}, {}",
        lang.t().new_delivery,
        code(lang, &d.category),
        code(lang, &d.urgency)
    );
    // Just arrived: a cancel of an alert comes after the alert, so it is not marked cancelled.
    let row = super::pages::inbox_row(lang, &d, false, desk.now()).into_string();
    let data = json!({ "delivery": d.delivery, "notice": notice, "row": row });
    Event::default().event("delivery").data(data.to_string())
}

/// GET /static/live.js
pub(super) async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_holds_four_streams_and_leaves_nothing_behind() {
        let hub = Arc::new(Hub::new(broadcast::channel(1).0));
        let (a, b) = (b"session a".as_slice(), b"session b".as_slice());
        let mut places: Vec<Place> = (0..=STREAMS_PER_SESSION).map(|_| hub.take(a)).collect();
        let other = hub.take(b);
        // The fifth ended the first, and only it.
        assert_eq!(*places[0].end.borrow(), Some(End::Replaced));
        assert!(places[1..].iter().all(|p| p.end.borrow().is_none()));
        hub.end(a);
        assert!(places[1..]
            .iter()
            .all(|p| *p.end.borrow() == Some(End::SignedOut)));
        assert!(
            other.end.borrow().is_none(),
            "another session's stream goes on"
        );
        places.clear();
        drop(other);
        assert!(hub.sessions.lock().unwrap().open.is_empty());
    }

    #[test]
    fn a_stream_looks_again_no_later_than_its_session_ends() {
        let p = session::Policy {
            idle: Duration::from_secs(15 * 60),
            lifetime: Duration::from_secs(8 * 3600),
        };
        let t0 = 1_800_000_000_000;
        let min = 60_000;
        assert_eq!(look_again(&p, t0, t0, t0), Some(LOOK_AGAIN));
        // Two seconds before it goes idle: look again then, not five seconds later.
        assert_eq!(
            look_again(&p, t0, t0, t0 + 15 * min - 2_000),
            Some(Duration::from_secs(2))
        );
        assert_eq!(look_again(&p, t0, t0, t0 + 15 * min), None);
        // Kept alive by use elsewhere, still over at the lifetime.
        assert_eq!(
            look_again(&p, t0, t0 + 479 * min, t0 + 480 * min - 1_000),
            Some(Duration::from_secs(1))
        );
        assert_eq!(look_again(&p, t0, t0 + 479 * min, t0 + 480 * min), None);
    }
}
