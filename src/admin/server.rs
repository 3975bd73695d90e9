//! The admin HTTP API (axum), loopback by default.
//!
//! Read routes are open; every mutating route needs `Authorization: Bearer <token>`
//! with the token from `runtime.admin.token_env` — without a configured token every
//! mutation is refused. No route ever returns a secret.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::backend::{AdminBackend, AdminError};
use super::metrics::prometheus;

#[derive(Clone)]
struct AppState {
    backend: Arc<dyn AdminBackend>,
    token: Option<Arc<SecretString>>,
}

/// A running admin server.
#[derive(Debug)]
pub struct AdminServer {
    addr: SocketAddr,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, serde_json::json!({ "error": m })),
            Self::NotFound(m) => (StatusCode::NOT_FOUND, serde_json::json!({ "error": m })),
            Self::Conflict(m) | Self::Unsupported(m) => {
                (StatusCode::CONFLICT, serde_json::json!({ "error": m }))
            }
            Self::InvalidConfig(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                serde_json::json!({ "error": "invalid configuration; nothing changed", "problems": errors }),
            ),
            Self::Internal(m) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                serde_json::json!({ "error": m }),
            ),
        };
        (status, Json(body)).into_response()
    }
}

fn unauthorized(why: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        Json(serde_json::json!({ "error": why })),
    )
        .into_response()
}

/// Constant-time comparison, so the token cannot be guessed byte by byte from timing.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let Some(expected) = &state.token else {
        return Err(Box::new(unauthorized(
            "mutations are disabled: no admin token is configured (runtime.admin.token_env)",
        )));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(t) if same(t.as_bytes(), expected.expose_secret().as_bytes()) => Ok(()),
        Some(_) => Err(Box::new(unauthorized("wrong bearer token"))),
        None => Err(Box::new(unauthorized(
            "missing Authorization: Bearer <token>",
        ))),
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

async fn readyz(State(s): State<AppState>) -> Response {
    let r = s.backend.readiness().await;
    let status = s.backend.status().await;
    let tenants: Vec<_> = status
        .tenants
        .iter()
        .map(|t| serde_json::json!({ "id": t.id, "state": t.state, "reason": t.reason }))
        .collect();
    let body = serde_json::json!({
        "ready": r.ready,
        "reasons": r.reasons,
        "tenants": tenants,
        "memory": { "rss_bytes": rss_bytes() },
    });
    let code = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

/// Sets the gauges that mirror the status tree, so one scrape sees current depths,
/// leases and per-tenant REST figures next to the counters recorded as things happen.
fn export_status(st: &super::status::RuntimeStatus) {
    use metrics::gauge;
    let backend = st.bus.backend.clone();
    metrics::counter!("switchboard_bus_published_total", "backend" => backend.clone())
        .absolute(st.bus.published);
    metrics::counter!("switchboard_bus_acked_total", "backend" => backend).absolute(st.bus.acked);
    gauge!("switchboard_bus_waiting").set(st.bus.waiting as f64);
    gauge!("switchboard_bus_in_flight").set(st.bus.in_flight as f64);
    gauge!("switchboard_bus_dead_letters").set(st.bus.dead_lettered as f64);
    for b in &st.bus.backlog {
        gauge!("switchboard_bus_lag", "tenant" => b.tenant.clone()).set(b.lag as f64);
        gauge!("switchboard_bus_pending", "tenant" => b.tenant.clone()).set(b.pending as f64);
    }
    if let Some(depth) = st.bus.dead_letter_depth {
        gauge!("switchboard_bus_dead_letter_depth").set(depth as f64);
    }
    gauge!("switchboard_vault_leases").set(st.vault.leases as f64);
    gauge!("switchboard_vault_backend_up", "backend" => st.vault.backend.clone())
        .set(if st.vault.available { 1.0 } else { 0.0 });
    if let Some(w) = &st.workers {
        gauge!("switchboard_workers_busy").set(w.busy as f64);
        gauge!("switchboard_worker_restarts").set(w.restarts as f64);
    }
    for t in &st.tenants {
        let tenant = t.id.clone();
        gauge!("switchboard_tenant_up", "tenant" => tenant.clone()).set(
            if t.state == super::status::TenantState::Running {
                1.0
            } else {
                0.0
            },
        );
        gauge!("switchboard_tenant_restarts", "tenant" => tenant.clone()).set(t.restarts as f64);
        gauge!("switchboard_tenant_inbox", "tenant" => tenant.clone()).set(t.inbox as f64);
        if let Some(r) = &t.rest {
            gauge!("switchboard_rest_requests", "tenant" => tenant.clone()).set(r.requests as f64);
            gauge!("switchboard_rest_429s", "tenant" => tenant.clone()).set(r.rate_limited as f64);
            for (class, n) in &r.by_status {
                gauge!("switchboard_rest_responses", "tenant" => tenant.clone(), "status" => class.clone())
                    .set(*n as f64);
            }
            if let Some((used, threshold)) = r.invalid_budget {
                // One budget per process: every tenant reports the same figures.
                gauge!("switchboard_invalid_request_budget_used").set(used as f64);
                gauge!("switchboard_invalid_request_budget_threshold").set(threshold as f64);
            }
        }
        for sh in &t.shards {
            let shard = sh.id.to_string();
            gauge!("switchboard_gateway_events", "tenant" => tenant.clone(), "shard" => shard.clone()).set(sh.events as f64);
            gauge!("switchboard_gateway_resumes", "tenant" => tenant.clone(), "shard" => shard.clone()).set(sh.resumes as f64);
            if let Some(l) = sh.latency_ms {
                gauge!("switchboard_gateway_latency_ms", "tenant" => tenant.clone(), "shard" => shard).set(l as f64);
            }
        }
    }
}

async fn metrics_text(State(s): State<AppState>) -> Response {
    export_status(&s.backend.status().await);
    match prometheus() {
        Some(h) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "another metrics recorder is installed\n",
        )
            .into_response(),
    }
}

