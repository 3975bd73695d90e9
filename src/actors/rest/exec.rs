//! Sending one [`Call`]: circuit breaker, bucket gate, global gate and invalid-request
//! budget before the send; twilight's hidden 429 retries counted (and cut off) in its
//! pre-flight hook; an outer timeout; 5xx, timeouts and transport errors retried with
//! exponential backoff and jitter.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use twilight_http::error::ErrorType;
use twilight_http::response::marker::EmptyBody;

use super::breaker::Admit;
use super::core::{Core, Shared};
use super::health::bump;
use crate::bus::backoff;
use crate::model::{RestErrorKind, RestResponse};
use crate::providers::discord::rest::{ApiError, Auth, Call, RateLimitHeaders};

/// A 2xx answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) bucket: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// A failed call, ready to become a [`RestResponse`].
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: u16,
    pub(crate) kind: RestErrorKind,
    pub(crate) message: String,
    pub(crate) code: Option<u32>,
    pub(crate) bucket: Option<String>,
    pub(crate) retry_after_ms: Option<u64>,
}

impl Failure {
    pub(crate) fn new(status: u16, kind: RestErrorKind, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            code: None,
            bucket: None,
            retry_after_ms: None,
        }
    }
}

impl From<Failure> for RestResponse {
    fn from(f: Failure) -> Self {
        let mut r = RestResponse::failure(f.status, f.kind, f.message);
        r.code = f.code;
        r.bucket = f.bucket;
        r.retry_after_ms = f.retry_after_ms;
        r
    }
}

/// Why the pre-flight hook cancelled a retry.
const REFUSED_BUDGET: u8 = 1;
const REFUSED_RETRIES: u8 = 2;

enum Attempt {
    Done(Reply),
    /// A failure; `true` if worth retrying.
    Failed(Failure, bool),
}

/// Sends `call`, retrying provider failures; records how long it took, rate-limit
/// waits and retries included.
pub(crate) async fn send(core: &Core, call: &Call) -> Result<Reply, Failure> {
    let started = std::time::Instant::now();
    let result = send_with_retries(core, call).await;
    metrics::histogram!("switchboard_rest_request_seconds", "route" => call.key.route)
        .record(started.elapsed().as_secs_f64());
    result
}

async fn send_with_retries(core: &Core, call: &Call) -> Result<Reply, Failure> {
    let shared = &core.shared;
    let cfg = &shared.config;
    let mut retry = 0;
    loop {
        if core.abort.is_cancelled() {
            return Err(unavailable());
        }
        if let Admit::No(wait) = shared.breaker.admit() {
            let mut f = Failure::new(0, RestErrorKind::CircuitOpen, "circuit breaker open");
            f.retry_after_ms = Some(wait.as_millis() as u64);
            return Err(f);
        }
        match attempt(core, call).await {
            Attempt::Done(r) => return Ok(r),
            Attempt::Failed(f, true) if retry < cfg.max_retries && !core.abort.is_cancelled() => {
                retry += 1;
                bump(&shared.counters.retries);
                tracing::debug!(
                    route = call.key.route,
                    status = f.status,
                    retry,
                    "retrying REST call"
                );
                tokio::time::sleep(backoff(retry, cfg.retry_base, cfg.retry_max)).await;
            }
            Attempt::Failed(f, _) => return Err(f),
        }
    }
}

pub(crate) fn unavailable() -> Failure {
    Failure::new(0, RestErrorKind::TenantUnavailable, "tenant unavailable")
}

async fn attempt(core: &Core, call: &Call) -> Attempt {
    let shared = &core.shared;
    let permit = shared
        .buckets
        .acquire(call.key.route, &call.key.major)
        .await;
    let bucket = permit.bucket().map(str::to_owned);
    if call.global {
        shared.global.acquire().await;
    }
    let ticket = match shared.budget.reserve() {
        Ok(t) => Arc::new(t),
        Err(e) => {
            shared.breaker.abandon();
            let mut f = Failure::new(0, RestErrorKind::BudgetExhausted, e.to_string());
            f.bucket = bucket;
            return Attempt::Failed(f, false);
        }
    };
    let attempts = Arc::new(AtomicU32::new(0));
    let refused = Arc::new(AtomicU8::new(0));
    let client = core.client();
    let mut fut = client.request::<EmptyBody>(call.request.clone());
    fut.set_pre_flight(pre_flight(
        Arc::clone(shared),
        Arc::clone(&ticket),
        Arc::clone(&attempts),
        Arc::clone(&refused),
    ));
    let result = tokio::time::timeout(shared.config.attempt_timeout, fut).await;
    let done = |f: Failure, retry: bool| {
        let mut f = f;
        f.bucket.clone_from(&bucket);
        Attempt::Failed(f, retry)
    };
    match result {
        Err(_) => {
            drop(permit);
            shared.breaker.failure();
            bump(&shared.counters.transport_error);
            done(
                Failure::new(0, RestErrorKind::Timeout, "request timed out"),
                true,
            )
        }
        Ok(Ok(resp)) => {
            let status = resp.status().get();
            let headers = RateLimitHeaders::parse(resp.headers());
            let bucket = headers.bucket.clone().or_else(|| bucket.clone());
            permit.complete(Some(&headers), true);
            ticket.settle(false);
            shared.breaker.success();
            shared.counters.status(status);
            match resp.bytes().await {
                Ok(body) => Attempt::Done(Reply {
                    status,
                    bucket,
                    body,
                }),
                Err(e) => done(
                    Failure::new(
                        status,
                        RestErrorKind::Other,
                        format!("reading the body: {e}"),
                    ),
                    false,
                ),
            }
        }
        Ok(Err(e)) => {
            drop(permit);
            let mut f = on_error(core, call, &e, &ticket, &refused);
            f.0.bucket = bucket;
            Attempt::Failed(f.0, f.1)
        }
    }
}

