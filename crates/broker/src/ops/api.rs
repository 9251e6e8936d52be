//! The ops JSON API (`/api/*`): alert and delivery status, refusals and health, metadata only
//! (ids, codes, participant ids, times; never section content). Each handler carries its
//! OpenAPI description (`utoipa`), so the document served at `/api/openapi.json` is made from
//! the same code that answers.

use std::sync::{Arc, OnceLock};

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::Context as Shared;
use crate::store::{self, AlertFilter, AlertRow, AlertState, DeliveryRow};
use varsel_protocol::message::{Category, DeliveryState, Status};

/// What the handlers share: the broker's state, a cache of recent refusals and the OpenAPI
/// document (set once the router is built).
pub struct Ops {
    pub shared: Arc<Shared>,
    /// The audit head seq the cached refusals were read at, and the refusals, newest first.
    refusals: tokio::sync::Mutex<(i64, Vec<RefusalView>)>,
    pub openapi: OnceLock<String>,
}

impl Ops {
    pub fn new(shared: Arc<Shared>) -> Ops {
        Ops {
            shared,
            refusals: tokio::sync::Mutex::new((-1, Vec::new())),
            openapi: OnceLock::new(),
        }
    }
}

pub type St = State<Arc<Ops>>;

/// The `/api/*` routes with their OpenAPI descriptions.
pub fn routes() -> OpenApiRouter<Arc<Ops>> {
    OpenApiRouter::new()
        .routes(routes!(alerts))
        .routes(routes!(alert))
        .routes(routes!(deliveries))
        .routes(routes!(refusals))
        .routes(routes!(health))
        .routes(routes!(openapi))
}

/// A plain-text answer: refusals, 404s and store errors.
fn text(status: StatusCode, body: String) -> Response {
    (status, body).into_response()
}

fn store_error(e: store::Error) -> Response {
    tracing::warn!(error = %e, "ops API: store error");
    text(
        StatusCode::SERVICE_UNAVAILABLE,
        "the store is not reachable\n".into(),
    )
}

fn bad_request(what: &str, e: impl std::fmt::Display) -> Response {
    text(StatusCode::BAD_REQUEST, format!("{what}: {e}\n"))
}

/// Filters of `GET /api/alerts`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// An alert state: `open`, `acknowledged`, `escalated`, `cancelled`, `closed`.
    pub state: Option<String>,
    /// A category code, e.g. `departure_imminent`.
    pub category: Option<String>,
    /// `actual`, `exercise` or `test`.
    pub status: Option<String>,
    /// Only alerts created at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// At most this many alerts (default 200, at most 5000).
    pub limit: Option<u32>,
}

/// One delivery as the ops API shows it.
#[derive(Debug, Serialize, Deserialize, Clone, ToSchema)]
pub struct DeliveryView {
    pub id: Uuid,
    pub alert: Uuid,
    pub recipient: String,
    pub kind: String,
    pub role: String,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub received_at: Option<DateTime<Utc>>,
    pub acked_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
    pub receipt_due: Option<DateTime<Utc>>,
    pub ack_due: Option<DateTime<Utc>>,
    pub overdue: bool,
    pub attempts: u32,
}

impl DeliveryView {
    pub fn of(d: &DeliveryRow, alert_open: bool, now: DateTime<Utc>) -> DeliveryView {
        DeliveryView {
            id: d.id,
            alert: d.alert,
            recipient: d.recipient.to_string(),
            kind: d.kind.code().into(),
            role: d.role.code().into(),
            state: d.state.code().into(),
            created_at: d.created_at,
            sent_at: d.sent_at,
            received_at: d.received_at,
            acked_at: d.acked_at,
            outcome: d.outcome.map(|o| o.code().into()),
            receipt_due: d.receipt_due,
            ack_due: d.ack_due,
            overdue: alert_open && is_overdue(d, now),
            attempts: d.attempts,
        }
    }
}

