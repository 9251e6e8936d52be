//! The ops HTTP server started by `varsel serve`: `/healthz` (open), and behind a bearer token
//! (compared in constant time): `/readyz`, `/metrics`, the JSON API of alert and delivery status
//! (metadata only: ids, codes, participant ids, times; never section content) and the dashboard.

use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::Context as Shared;
use crate::store::{self, AlertFilter, AlertRow, AlertState, DeliveryRow};
use varsel_protocol::message::{Category, DeliveryState, Status};
use varsel_transport::shutdown::Signals;

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

/// What the handlers share: the broker's state and a cache of recent refusals.
struct Ops {
    shared: Arc<Shared>,
    /// The audit head seq the cached refusals were read at, and the refusals, newest first.
    refusals: tokio::sync::Mutex<(i64, Vec<RefusalView>)>,
}

type St = State<Arc<Ops>>;

/// The ops API's routes.
pub fn router(shared: Arc<Shared>) -> Router {
    let ops = Arc::new(Ops {
        shared,
        refusals: tokio::sync::Mutex::new((-1, Vec::new())),
    });
    let protected = Router::new()
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/alerts", get(alerts))
        .route("/api/alerts/{id}", get(alert))
        .route("/api/deliveries", get(deliveries))
        .route("/api/refusals", get(refusals))
        .route("/api/health", get(health))
        .route("/", get(dashboard))
        .route_layer(middleware::from_fn_with_state(ops.clone(), require_token));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(protected)
        .with_state(ops)
}

/// Accepts `Authorization: Bearer <token>`, or `?token=` for the dashboard page in a browser.
async fn require_token(State(ops): St, req: Request, next: Next) -> Response {
    let Some(expected) = ops.shared.token.as_deref() else {
        // No token configured: the server only listens where the configuration put it.
        return next.run(req).await;
    };
    let from_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let from_query = req.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("token=").map(str::to_owned))
    });
    let given = from_header.or(from_query).unwrap_or_default();
    if bool::from(subtle::ConstantTimeEq::ct_eq(
        given.as_bytes(),
        expected.as_bytes(),
    )) {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"varsel\"")],
            "a valid bearer token is required\n",
        )
            .into_response()
    }
}

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

async fn metrics(State(ops): St) -> Response {
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        ops.shared.metrics.render(),
    )
        .into_response()
}

fn store_error(e: store::Error) -> Response {
    tracing::warn!(error = %e, "ops API: store error");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the store is not reachable\n",
    )
        .into_response()
}

/// Filters of `GET /api/alerts`.
#[derive(Debug, Deserialize)]
pub struct AlertQuery {
    pub state: Option<String>,
    pub category: Option<String>,
    pub status: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
}

/// One delivery as the ops API shows it.
#[derive(Debug, Serialize, Deserialize, Clone)]
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

/// One alert as the ops API shows it (metadata only).
#[derive(Debug, Serialize, Deserialize, Clone)]
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
    pub escalations: Vec<String>,
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
    })
}

fn bad_request(what: &str, e: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_REQUEST, format!("{what}: {e}\n")).into_response()
}

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

async fn alert(State(ops): St, Path(id): Path<Uuid>) -> Response {
    let shared = &ops.shared;
    let now = shared.clock.now();
    let a = match shared.store().alert(id).await {
        Ok(Some(a)) => a,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such alert\n").into_response(),
        Err(e) => return store_error(e),
    };
    let v = match view(shared, a, now).await {
        Ok(v) => v,
        Err(e) => return store_error(e),
    };
    let timeline = match shared.store().audit_entries(Some(id)).await {
        Ok(entries) => entries
            .into_iter()
            .map(|e| json!({ "seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action, "delivery": e.delivery, "detail": e.detail }))
            .collect::<Vec<_>>(),
        Err(e) => return store_error(e),
    };
    let mut body = serde_json::to_value(v).unwrap_or_default();
    body["timeline"] = json!(timeline);
    Json(body).into_response()
}

/// Filters of `GET /api/deliveries`.
#[derive(Debug, Deserialize)]
pub struct DeliveryQuery {
    pub state: Option<String>,
}

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
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
pub struct RefusalView {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub reason: String,
    pub kind: Option<String>,
    pub signer: Option<String>,
}

/// How many refusals `GET /api/refusals` returns at most.
const RECENT_REFUSALS: usize = 100;

/// `GET /api/refusals`: the most recent refused input messages, newest first, from the audit
/// log. Re-read only when the audit log has grown since the last request.
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
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq)]
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
}

/// `GET /api/health`: readiness and the store's figures in one JSON object.
async fn health(State(ops): St) -> Response {
    let shared = &ops.shared;
    let now = shared.clock.now();
    let amqp_ready = shared.amqp_ready();
    let stats = shared.store().stats(now).await;
    let store_ok = stats.is_ok();
    shared.health.set_store_ok(store_ok);
    let s = stats.map(|s| store_stats(&s)).unwrap_or_default();
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
    })
    .into_response()
}

async fn dashboard() -> Html<&'static str> {
    Html(super::DASHBOARD)
}

/// Builds the metrics snapshot of the store's counts.
pub fn store_stats(s: &store::Stats) -> crate::metrics::StoreStats {
    crate::metrics::StoreStats {
        alerts: s
            .alerts
            .iter()
            .map(|a| crate::metrics::AlertCount {
                state: a.state.code().to_owned(),
                category: a.category,
                status: a.status,
                count: a.count,
            })
            .collect(),
        deliveries: s
            .deliveries
            .iter()
            .map(|d| crate::metrics::DeliveryCount {
                recipient: d.recipient.clone(),
                state: d.state,
                count: d.count,
            })
            .collect(),
        overdue_deliveries: s.overdue,
        outbox_depth: s.outbox_pending,
        outbox_oldest: s.outbox_oldest_pending.unwrap_or_default(),
        timers_pending: s.timers_pending,
        // Paging ops turns an alert `escalated`; it stays so until acknowledged or cancelled.
        ops_pages: s
            .alerts
            .iter()
            .filter(|a| a.state == AlertState::Escalated)
            .map(|a| a.count)
            .sum(),
    }
}
