//! Starting the emulator: one TCP listener serving the gateway (`/gateway`), the REST
//! API (`/api/v10`), the control API (`/__sim`) and attachment bytes
//! (`/attachments/...`, CDN-like), plus the session janitor. Every
//! task hangs off one `CancellationToken` and one `TaskTracker`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware;
use axum::routing::get;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::config::SimConfig;
use super::error::SimError;
use super::inject::Fault;
use super::session::ConnCmd;
use super::state::State;
use super::{cdn, control, gateway, rest};

/// What every route handler shares.
#[derive(Debug, Clone)]
pub(crate) struct App {
    pub(crate) state: Arc<State>,
    pub(crate) cancel: CancellationToken,
    pub(crate) tracker: TaskTracker,
}

/// Binds `addr` and starts serving; returns the shared state and task handles.
pub(crate) async fn start(config: SimConfig, addr: &str) -> Result<App, SimError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind {
            addr: addr.to_owned(),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| SimError::Bind {
        addr: addr.to_owned(),
        source,
    })?;
    let app = App {
        state: Arc::new(State::new(config, local)),
        cancel: CancellationToken::new(),
        tracker: TaskTracker::new(),
    };
    let api = rest::router(&app)
        .fallback(rest::not_found)
        .method_not_allowed_fallback(rest::method_not_allowed)
        .layer(middleware::from_fn_with_state(app.clone(), rest::ban_layer));
    let router = Router::new()
        .route("/gateway", get(gateway::upgrade))
        .route("/gateway/", get(gateway::upgrade))
        .route(
            "/attachments/{channel_id}/{attachment_id}/{filename}",
            get(cdn::serve),
        )
        .merge(control::router())
        .merge(api)
        .with_state(app.clone());
    let cancel = app.cancel.clone();
    app.tracker.spawn(async move {
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let serve = axum::serve(listener, service).with_graceful_shutdown(cancel.cancelled_owned());
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "emulator server stopped");
        }
    });
    let (state, cancel) = (Arc::clone(&app.state), app.cancel.clone());
    app.tracker.spawn(async move {
        let period =
            (state.config.session_ttl / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
        let mut tick = tokio::time::interval(period);
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                _ = tick.tick() => state.expire_sessions(),
            }
        }
    });
    tracing::info!(addr = %local, "discord emulator listening");
    Ok(app)
}

impl State {
    /// Inflicts a fault on a tenant's connected sessions (optionally one shard);
    /// returns how many connections it reached.
    pub(crate) fn fault(
        &self,
        tenant: &str,
        fault: Fault,
        shard: Option<u32>,
    ) -> Result<usize, SimError> {
        let t = self
            .tenant_by_name(tenant)
            .ok_or_else(|| SimError::UnknownTenant(tenant.to_owned()))?;
        let mut n = 0;
        for s in &self.sessions {
            let on_shard = shard.is_none_or(|id| s.shard.unwrap_or([0, 1])[0] == id);
            if s.tenant != t || !on_shard {
                continue;
            }
            let cmd = match fault {
                Fault::Close { code } => ConnCmd::Close(code, "fault injected".into()),
                Fault::Reconnect => ConnCmd::Reconnect,
                Fault::InvalidSession { resumable } => ConnCmd::InvalidSession(resumable),
                Fault::StopHeartbeatAcks => ConnCmd::StopHeartbeatAcks,
                Fault::DropConnection => ConnCmd::Drop,
            };
            if s.command(cmd) {
                n += 1;
            }
        }
        tracing::debug!(tenant, ?fault, affected = n, "gateway fault injected");
        Ok(n)
    }
}
