//! Signing in: the password, then the TOTP code, each step in a session of its own (a new token
//! at each, so a token from before sign-in is worth nothing after); every form checked against
//! the session's CSRF token; failures counted towards the account's lockout and each address's
//! attempts throttled. Logs name the account by its number, never by name.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::json;

use super::{csrf_refused, internal, lang_of, pages, session_of, Desk, Shared};
use crate::access_log::Action;
use crate::lockout::locked;
use crate::password;
use crate::session::{self, Stage};
use crate::store::sessions::Session;

#[derive(Debug, Deserialize)]
pub(super) struct PasswordForm {
    csrf: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct CodeForm {
    csrf: Option<String>,
    code: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct CsrfForm {
    pub(super) csrf: Option<String>,
}

fn with_cookie(mut res: Response, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// The session a sign-in form was posted in, at `stage` and with its CSRF token; or the refusal.
async fn form_session(
    desk: &Desk,
    headers: &HeaderMap,
    stage: Stage,
    csrf: Option<&str>,
) -> Result<Session, Response> {
    let lang = lang_of(headers);
    match session_of(desk, headers).await? {
        Some(s) if s.stage == stage && session::csrf_matches(&s.csrf, csrf) => Ok(s),
        _ => Err(csrf_refused(lang)),
    }
}

/// A new anonymous session for the sign-in form; the expired sessions of everyone are deleted
/// first, so sign-in pages opened and left do not pile up in the store.
async fn fresh_session(desk: &Desk) -> Result<(String, String), crate::store::Error> {
    let now = desk.now();
    desk.store.prune_sessions(&desk.config.session, now).await?;
    desk.store.new_session(None, Stage::Anonymous, now).await
}

/// GET /login: the password form, in a fresh anonymous session unless one is live.
pub(super) async fn form(State(desk): State<Shared>, headers: HeaderMap) -> Response {
    let lang = lang_of(&headers);
    match session_of(&desk, &headers).await {
        Err(r) => r,
        Ok(Some(s)) if s.stage == Stage::SignedIn => Redirect::to("/").into_response(),
        Ok(Some(s)) if s.stage == Stage::Anonymous => {
            pages::login(lang, StatusCode::OK, &s.csrf, "", None)
        }
        Ok(_) => match fresh_session(&desk).await {
            Err(e) => internal(lang, &e),
            Ok((token, csrf)) => with_cookie(
                pages::login(lang, StatusCode::OK, &csrf, "", None),
                &session::set_cookie(&token, desk.config.secure_cookies),
            ),
        },
    }
}

/// POST /login: checks the password; on success the session moves on to the code.
pub(super) async fn password(
    State(desk): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<PasswordForm>,
) -> Response {
    let lang = lang_of(&headers);
    let t = lang.t();
    let now = desk.now();
    let s = match form_session(&desk, &headers, Stage::Anonymous, f.csrf.as_deref()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let username = f.username.unwrap_or_default().trim().to_owned();
    if !desk.throttle.allow(peer.ip(), now) {
        tracing::warn!(
            reason = "throttled",
            "a sign-in was refused: too many attempts from one address"
        );
        return pages::login(
            lang,
            StatusCode::TOO_MANY_REQUESTS,
            &s.csrf,
            &username,
            Some(t.throttled),
        );
    }
    let given = f.password.unwrap_or_default();
    let account = match desk.store.account_by_name(&username).await {
        Ok(a) => a,
        Err(e) => return internal(lang, &e),
    };
    let Some(a) = account else {
        password::verify_nobody(&given);
        tracing::warn!(reason = "sign_in_failed", "a sign-in named no account");
        return pages::login(
            lang,
            StatusCode::UNAUTHORIZED,
            &s.csrf,
            &username,
            Some(t.sign_in_failed),
        );
    };
    let right = password::verify(&given, &a.password_hash);
    let usable = a.disabled_at.is_none() && !locked(a.locked_until, now);
    if !(right && usable) {
        if usable {
            let (failed, until) = desk.config.lockout.fail(a.failed_attempts, now);
            if let Err(e) = desk.store.sign_in_failed(a.id, failed, until).await {
                return internal(lang, &e);
            }
        }
        tracing::warn!(
            account = a.id,
            reason = "sign_in_failed",
            "a sign-in was refused"
        );
        return pages::login(
            lang,
            StatusCode::UNAUTHORIZED,
            &s.csrf,
            &username,
            Some(t.sign_in_failed),
        );
    }
    let next = async {
        desk.store.end_session(&s.digest).await?;
        desk.store
            .new_session(Some(a.id), Stage::Password, now)
            .await
    };
    match next.await {
        Err(e) => internal(lang, &e),
        Ok((token, _)) => with_cookie(
            Redirect::to("/login/code").into_response(),
            &session::set_cookie(&token, desk.config.secure_cookies),
        ),
    }
}

/// GET /login/code: the code form, after a right password.
pub(super) async fn code_form(State(desk): State<Shared>, headers: HeaderMap) -> Response {
    let lang = lang_of(&headers);
    match session_of(&desk, &headers).await {
        Err(r) => r,
        Ok(Some(s)) if s.stage == Stage::Password => {
            pages::code_form(lang, StatusCode::OK, &s.csrf, None)
        }
        Ok(_) => Redirect::to("/login").into_response(),
    }
}

/// POST /login/code: checks the TOTP code; on success the person is signed in.
pub(super) async fn code(
    State(desk): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Response {
    let lang = lang_of(&headers);
    let t = lang.t();
    let now = desk.now();
    let s = match form_session(&desk, &headers, Stage::Password, f.csrf.as_deref()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !desk.throttle.allow(peer.ip(), now) {
        tracing::warn!(
            reason = "throttled",
            "a code was refused: too many attempts from one address"
        );
        return pages::code_form(
            lang,
            StatusCode::TOO_MANY_REQUESTS,
            &s.csrf,
            Some(t.throttled),
        );
    }
    let a = match desk.store.account(s.account.unwrap_or_default()).await {
        Err(e) => return internal(lang, &e),
        Ok(Some(a)) if a.disabled_at.is_none() && !locked(a.locked_until, now) => a,
        Ok(_) => {
            let _ = desk.store.end_session(&s.digest).await;
            return Redirect::to("/login").into_response();
        }
    };
    let seconds = u64::try_from(now / 1000).unwrap_or(0);
    let step = a
        .totp
        .check(f.code.as_deref().unwrap_or(""), seconds, a.totp_last_step);
    let good = match step {
        Some(step) => match desk.store.second_factor_used(a.id, step).await {
            Ok(g) => g,
            Err(e) => return internal(lang, &e),
        },
        None => false,
    };
    if !good {
        let (failed, until) = desk.config.lockout.fail(a.failed_attempts, now);
        if let Err(e) = desk.store.sign_in_failed(a.id, failed, until).await {
            return internal(lang, &e);
        }
        tracing::warn!(
            account = a.id,
            reason = "code_refused",
            "a one-time code was refused"
        );
        if until.is_some() {
            let _ = desk.store.end_session(&s.digest).await;
            return Redirect::to("/login").into_response();
        }
        return pages::code_form(lang, StatusCode::UNAUTHORIZED, &s.csrf, Some(t.code_failed));
    }
    let next = async {
        desk.store.end_session(&s.digest).await?;
        let started = desk
            .store
            .new_session(Some(a.id), Stage::SignedIn, now)
            .await?;
        desk.store
            .log_access(&a.username, Action::SignedIn, None, json!({}), now)
            .await?;
        Ok::<_, crate::store::Error>(started)
    };
    match next.await {
        Err(e) => internal(lang, &e),
        Ok((token, _)) => {
            tracing::info!(account = a.id, "signed in");
            with_cookie(
                Redirect::to("/").into_response(),
                &session::set_cookie(&token, desk.config.secure_cookies),
            )
        }
    }
}

/// POST /logout: ends the session.
pub(super) async fn logout(
    State(desk): State<Shared>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    let lang = lang_of(&headers);
    let s = match session_of(&desk, &headers).await {
        Err(r) => return r,
        Ok(Some(s)) => s,
        Ok(None) => return Redirect::to("/login").into_response(),
    };
    if !session::csrf_matches(&s.csrf, f.csrf.as_deref()) {
        return csrf_refused(lang);
    }
    if let Err(e) = desk.store.end_session(&s.digest).await {
        return internal(lang, &e);
    }
    desk.hub.end(&s.digest);
    with_cookie(
        Redirect::to("/login").into_response(),
        &session::clear_cookie(desk.config.secure_cookies),
    )
}

/// GET /lang/{code}: remembers the language in a cookie and goes home.
pub(super) async fn language(
    State(desk): State<Shared>,
    axum::extract::Path(code): axum::extract::Path<String>,
) -> Response {
    let lang = super::text::Lang::parse(&code).unwrap_or(super::text::Lang::Sv);
    with_cookie(
        Redirect::to("/").into_response(),
        &format!(
            "lang={}; Path=/; HttpOnly; SameSite=Strict; Max-Age=31536000{}",
            lang.code(),
            if desk.config.secure_cookies {
                "; Secure"
            } else {
                ""
            }
        ),
    )
}