/// Whether a delivery has passed a deadline it has not met, by the same rule as
/// [`store::Store::overdue`] (which feeds `/api/deliveries?state=overdue` and the
/// `varsel_overdue_deliveries` gauge): only deliveries of `open` alerts count. Once ops has been
/// paged the alert and the delivery are `escalated`, which the API and dashboard show as such.
pub fn is_overdue(d: &DeliveryRow, now: DateTime<Utc>) -> bool {
    use DeliveryState::*;
    let receipt_late =
        d.receipt_due.is_some_and(|t| t <= now) && matches!(d.state, Pending | Sent | Unroutable);
    let ack_late = d.role == varsel_protocol::message::RecipientRole::Required
        && d.ack_due.is_some_and(|t| t <= now)
        && matches!(d.state, Pending | Sent | Received | Unroutable);
    receipt_late || ack_late
}

/// One entry of an alert's audit trail (ids and codes only).
#[derive(Debug, Serialize, Deserialize, Clone, ToSchema)]
pub struct TimelineEntry {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub delivery: Option<Uuid>,
    /// The audit entry's detail: codes, ids and counts.
    pub detail: serde_json::Value,
}

/// One alert as the ops API shows it (metadata only).
#[derive(Debug, Serialize, Deserialize, Clone, ToSchema)]
pub struct AlertView {
    pub id: Uuid,
    pub sender: String,
    pub municipality: String,
    pub category: String,
    pub urgency: String,
    pub status: String,
    pub state: String,
    pub planned_departure: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub table_version: String,
    pub deliveries: Vec<DeliveryView>,
    /// Escalation steps taken, each `<RFC 3339 time> <action>`.
    pub escalations: Vec<String>,
    /// The alert's audit trail: only in `GET /api/alerts/{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<TimelineEntry>>,
}

async fn view(shared: &Shared, a: AlertRow, now: DateTime<Utc>) -> Result<AlertView, store::Error> {
    let open = a.state == AlertState::Open;
    let deliveries = shared.store().deliveries_of(a.id).await?;
    let escalations = shared
        .store()
        .audit_entries(Some(a.id))
        .await?
        .into_iter()
        .filter(|e| {
            e.action.starts_with("escalation_") && e.action != "escalation_skipped"
                || e.action == "ops_paged"
        })
        .map(|e| format!("{} {}", e.at.to_rfc3339(), e.action))
        .collect();
    Ok(AlertView {
        id: a.id,
        sender: a.sender.to_string(),
        municipality: a.municipality.to_string(),
        category: a.category.code().into(),
        urgency: a.urgency.code().into(),
        status: a.status.code().into(),
        state: a.state.code().into(),
        planned_departure: a.planned_departure,
        created_at: a.created_at,
        updated_at: a.updated_at,
        table_version: a.table_version,
        deliveries: deliveries
            .iter()
            .map(|d| DeliveryView::of(d, open, now))
            .collect(),
        escalations,
        timeline: None,
    })
}

/// Recent alerts, newest first, with every delivery.
#[utoipa::path(get, path = "/api/alerts", tag = "alerts", params(AlertQuery),
    security(("bearer" = []), ("dashboard_cookie" = [])),
    responses(
        (status = 200, description = "The alerts", body = Vec<AlertView>),
        (status = 400, description = "A filter that does not parse", body = String, content_type = "text/plain"),
        (status = 401, description = "No valid token"),
        (status = 503, description = "The store is not reachable", body = String, content_type = "text/plain"),
    ))]
