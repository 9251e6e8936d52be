//! Who may read the ops server, and how the dashboard's token leaves the address bar.
//!
//! Every route but `/healthz` needs the token, compared in constant time. Scripts and scrapers
//! send `Authorization: Bearer <token>`. A browser opens the dashboard once as `/?token=…`: the
//! token is exchanged for an HttpOnly, SameSite=Strict cookie (Secure behind TLS) and the page
//! is redirected to the same address without it, so the token stays out of history, proxies'
//! logs and the Referer. The cookie is accepted on `/` and on `/api/*` (the dashboard's own
//! calls) only; `/metrics` and `/readyz` want the header. A token in the query of any other
//! route is refused (400 `token_in_query`) so that a client putting it there learns at once.
//! Every cookie-accepting route is a read-only GET; with SameSite=Strict another site cannot
//! make the browser send the cookie, and without CORS headers it could not read the answer.

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::api::Ops;

/// The dashboard's cookie.
pub const COOKIE: &str = "varsel_ops";

/// Where a request may authenticate with the cookie.
fn cookie_allowed(path: &str) -> bool {
    path == "/" || path.starts_with("/api/")
}

/// The middleware in front of every route but `/healthz`.
pub async fn require_token(State(ops): State<Arc<Ops>>, req: Request, next: Next) -> Response {
    let Some(expected) = ops.shared.token.as_deref() else {
        // No token configured: the server only listens where the configuration put it.
        return next.run(req).await;
    };
    let path = req.uri().path().to_owned();
    let query = Query::<Vec<(String, String)>>::try_from_uri(req.uri())
        .map(|q| q.0)
        .unwrap_or_default();
    let from_query = query.iter().find(|(k, _)| k == "token").map(|(_, v)| v);
    if let Some(given) = from_query {
        if path != "/" {
            return refuse(
                StatusCode::BAD_REQUEST,
                "token_in_query: send the token in the Authorization header, not the address\n",
            );
        }
        if !same(given, expected) {
            return unauthorized();
        }
        return exchange(
            req.uri().query().unwrap_or_default(),
            expected,
            req.headers(),
        );
    }
    let headers = req.headers();
    let ok = bearer(headers).is_some_and(|t| same(t, expected))
        || (cookie_allowed(&path) && cookie(headers).is_some_and(|t| same(t, expected)));
    if ok {
        next.run(req).await
    } else {
        unauthorized()
    }
}

/// Compares in constant time (for equal lengths; the length itself is not secret).
fn same(given: &str, expected: &str) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(
        given.as_bytes(),
        expected.as_bytes(),
    ))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// Whether the browser reached us over TLS: a TLS-terminating proxy in front says so.
fn over_tls(headers: &HeaderMap) -> bool {
    let says = |name: &str, want: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains(want))
    };
    says("x-forwarded-proto", "https") || says("forwarded", "proto=https")
}

/// Sets the cookie and sends the browser to the same address without `token=`.
fn exchange(raw_query: &str, token: &str, headers: &HeaderMap) -> Response {
    let rest: Vec<&str> = raw_query
        .split('&')
        .filter(|kv| !kv.is_empty() && kv.split('=').next() != Some("token"))
        .collect();
    let location = if rest.is_empty() {
        "/".to_owned()
    } else {
        format!("/?{}", rest.join("&"))
    };
    let secure = if over_tls(headers) { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/{secure}");
    // RFC 6265 cookie-octets only.
    let cookie_safe = token
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b',' | b';' | b'\\'));
    let (true, Ok(location), Ok(cookie)) = (
        cookie_safe,
        HeaderValue::from_str(&location),
        HeaderValue::from_str(&cookie),
    ) else {
        // A token that cannot stand in a cookie (config allows any text): say so.
        return refuse(
            StatusCode::BAD_REQUEST,
            "token_not_cookie_safe: use the Authorization header\n",
        );
    };
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, location),
            (header::SET_COOKIE, cookie),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
    )
        .into_response()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer realm=\"varsel\"")],
        "a valid bearer token is required\n",
    )
        .into_response()
}

fn refuse(status: StatusCode, body: &'static str) -> Response {
    (status, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let h = headers(&[("cookie", "a=1; varsel_ops=secret-token; b=2")]);
        assert_eq!(cookie(&h), Some("secret-token"));
        assert_eq!(cookie(&headers(&[("cookie", "varsel_ops_x=1")])), None);
        assert_eq!(cookie(&HeaderMap::new()), None);
    }

    #[test]
    fn the_exchange_keeps_the_rest_of_the_query_and_sets_a_strict_cookie() {
        let r = exchange(
            "token=t0123456789abcdef&lang=en",
            "t0123456789abcdef",
            &HeaderMap::new(),
        );
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[header::LOCATION], "/?lang=en");
        assert_eq!(
            r.headers()[header::SET_COOKIE],
            "varsel_ops=t0123456789abcdef; HttpOnly; SameSite=Strict; Path=/"
        );
        let r = exchange("token=x", "x", &headers(&[("x-forwarded-proto", "https")]));
        assert_eq!(r.headers()[header::LOCATION], "/");
        assert!(r.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .ends_with("; Secure"));
    }

    #[test]
    fn the_cookie_counts_only_for_the_page_and_the_api() {
        assert!(cookie_allowed("/"));
        assert!(cookie_allowed("/api/alerts"));
        assert!(!cookie_allowed("/metrics"));
        assert!(!cookie_allowed("/readyz"));
    }
}
