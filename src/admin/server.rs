//! The admin HTTP server (axum), loopback by default: the router built from the
//! route table and the middleware every request goes through.
//!
//! From the outside in: every error answer becomes JSON (`errors.rs`); requests that
//! need the token are refused without it (`auth.rs`: every method but `GET`/`HEAD`,
//! and with `auth_reads` the reads under `/v1/`); the body is capped and the request
//! held to one deadline (`limits.rs`); then the route (`routes.rs`, `handlers.rs`).
//! A non-loopback address is refused without a token. No route ever returns a secret.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::auth::{Auth, require_token};
use super::backend::AdminBackend;
use super::errors::{json_errors, not_found};
use super::handlers::AppState;
use super::limits::{Limits, enforce};
use super::metrics::prometheus;
use super::options::{AdminOptions, AdminStartError};
use super::routes::ROUTES;

/// A running admin server.
#[derive(Debug)]
pub struct AdminServer {
    addr: SocketAddr,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

fn router(backend: Arc<dyn AdminBackend>, options: &AdminOptions) -> Router {
    let auth = Arc::new(Auth::new(options.token.as_ref(), options.auth_reads));
    let limits = Arc::new(Limits {
        body_limit: options.body_limit,
        timeout: options.request_timeout,
    });
    let mut router = Router::new();
    for route in ROUTES {
        router = router.route(route.path, route.method_router());
    }
    let api = router
        .fallback(not_found)
        .with_state(AppState { backend })
        // `limits` has read and capped the body already.
        .layer(DefaultBodyLimit::disable())
        .layer(from_fn_with_state(limits, enforce))
        .layer(from_fn_with_state(auth, require_token));
    // Around the whole router, so it sees each answer as the client will (a route's
    // 405 gets its `Allow` header outside the route's middleware).
    Router::new()
        .fallback_service(api)
        .layer(from_fn(json_errors))
}

impl AdminServer {
    /// Serves the admin API on `addr` (port 0 picks one) until
    /// [`AdminServer::shutdown`].
    ///
    /// # Errors
    /// [`AdminStartError::Exposed`] for a non-loopback address without a token, or
    /// the bind error.
    pub async fn start(
        addr: SocketAddr,
        backend: Arc<dyn AdminBackend>,
        options: AdminOptions,
    ) -> Result<Self, AdminStartError> {
        options.permits(addr)?;
        let _ = prometheus();
        let bind = |source| AdminStartError::Bind { addr, source };
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let app = router(backend, &options);
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let stop = cancel.clone();
        tracker.spawn(async move {
            let server = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await });
            if let Err(e) = server.await {
                tracing::error!(error = %crate::Report(&e), "admin server failed");
            }
        });
        tracker.close();
        tracing::info!(%addr, auth_reads = options.auth_reads, "admin API listening");
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

#[cfg(test)]
mod tests;
