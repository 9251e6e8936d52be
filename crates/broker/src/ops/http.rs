//! The ops HTTP server started by `varsel serve`: `/healthz` (open), and behind the token
//! ([`super::auth`]): `/readyz`, `/metrics` (Prometheus text or OpenMetrics, as the scraper
//! asks), the JSON API ([`super::api`]) with its OpenAPI document, and the dashboard page.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use axum::Router;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::api::{self, Ops, St};
use super::exposition::{self, Format};
use super::Context as Shared;
use varsel_transport::shutdown::Signals;

pub use super::api::{is_overdue, AlertQuery, AlertView, DeliveryQuery, DeliveryView, Health};
pub use super::api::{RefusalView, TimelineEntry};
pub use super::store_stats;

/// Serves the ops API on `listener` until `signals` asks to stop.
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>, signals: Signals) {
    let app = router(shared);
    let stop = signals.clone();
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.stopped().await })
        .await
    {
        tracing::error!(error = %e, "ops HTTP server failed");
    }
}

/// The OpenAPI document's frame: title, the two ways to present the token.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "varsel ops API",
        description = "Alert and delivery status of a varsel broker: metadata only (ids, codes, participant ids, times), never personal data."
    ),
    modifiers(&Security)
)]
struct Document;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        let cookie = ApiKey::Cookie(ApiKeyValue::with_description(
            super::auth::COOKIE,
            "Set by opening the dashboard as /?token=…; accepted on / and /api/* only",
        ));
        components.add_security_scheme("dashboard_cookie", SecurityScheme::ApiKey(cookie));
    }
}

/// The ops server's routes, and the OpenAPI document describing every one of them.
pub fn parts(shared: Arc<Shared>) -> (Router, utoipa::openapi::OpenApi) {
    let ops = Arc::new(Ops::new(shared));
    let (protected, mut doc) = OpenApiRouter::with_openapi(Document::openapi())
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(dashboard))
        .merge(api::routes())
        .split_for_parts();
    let (open, open_doc) = OpenApiRouter::new()
        .routes(routes!(healthz))
        .split_for_parts();
    doc.merge(open_doc);
    let json = doc.to_pretty_json().unwrap_or_default();
    let _ = ops.openapi.set(json);
    let protected = protected.route_layer(middleware::from_fn_with_state(
        ops.clone(),
        super::auth::require_token,
    ));
    (open.merge(protected).with_state(ops), doc)
}

/// The ops API's routes.
pub fn router(shared: Arc<Shared>) -> Router {
    parts(shared).0
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, description = "ok", body = String, content_type = "text/plain")))]
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: RabbitMQ connected and consuming, the store reachable and taking writes, no worker
/// down.
#[utoipa::path(get, path = "/readyz", tag = "health", security(("bearer" = [])),
    responses(
        (status = 200, description = "ready", body = String, content_type = "text/plain"),
        (status = 401, description = "No valid token"),
        (status = 503, description = "Not ready, and why", body = String, content_type = "text/plain"),
    ))]
async fn readyz(State(ops): St) -> Response {
    let shared = &ops.shared;
    let mut problems = Vec::new();
    for (worker, reason) in shared.health.down() {
        problems.push(format!(
            "worker {} is down ({reason}); restarting",
            worker.code()
        ));
    }
    if !shared.amqp_ready() {
        problems.push("RabbitMQ: not connected or not consuming intake".into());
    }
    // Bounded: while the database is away a connection attempt can hang for the pool's
    // acquire timeout, and a probe must get its answer before its own timeout.
    let ping = shared.store().ping();
    let store_ok = matches!(
        tokio::time::timeout(std::time::Duration::from_secs(2), ping).await,
        Ok(Ok(()))
    );
    shared.health.set_store_ok(store_ok);
    if !store_ok {
        problems.push("store: not reachable".into());
    } else if shared.intake_held() {
        problems.push("store: not accepting writes; input held unacknowledged".into());
    }
    if problems.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", problems.join("; ")),
        )
            .into_response()
    }
}

/// The broker's metrics: Prometheus text format 0.0.4 by default and for `Accept: text/plain`,
/// OpenMetrics 1.0.0 for `Accept: application/openmetrics-text`.
#[utoipa::path(get, path = "/metrics", tag = "health", security(("bearer" = [])),
    params(("Accept" = Option<String>, Header, description = "text/plain (default) or application/openmetrics-text")),
    responses(
        (status = 200, description = "The metrics", content(
            (String = "text/plain; version=0.0.4; charset=utf-8"),
            (String = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )),
        (status = 401, description = "No valid token"),
    ))]
async fn metrics(State(ops): St, headers: HeaderMap) -> Response {
    let shared = &ops.shared;
    // Readiness as /readyz would tell it from what the workers last saw (without its ping).
    let store_up = shared.health.store_ok();
    let ready =
        shared.amqp_ready() && store_up && !shared.intake_held() && shared.health.down().is_empty();
    shared.metrics.set_readiness(ready, store_up);
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    match exposition::negotiate(accept) {
        Format::OpenMetrics => (
            [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
            shared.metrics.render(),
        )
            .into_response(),
        Format::Prometheus => (
            [(header::CONTENT_TYPE, exposition::PROMETHEUS_TEXT)],
            exposition::prometheus_text(&shared.metrics.families()),
        )
            .into_response(),
    }
}

/// The dashboard page. Opened once as `/?token=…`, it answers 303 to the same address without
/// the token and sets the dashboard cookie.
#[utoipa::path(get, path = "/", tag = "dashboard",
    security(("bearer" = []), ("dashboard_cookie" = [])),
    params(
        ("token" = Option<String>, Query, description = "The ops token, exchanged for the cookie"),
        ("lang" = Option<String>, Query, description = "sv or en"),
    ),
    responses(
        (status = 200, description = "The page", body = String, content_type = "text/html"),
        (status = 303, description = "The token was exchanged for the cookie"),
        (status = 401, description = "No valid token"),
    ))]
async fn dashboard() -> Response {
    (
        [(header::REFERRER_POLICY, "no-referrer")],
        Html(super::DASHBOARD),
    )
        .into_response()
}
