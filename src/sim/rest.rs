//! The REST API (`/api/v10/...`): routing, bot-token authentication, rate-limit
//! headers and 429s, the invalid-request ban, and Discord-shaped errors.
//!
//! Every response of a route carries `X-RateLimit-Limit/-Remaining/-Reset/
//! -Reset-After/-Bucket`; `X-RateLimit-Scope` is sent on 429s and, only when
//! `scope_on_2xx` is on, on 2xx responses. Interaction callbacks and webhook routes
//! are authorised by their path token and exempt from the global limit, as on Discord.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, MatchedPath, RawPathParams, Request, State as AxState};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use super::error::ApiError;
use super::ratelimit::{BucketState, Scope, Verdict};
use super::server::App;
use super::stats::bump;
use super::{rest_channels, rest_commands, rest_misc};

/// Prefix of every REST route.
const API: &str = "/api/v10";

/// Who made a request: a tenant (bot token), or `None` (path-authorised/anonymous).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caller(pub(crate) Option<usize>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        (status, axum::Json(self.body)).into_response()
    }
}

/// A JSON response with status 200.
pub(crate) fn ok(body: Value) -> Response {
    axum::Json(body).into_response()
}

/// Parses a request body as JSON (Discord: 50109 on invalid JSON).
pub(crate) fn json_body(bytes: &Bytes) -> Result<Value, ApiError> {
    if bytes.is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_slice(bytes)
        .map_err(|_| ApiError::new(400, "The request body contains invalid JSON.", 50109))
}

/// Parses a snowflake path segment.
pub(crate) fn snowflake(s: &str) -> Result<u64, ApiError> {
    s.parse::<u64>().ok().filter(|v| *v != 0).ok_or_else(|| {
        ApiError::form(
            "id",
            "NUMBER_TYPE_COERCE",
            &format!("Value \"{s}\" is not snowflake."),
        )
    })
}

/// The REST router.
pub(crate) fn router(app: &App) -> Router<App> {
    let api = |p: &str| format!("{API}{p}");
    Router::new()
        .route(
            &api("/channels/{channel_id}/messages"),
            get(rest_channels::list).post(rest_channels::create),
        )
        .route(
            &api("/channels/{channel_id}/messages/{message_id}"),
            get(rest_channels::get_one)
                .patch(rest_channels::edit)
                .delete(rest_channels::delete),
        )
        .route(
            &api("/interactions/{interaction_id}/{interaction_token}/callback"),
            post(rest_misc::interaction_callback),
        )
        .route(
            &api("/webhooks/{application_id}/{interaction_token}"),
            post(rest_misc::followup),
        )
        .route(
            &api("/webhooks/{application_id}/{interaction_token}/messages/{message_id}"),
            get(rest_misc::webhook_get)
                .patch(rest_misc::webhook_edit)
                .delete(rest_misc::webhook_delete),
        )
        .route(
            &api("/guilds/{guild_id}/members/{user_id}/roles/{role_id}"),
            put(rest_misc::add_role).delete(rest_misc::remove_role),
        )
        .route(&api("/users/@me/channels"), post(rest_misc::create_dm))
        .route(&api("/users/@me"), get(rest_misc::current_user))
        .route(
            &api("/applications/{application_id}/guilds/{guild_id}/commands"),
            get(rest_commands::get_commands).put(rest_commands::put_commands),
        )
        .route(
            &api("/applications/{application_id}/commands"),
            get(rest_commands::get_commands).put(rest_commands::put_commands),
        )
        .route(
            &api("/applications/@me"),
            get(rest_commands::current_application),
        )
        .route(&api("/gateway/bot"), get(rest_misc::gateway_bot))
        .route(&api("/gateway"), get(rest_misc::gateway))
        .route_layer(middleware::from_fn_with_state(app.clone(), limit_layer))
}

/// Fallback for unknown `/api` paths.
pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// Answer to an unsupported method on a known route.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(405, "405: Method Not Allowed", 0)
}

/// Outer layer on every `/api` request: refuses banned IPs and counts invalid
/// requests (401, 403, non-shared 429), banning at the threshold.
pub(crate) async fn ban_layer(
    AxState(app): AxState<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let state = &app.state;
    let ip = peer.ip();
    if let Some(left) = state.limiter.banned(ip, Instant::now()) {
        let caller = bearer(req.headers()).and_then(|t| state.tenant_by_token(t));
        bump(&state.counters(caller).banned_requests);
        return ban_response(left);
    }
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let shared = resp
        .headers()
        .get("x-ratelimit-scope")
        .is_some_and(|v| v == "shared");
    if status == 401 || status == 403 || (status == 429 && !shared) {
        let caller = resp.extensions().get::<Caller>().and_then(|c| c.0);
        bump(&state.counters(caller).invalid_requests);
        if state.limiter.record_invalid(ip, Instant::now()) {
            bump(&state.bans);
            tracing::warn!(%ip, "client IP banned for too many invalid requests");
        }
    }
    resp
}

/// The `Authorization` header's value, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get("authorization").and_then(|v| v.to_str().ok())
}

