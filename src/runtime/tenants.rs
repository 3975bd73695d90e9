//! One tenant's access layer under supervision: its `GatewayActor` and `RestActor`,
//! restarted one-for-one with backoff within the restart budget; a fatal failure
//! (rejected token) or a spent budget marks the tenant failed and leaves it stopped,
//! while every other tenant keeps running.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::RwLock;

use super::RuntimeInner;
use crate::admin::{TenantState, TenantStatus};
use crate::config::{Registry, TenantConfig};

/// What every tenant's access layer shares (filled in with the access layer).
pub(crate) struct AccessShared {}

impl AccessShared {
    pub(crate) fn new() -> Self {
        Self {}
    }
}

/// State readable without an actor round trip.
pub(crate) struct TenantShared {
    pub(crate) state: RwLock<(TenantState, Option<String>)>,
    pub(crate) restarts: AtomicU64,
}

/// A supervised tenant.
pub(crate) struct TenantEntry {
    pub(crate) config: Arc<TenantConfig>,
    pub(crate) fingerprint: [u8; 32],
    pub(crate) shared: Arc<TenantShared>,
}

impl TenantEntry {
    pub(crate) async fn start(
        _rt: &Arc<RuntimeInner>,
        config: Arc<TenantConfig>,
        _registry: &Registry,
    ) -> Self {
        let shared = Arc::new(TenantShared {
            state: RwLock::new((TenantState::Starting, None)),
            restarts: AtomicU64::new(0),
        });
        Self {
            fingerprint: super::credentials::fingerprint(&config),
            config,
            shared,
        }
    }

    pub(crate) async fn stop(self) {
        *self.shared.state.write().await = (TenantState::Stopped, None);
    }

    pub(crate) async fn status(&self, inbox: u64) -> TenantStatus {
        let (state, reason) = self.shared.state.read().await.clone();
        TenantStatus {
            id: self.config.id().to_string(),
            state,
            reason,
            restarts: self.shared.restarts.load(Ordering::Relaxed),
            shards: Vec::new(),
            rest: None,
            inbox,
        }
    }
}