async fn alerts(State(ops): St, Query(q): Query<AlertQuery>) -> Response {
    let shared = &ops.shared;
    let mut filter = AlertFilter {
        since: q.since,
        limit: Some(q.limit.unwrap_or(200).min(5000)),
        ..AlertFilter::default()
    };
    if let Some(s) = &q.state {
        match s.parse::<AlertState>() {
            Ok(s) => filter.state = Some(s),
            Err(e) => return bad_request("state", e),
        }
    }
    if let Some(c) = &q.category {
        match c.parse::<Category>() {
            Ok(c) => filter.category = Some(c),
            Err(e) => return bad_request("category", e),
        }
    }
    if let Some(s) = &q.status {
        match s.parse::<Status>() {
            Ok(s) => filter.status = Some(s),
            Err(e) => return bad_request("status", e),
        }
    }
    let now = shared.clock.now();
    let rows = match shared.store().alerts(&filter).await {
        Ok(r) => r,
        Err(e) => return store_error(e),
    };
    let mut out = Vec::with_capacity(rows.len());
    for a in rows {
        match view(shared, a, now).await {
            Ok(v) => out.push(v),
            Err(e) => return store_error(e),
        }
    }
    Json(out).into_response()
}

/// One alert with its deliveries and its audit trail.
#[utoipa::path(get, path = "/api/alerts/{id}", tag = "alerts",
    params(("id" = Uuid, Path, description = "The alert's message id")),
    security(("bearer" = []), ("dashboard_cookie" = [])),
    responses(
        (status = 200, description = "The alert", body = AlertView),
        (status = 400, description = "An id that is not a UUID", body = String, content_type = "text/plain"),
        (status = 401, description = "No valid token"),
        (status = 404, description = "No such alert", body = String, content_type = "text/plain"),
        (status = 503, description = "The store is not reachable", body = String, content_type = "text/plain"),
    ))]
async fn alert(State(ops): St, Path(id): Path<Uuid>) -> Response {
    let shared = &ops.shared;
    let now = shared.clock.now();
    let a = match shared.store().alert(id).await {
        Ok(Some(a)) => a,
        Ok(None) => return text(StatusCode::NOT_FOUND, "no such alert\n".into()),
        Err(e) => return store_error(e),
    };
    let mut v = match view(shared, a, now).await {
        Ok(v) => v,
        Err(e) => return store_error(e),
    };
    let timeline = match shared.store().audit_entries(Some(id)).await {
        Ok(entries) => entries
            .into_iter()
            .map(|e| TimelineEntry {
                seq: e.seq,
                at: e.at,
                actor: e.actor,
                action: e.action,
                delivery: e.delivery,
                detail: e.detail,
            })
            .collect(),
        Err(e) => return store_error(e),
    };
    v.timeline = Some(timeline);
    Json(v).into_response()
}

/// Filters of `GET /api/deliveries`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Only `overdue` (the default): deliveries of open alerts past a deadline.
    pub state: Option<String>,
}

/// Deliveries past a receipt or acknowledgement deadline.
#[utoipa::path(get, path = "/api/deliveries", tag = "deliveries", params(DeliveryQuery),
    security(("bearer" = []), ("dashboard_cookie" = [])),
    responses(
        (status = 200, description = "The overdue deliveries", body = Vec<DeliveryView>),
        (status = 400, description = "A state other than overdue", body = String, content_type = "text/plain"),
        (status = 401, description = "No valid token"),
        (status = 503, description = "The store is not reachable", body = String, content_type = "text/plain"),
    ))]
async fn deliveries(State(ops): St, Query(q): Query<DeliveryQuery>) -> Response {
    let shared = &ops.shared;
    let now = shared.clock.now();
    match q.state.as_deref() {
        Some("overdue") | None => match shared.store().overdue(now).await {
            Ok(rows) => Json(
                rows.iter()
                    .map(|d| DeliveryView::of(d, true, now))
                    .collect::<Vec<_>>(),
            )
            .into_response(),
            Err(e) => store_error(e),
        },
        Some(other) => bad_request(
            "state",
            format!("only state=overdue is supported, not {other:?}"),
        ),
    }
}

/// One refused input message as the ops API shows it: when, why, what kind, and the
/// participant (an organisation) that signed it when known. Never the content.
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq, ToSchema)]
pub struct RefusalView {
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// The refusal's reason code, e.g. `bad_signature`.
    pub reason: String,
    pub kind: Option<String>,
    pub signer: Option<String>,
}