fn ban_response(left: Duration) -> Response {
    let secs = left.as_secs_f64();
    let body = json!({
        "message": "You are being blocked from accessing our API temporarily due to exceeding our rate limits frequently.",
        "retry_after": round_up_ms(secs),
        "global": true,
        "code": 0,
    });
    let mut resp = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    set(resp.headers_mut(), "retry-after", &retry_after_header(left));
    resp
}

/// Route layer: authenticates, counts requests, applies the rate limits and writes
/// the `X-RateLimit-*` headers.
async fn limit_layer(
    AxState(app): AxState<App>,
    matched: MatchedPath,
    params: RawPathParams,
    mut req: Request,
    next: Next,
) -> Response {
    let state = &app.state;
    let template = matched
        .as_str()
        .strip_prefix(API)
        .unwrap_or(matched.as_str());
    let route = format!("{} {template}", req.method());
    let path_auth = template.starts_with("/interactions/") || template.starts_with("/webhooks/");
    let tenant = if path_auth || template == "/gateway" {
        None
    } else if let Some(t) = bearer(req.headers()).and_then(|t| state.tenant_by_token(t)) {
        Some(t)
    } else {
        bump(&state.anonymous.requests);
        return ApiError::unauthorized().into_response();
    };
    // Path-authorised requests are counted for the tenant owning the interaction.
    let counted = if path_auth {
        params
            .iter()
            .find(|(k, _)| *k == "interaction_token")
            .and_then(|(_, token)| state.tenant_by_interaction_token(token))
    } else {
        tenant
    };
    bump(&state.counters(counted).requests);
    let major = major_param(&params);
    let now = Instant::now();
    let verdict = state
        .limiter
        .check(&route, &major, tenant, !path_auth && tenant.is_some(), now);
    let bucket = match verdict {
        Verdict::Allowed(bucket) => bucket,
        Verdict::Limited {
            scope,
            retry_after,
            bucket,
        } => {
            let c = state.counters(counted);
            bump(match scope {
                Scope::User => &c.ratelimited_bucket,
                Scope::Global => &c.ratelimited_global,
                Scope::Shared => &c.ratelimited_shared,
            });
            let mut resp = limited_response(scope, retry_after, bucket.as_ref());
            resp.extensions_mut().insert(Caller(counted));
            return resp;
        }
    };
    req.extensions_mut().insert(Caller(tenant));
    let mut resp = next.run(req).await;
    if let Some(b) = &bucket {
        bucket_headers(resp.headers_mut(), b);
        if state.limiter.config().scope_on_2xx && resp.status().is_success() {
            let scope = if b.shared { "shared" } else { "user" };
            set(resp.headers_mut(), "x-ratelimit-scope", scope);
        }
    }
    resp.extensions_mut().insert(Caller(counted));
    state.changed.notify_waiters();
    resp
}

/// The major parameter of a route: channel, guild, or webhook/interaction id + token.
fn major_param(params: &RawPathParams) -> String {
    let get = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| v);
    if let Some(c) = get("channel_id") {
        return c.to_owned();
    }
    if let Some(g) = get("guild_id") {
        return g.to_owned();
    }
    let token = get("interaction_token").unwrap_or_default();
    if let Some(w) = get("application_id").or_else(|| get("interaction_id")) {
        return format!("{w}/{token}");
    }
    String::new()
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

/// Seconds rounded up to whole milliseconds (so a client waiting this long is late,
/// never early).
fn round_up_ms(secs: f64) -> f64 {
    (secs * 1000.0).ceil() / 1000.0
}

/// `Retry-After`: whole seconds, rounded up.
fn retry_after_header(d: Duration) -> String {
    d.as_secs_f64().ceil().max(1.0).to_string()
}

fn bucket_headers(h: &mut HeaderMap, b: &BucketState) {
    let after = round_up_ms(b.reset_after.as_secs_f64());
    // Fixed per window (not "now + after", which drifts with when each response is
    // written): a client tells windows apart by it.
    let reset = b.reset_at_ms as f64 / 1000.0;
    set(h, "x-ratelimit-limit", &b.limit.to_string());
    set(h, "x-ratelimit-remaining", &b.remaining.to_string());
    set(h, "x-ratelimit-reset", &format!("{reset:.3}"));
    set(h, "x-ratelimit-reset-after", &format!("{after:.3}"));
    set(h, "x-ratelimit-bucket", &b.bucket);
}

/// A 429 as Discord documents it.
fn limited_response(scope: Scope, retry_after: Duration, bucket: Option<&BucketState>) -> Response {
    let global = scope == Scope::Global;
    let body = json!({
        "message": "You are being rate limited.",
        "retry_after": round_up_ms(retry_after.as_secs_f64()),
        "global": global,
    });
    let mut resp = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    let h = resp.headers_mut();
    if let Some(b) = bucket {
        bucket_headers(h, b);
    }
    if global {
        set(h, "x-ratelimit-global", "true");
    }
    set(h, "x-ratelimit-scope", scope.as_str());
    set(h, "retry-after", &retry_after_header(retry_after));
    resp
}
