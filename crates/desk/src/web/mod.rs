//! The desk's web server: server-rendered pages that work without JavaScript, each answered with
//! a strict Content-Security-Policy (no inline script or style: the one style sheet is a file,
//! and scripts, which only enhance a page, are files too).
//! `signin` takes the two factors, `agency` the officer's inbox, alert page and acknowledgement
//! (`agency_note` the notes an officer posts to a case), `school` the school's New alert form
//! (`form`, checked by `form_check`) and My alerts, `follow` the school's alert page with its
//! updates and cancels (`follow_pages`, refusals in words from `reasons`) and `journal` the
//! case's journal and checklist on it (`journal_pages`), opened by `follow_open`; `send_once`
//! sends what these pages post, once per form. `pages`, `form_page`, `follow_pages` and
//! `school_pages` render, and `reading` shows an alert's content, in the language of [`text`];
//! `live` keeps an open inbox page up to date with server-sent events and its script file.
//!
//! [`start`] takes its listener and shutdown signals from the caller, so a test can bind port 0.

mod agency;
mod agency_note;
mod case;
mod follow;
mod follow_open;
mod follow_pages;
mod form;
mod form_check;
mod form_page;
mod journal;
mod journal_pages;
mod live;
mod outgoing;
mod pages;
mod reading;
mod reasons;
mod school;
mod school_pages;
mod send_once;
mod signin;
pub mod text;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::task::JoinHandle;

use varsel_participant::client::Client;
use varsel_protocol::message::ParticipantId;
use varsel_transport::clock::Clock;
use varsel_transport::shutdown::Signals;

use crate::config::Config;
use crate::lockout::Throttle;
use crate::session::{self, Stage};
use crate::store::accounts::Account;
use crate::store::sessions::Session;
use crate::store::Store;
use text::Lang;

// Scripts only from the desk's own files, never inline; connections only back to the desk (the
// live inbox's event stream).
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'; script-src 'self'; connect-src 'self'";
const CSS: &str = include_str!("desk.css");

/// Why the desk could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("participant {participant}: {source}")]
    Client {
        participant: ParticipantId,
        #[source]
        source: varsel_participant::client::Error,
    },
    #[error("the web server: {0}")]
    Io(#[from] std::io::Error),
}

/// What every handler shares.
pub(crate) struct Desk {
    pub(crate) config: Config,
    pub(crate) store: Store,
    pub(crate) clients: HashMap<ParticipantId, Arc<Client>>,
    pub(crate) clock: Clock,
    pub(crate) throttle: Throttle,
    pub(crate) hub: Arc<live::Hub>,
    pub(crate) signals: Signals,
}

type Shared = Arc<Desk>;

impl Desk {
    fn now(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }
}

/// A running desk: its address, its store, and its tasks (the web server, one inbox consumer
/// per participant).
pub struct Running {
    pub addr: SocketAddr,
    pub store: Store,
    signals: Signals,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops the desk and waits for its tasks.
    pub async fn stop(self) {
        self.signals.stop();
        self.wait().await;
    }

    /// Waits until the desk's signals stop it.
    pub async fn wait(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Opens the store, loads each participant's client (keys and registry), starts taking the
/// inboxes and serves the pages on `listener` until `signals` stops.
pub async fn start(
    config: Config,
    listener: tokio::net::TcpListener,
    signals: Signals,
    clock: Clock,
) -> Result<Running, Error> {
    let store = Store::open(&config).await?;
    let mut clients = HashMap::new();
    for c in &config.participants {
        let mut client = Client::load(c.clone()).map_err(|source| Error::Client {
            participant: c.participant.clone(),
            source,
        })?;
        client.clock = clock.clone();
        clients.insert(c.participant.clone(), Arc::new(client));
    }
    let addr = listener.local_addr()?;
    let mut tasks = Vec::new();
    // Room for a burst of arrivals; a stream that falls further behind reloads its page.
    let (arrivals, _) = tokio::sync::broadcast::channel(64);
    for client in clients.values() {
        tasks.push(tokio::spawn(crate::inbox::run(
            client.clone(),
            store.clone(),
            signals.clone(),
            arrivals.clone(),
        )));
    }
    let desk = Arc::new(Desk {
        throttle: Throttle::new(config.attempts_per_minute),
        config,
        store: store.clone(),
        clients,
        clock,
        hub: Arc::new(live::Hub::new(arrivals)),
        signals: signals.clone(),
    });
    let app = router(desk);
    let stop = signals.clone();
    tasks.push(tokio::spawn(async move {
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { stop.stopped().await })
        .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the desk's web server failed");
        }
    }));
    tracing::info!(%addr, "the desk serves");
    Ok(Running {
        addr,
        store,
        signals,
        tasks,
    })
}

fn router(desk: Shared) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/desk.css", get(css))
        .route("/static/form.js", get(form_js))
        .route("/login", get(signin::form).post(signin::password))
        .route("/login/code", get(signin::code_form).post(signin::code))
        .route("/logout", post(signin::logout))
        .route("/lang/{code}", get(signin::language))
        .route("/inbox", get(agency::inbox))
        .route("/inbox/events", get(live::events))
        .route("/static/live.js", get(live::script))
        .route("/alerts", get(school::mine))
        .route("/alerts/new", get(school::new_form).post(school::send))
        .route("/alerts/{alert}", get(follow::page))
        .route("/alerts/{alert}/open", post(follow_open::open))
        .route("/alerts/{alert}/update", post(follow::update))
        .route("/alerts/{alert}/cancel", post(follow::cancel))
        .route("/alerts/{alert}/close", post(follow::close))
        .route("/alerts/{alert}/journal", post(journal::write))
        .route(
            "/alerts/{alert}/journal/{entry}/share",
            post(journal::share),
        )
        .route("/alert/{delivery}", get(agency::alert))
        .route("/alert/{delivery}/open", post(agency::open))
        .route("/alert/{delivery}/ack", post(agency::acknowledge))
        .route("/alert/{delivery}/note", post(agency_note::post))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(desk)
}