/// How many refusals `GET /api/refusals` returns at most.
const RECENT_REFUSALS: usize = 100;

/// The most recent refused input messages (at most 100), newest first, from the audit log.
/// Re-read only when the audit log has grown since the last request.
#[utoipa::path(get, path = "/api/refusals", tag = "refusals",
    security(("bearer" = []), ("dashboard_cookie" = [])),
    responses(
        (status = 200, description = "The refusals", body = Vec<RefusalView>),
        (status = 401, description = "No valid token"),
        (status = 503, description = "The store is not reachable", body = String, content_type = "text/plain"),
    ))]
async fn refusals(State(ops): St) -> Response {
    let store = ops.shared.store();
    let head = match store.audit_head().await {
        Ok(h) => h.map(|(seq, _)| seq).unwrap_or(0),
        Err(e) => return store_error(e),
    };
    let mut cache = ops.refusals.lock().await;
    if cache.0 != head {
        let entries = match store.audit_entries(None).await {
            Ok(e) => e,
            Err(e) => return store_error(e),
        };
        let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
        let recent: Vec<RefusalView> = entries
            .iter()
            .rev()
            .filter(|e| e.action == "message_refused")
            .take(RECENT_REFUSALS)
            .map(|e| RefusalView {
                seq: e.seq,
                at: e.at,
                reason: text(&e.detail["reason"]).unwrap_or_default(),
                kind: text(&e.detail["kind"]),
                signer: text(&e.detail["signer"]),
            })
            .collect();
        *cache = (head, recent);
    }
    Json(cache.1.clone()).into_response()
}

/// The system's health as the dashboard shows it.
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq, ToSchema)]
pub struct Health {
    pub ready: bool,
    pub amqp_ready: bool,
    pub store_ok: bool,
    /// The broker's clock (a test or demo clock may differ from the wall clock).
    pub now: DateTime<Utc>,
    pub overdue_deliveries: u64,
    pub outbox_depth: u64,
    pub outbox_oldest_seconds: f64,
    pub timers_pending: u64,
    /// Alerts handed to ops (escalated) and not yet settled.
    pub ops_pages: u64,
    /// Every agency's line and whether it answers heartbeats (empty without `[heartbeat]`).
    pub lines: Vec<super::lines::LineView>,
}

/// Readiness and the store's figures in one object.
#[utoipa::path(get, path = "/api/health", tag = "health",
    security(("bearer" = []), ("dashboard_cookie" = [])),
    responses(
        (status = 200, description = "The figures", body = Health),
        (status = 401, description = "No valid token"),
    ))]
async fn health(State(ops): St) -> Response {
    let shared = &ops.shared;
    let now = shared.clock.now();
    let amqp_ready = shared.amqp_ready();
    let stats = shared.store().stats(now).await;
    let store_ok = stats.is_ok();
    shared.health.set_store_ok(store_ok);
    let s = stats.map(|s| super::store_stats(&s)).unwrap_or_default();
    let lines = match shared.store().lines().await {
        Ok(rows) => super::lines::views(&rows, now),
        Err(e) => return store_error(e),
    };
    Json(Health {
        ready: amqp_ready && store_ok,
        amqp_ready,
        store_ok,
        now,
        overdue_deliveries: s.overdue_deliveries,
        outbox_depth: s.outbox_depth,
        outbox_oldest_seconds: s.outbox_oldest.as_secs_f64(),
        timers_pending: s.timers_pending,
        ops_pages: s.ops_pages,
        lines,
    })
    .into_response()
}

/// This document: the ops API in OpenAPI 3.1.
#[utoipa::path(get, path = "/api/openapi.json", tag = "health",
    security(("bearer" = []), ("dashboard_cookie" = [])),
    responses(
        (status = 200, description = "The OpenAPI document", body = Object),
        (status = 401, description = "No valid token"),
    ))]
async fn openapi(State(ops): St) -> Response {
    let doc = ops.openapi.get().cloned().unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], doc).into_response()
}