async fn status(State(s): State<AppState>) -> Response {
    Json(s.backend.status().await).into_response()
}

async fn tenants(State(s): State<AppState>) -> Response {
    Json(s.backend.tenants().await).into_response()
}

async fn create_tenant(State(s): State<AppState>, headers: HeaderMap, body: String) -> Response {
    if let Err(r) = authorize(&s, &headers) {
        return *r;
    }
    match s.backend.put_tenant(body, true).await {
        Ok(report) => (StatusCode::CREATED, Json(report)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn replace_tenant(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((provider, tenant)): Path<(String, String)>,
    body: String,
) -> Response {
    if let Err(r) = authorize(&s, &headers) {
        return *r;
    }
    // The body must describe the tenant the path names.
    let probe: Result<serde_yaml_ng::Value, _> = serde_yaml_ng::from_str(&body);
    let names = probe.ok().and_then(|v| {
        Some((
            v.get("provider")?.as_str()?.to_owned(),
            v.get("tenant")?.as_str()?.to_owned(),
        ))
    });
    if names.as_ref() != Some(&(provider.clone(), tenant.clone())) {
        return AdminError::BadRequest(format!(
            "the body must be a tenant entry with provider: {provider} and tenant: {tenant}"
        ))
        .into_response();
    }
    match s.backend.put_tenant(body, false).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn delete_tenant(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((provider, tenant)): Path<(String, String)>,
) -> Response {
    if let Err(r) = authorize(&s, &headers) {
        return *r;
    }
    match s.backend.delete_tenant(provider, tenant).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn reload(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&s, &headers) {
        return *r;
    }
    match s.backend.reload().await {
        Ok(report) => Json(report).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<usize>,
}

async fn dlq(State(s): State<AppState>, Query(q): Query<Limit>) -> Response {
    match s
        .backend
        .dead_letters(q.limit.unwrap_or(100).min(10_000))
        .await
    {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct ReplayBody {
    id: String,
}

async fn replay(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Option<Json<ReplayBody>>,
) -> Response {
    if let Err(r) = authorize(&s, &headers) {
        return *r;
    }
    let Some(Json(body)) = body else {
        return AdminError::BadRequest("expected a JSON body {\"id\": \"...\"}".to_owned())
            .into_response();
    };
    match s.backend.replay(body.id.clone()).await {
        Ok(true) => Json(serde_json::json!({ "replayed": body.id })).into_response(),
        Ok(false) => {
            AdminError::NotFound(format!("no replayable dead letter {}", body.id)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn leases(State(s): State<AppState>) -> Response {
    match s.backend.leases().await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn cluster(State(s): State<AppState>) -> Response {
    match s.backend.cluster().await {
        Some(c) => Json(c).into_response(),
        None => AdminError::NotFound(
            "this node is not in a cluster (the in-process bus runs one node)".to_owned(),
        )
        .into_response(),
    }
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/v1/status", get(status))
        .route("/v1/tenants", get(tenants).post(create_tenant))
        .route(
            "/v1/tenants/{provider}/{tenant}",
            put(replace_tenant).delete(delete_tenant),
        )
        .route("/v1/reload", post(reload))
        .route("/v1/dlq", get(dlq))
        .route("/v1/dlq/replay", post(replay))
        .route("/v1/leases", get(leases))
        .route("/v1/cluster", get(cluster))
        .with_state(state)
}

impl AdminServer {
    /// Serves the admin API on `addr` (port 0 picks one) until [`AdminServer::shutdown`].
    ///
    /// # Errors
    /// The bind error.
    pub async fn start(
        addr: SocketAddr,
        backend: Arc<dyn AdminBackend>,
        token: Option<SecretString>,
    ) -> std::io::Result<Self> {
        let _ = prometheus();
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = AppState {
            backend,
            token: token.map(Arc::new),
        };
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let stop = cancel.clone();
        tracker.spawn(async move {
            let server = axum::serve(listener, router(state))
                .with_graceful_shutdown(async move { stop.cancelled().await });
            if let Err(e) = server.await {
                tracing::error!(error = %e, "admin server failed");
            }
        });
        tracker.close();
        tracing::info!(%addr, "admin API listening");
        Ok(Self {
            addr,
            cancel,
            tracker,
        })
    }

    /// Where it listens.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits for in-flight requests.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        self.tracker.wait().await;
    }
}