/// Headers on every answer: the Content-Security-Policy, no framing, no sniffing, no referrer,
/// and no caching of pages that may show a child's case.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response()
}

/// The New alert form's check-as-you-type script (the form works without it).
async fn form_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("form.js"),
    )
        .into_response()
}

async fn not_found(headers: HeaderMap) -> Response {
    let lang = lang_of(&headers);
    pages::message(lang, StatusCode::NOT_FOUND, lang.t().not_found, None)
}

async fn home(
    axum::extract::State(desk): axum::extract::State<Shared>,
    headers: HeaderMap,
) -> Response {
    let lang = lang_of(&headers);
    match signed_in(&desk, &headers).await {
        Err(r) => r,
        Ok((_, account)) if account.role.works_inbox() => Redirect::to("/inbox").into_response(),
        Ok((_, account)) if account.role.works_school() => Redirect::to("/alerts").into_response(),
        Ok((session, account)) => pages::message(
            lang,
            StatusCode::FORBIDDEN,
            lang.t().forbidden,
            Some((&account, &session.csrf)),
        ),
    }
}

/// The language of a request: its `lang` cookie, Swedish when there is none.
pub(crate) fn lang_of(headers: &HeaderMap) -> Lang {
    cookie(headers, "lang")
        .and_then(Lang::parse)
        .unwrap_or(Lang::Sv)
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| session::cookie_value(v, name))
}

/// The request's live session, if any.
pub(crate) async fn session_of(
    desk: &Desk,
    headers: &HeaderMap,
) -> Result<Option<Session>, Response> {
    let Some(token) = cookie(headers, session::COOKIE) else {
        return Ok(None);
    };
    desk.store
        .session(token, &desk.config.session, desk.now())
        .await
        .map_err(|e| internal(lang_of(headers), &e))
}

/// A signed-in member of school staff and the participant's client; or the answer instead.
pub(crate) async fn staff<'a>(
    desk: &'a Desk,
    headers: &HeaderMap,
) -> Result<(Session, Account, &'a Client), Response> {
    let lang = lang_of(headers);
    let (s, a) = signed_in(desk, headers).await?;
    if !a.role.works_school() {
        return Err(pages::message(
            lang,
            StatusCode::FORBIDDEN,
            lang.t().forbidden,
            Some((&a, &s.csrf)),
        ));
    }
    let client = desk
        .clients
        .get(&a.participant)
        .expect("accounts belong to a participant the desk serves");
    Ok((s, a, client))
}

/// The signed-in session and its account, or the answer to give instead: to the sign-in page.
pub(crate) async fn signed_in(
    desk: &Desk,
    headers: &HeaderMap,
) -> Result<(Session, Account), Response> {
    let to_login = || Redirect::to("/login").into_response();
    let Some(s) = session_of(desk, headers).await? else {
        return Err(to_login());
    };
    if s.stage != Stage::SignedIn {
        return Err(to_login());
    }
    let account = desk
        .store
        .account(s.account.unwrap_or_default())
        .await
        .map_err(|e| internal(lang_of(headers), &e))?;
    match account {
        Some(a) if a.disabled_at.is_none() => Ok((s, a)),
        _ => Err(to_login()),
    }
}

/// A store failure, logged without personal data and answered in general words.
pub(crate) fn internal(lang: Lang, e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "the desk could not answer a request");
    pages::message(
        lang,
        StatusCode::INTERNAL_SERVER_ERROR,
        lang.t().store_failed,
        None,
    )
}

/// The answer when the access log's intent entry could not be written before sending: nothing
/// was sent.
pub(crate) fn log_failed(lang: Lang, e: &dyn std::fmt::Display, who: pages::Who<'_>) -> Response {
    tracing::error!(error = %e, "the access log could not be written; nothing was sent");
    pages::message(
        lang,
        StatusCode::SERVICE_UNAVAILABLE,
        lang.t().log_failed,
        who,
    )
}

/// The answer when a message left the desk (RabbitMQ confirmed it; the access log has its intent
/// entry) but the store failed to record the outcome: `text` says so, with the message's id.
pub(crate) fn unrecorded(
    lang: Lang,
    text: &str,
    message: uuid::Uuid,
    e: &dyn std::fmt::Display,
    who: pages::Who<'_>,
) -> Response {
    tracing::error!(error = %e, %message, "a message was sent but its outcome could not be recorded");
    pages::message(
        lang,
        StatusCode::INTERNAL_SERVER_ERROR,
        &format!("{text} {message}"),
        who,
    )
}

/// The answer to a form without the session's CSRF token (reason code `csrf`).
pub(crate) fn csrf_refused(lang: Lang) -> Response {
    tracing::warn!(
        reason = "csrf",
        "a form without a valid CSRF token was refused"
    );
    pages::message(lang, StatusCode::FORBIDDEN, lang.t().csrf_refused, None)
}