/// A twilight error as a failure, and whether it is worth retrying.
fn on_error(
    core: &Core,
    call: &Call,
    e: &twilight_http::Error,
    ticket: &super::budget::BudgetTicket,
    refused: &AtomicU8,
) -> (Failure, bool) {
    let shared = &core.shared;
    match e.kind() {
        ErrorType::Response { body, status, .. } => {
            let status = status.get();
            ticket.settle(matches!(status, 401 | 403 | 429));
            shared.counters.status(status);
            let server = status >= 500;
            if server {
                shared.breaker.failure();
            } else {
                shared.breaker.success();
            }
            (classify(core, call, status, body), server)
        }
        ErrorType::Parsing { .. } => {
            // An error body that is not Discord's JSON: a proxy or a 5xx page.
            shared.breaker.failure();
            bump(&shared.counters.server_error);
            let f = Failure::new(0, RestErrorKind::ServerError, "unparseable error response");
            (f, true)
        }
        ErrorType::RequestTimedOut => {
            shared.breaker.failure();
            bump(&shared.counters.transport_error);
            (
                Failure::new(0, RestErrorKind::Timeout, "request timed out"),
                true,
            )
        }
        ErrorType::RequestError => {
            shared.breaker.failure();
            bump(&shared.counters.transport_error);
            let f = Failure::new(0, RestErrorKind::ServerError, format!("transport: {e}"));
            (f, true)
        }
        ErrorType::RequestCanceled => {
            shared.breaker.abandon();
            let f = if refused.load(Ordering::Acquire) == REFUSED_BUDGET {
                Failure::new(
                    429,
                    RestErrorKind::BudgetExhausted,
                    "invalid-request budget nearly spent; 429 retry refused",
                )
            } else {
                Failure::new(
                    429,
                    RestErrorKind::RateLimited,
                    "rate limited; retries spent",
                )
            };
            (f, false)
        }
        ErrorType::Unauthorized => {
            shared.breaker.abandon();
            (unauthorized(core, call, None), false)
        }
        _ => {
            shared.breaker.abandon();
            (Failure::new(0, RestErrorKind::Other, e.to_string()), false)
        }
    }
}

fn pre_flight(
    shared: Arc<Shared>,
    ticket: Arc<super::budget::BudgetTicket>,
    attempts: Arc<AtomicU32>,
    refused: Arc<AtomicU8>,
) -> impl Fn() -> bool + Send + 'static {
    move || {
        let n = attempts.fetch_add(1, Ordering::AcqRel) + 1;
        if n == 1 {
            return true;
        }
        // Every call after the first follows a 429 that twilight retries invisibly.
        bump(&shared.counters.ratelimited);
        tracing::warn!(attempt = n, "hidden 429 retry");
        if !ticket.retry_after_429() {
            refused.store(REFUSED_BUDGET, Ordering::Release);
            return false;
        }
        if n > shared.config.max_rate_limit_retries + 1 {
            refused.store(REFUSED_RETRIES, Ordering::Release);
            return false;
        }
        true
    }
}

fn unauthorized(core: &Core, call: &Call, api_code: Option<u32>) -> Failure {
    match call.auth {
        Auth::Interaction => {
            let mut f = Failure::new(
                401,
                RestErrorKind::InteractionExpired,
                "interaction token expired or invalid",
            );
            f.code = api_code;
            f
        }
        Auth::Bot => {
            core.fail("401 Unauthorized: the bot token was rejected");
            let mut f = Failure::new(401, RestErrorKind::Unauthorized, "bot token rejected");
            f.code = api_code;
            f
        }
    }
}

/// A Discord error response as a failure of the right kind.
fn classify(core: &Core, call: &Call, status: u16, body: &[u8]) -> Failure {
    let api = ApiError::parse(status, body);
    if status == 401 {
        return unauthorized(core, call, api.code);
    }
    let mut f = Failure::new(
        status,
        api.kind(call.auth == Auth::Interaction),
        api.message,
    );
    f.code = api.code;
    f
}
