//! [`AccessShared`]: what every tenant's access layer shares on a node.

use std::sync::Arc;

use crate::actors::gateway::SessionStore;
use crate::actors::rest::{BucketMemory, BudgetConfig, InvalidRequestBudget};
use crate::bus::Bus;
use crate::cluster::Cluster;
use crate::config::{BackendKind, Registry};
use crate::handler::{Interest, InterestCell};
use crate::model::TenantId;
use crate::providers::discord::interactions::{InteractionTokens, SharedTokenStore};
use crate::vault::VaultHandle;

/// What every tenant's access layer shares on a node. The root supervisor owns it
/// and hands it to each tenant it starts.
pub(crate) struct AccessShared {
    pub(super) bus: Bus,
    pub(super) vault: VaultHandle,
    /// Gateway sessions, so a restarted gateway resumes.
    sessions: tokio::sync::OnceCell<SessionStore>,
    /// Discord's invalid-request budget is per IP: one for the whole process.
    pub(super) budget: Arc<InvalidRequestBudget>,
    /// REST bucket gates kept for each tenant's next holder (in Redis with the
    /// Redis bus).
    pub(super) limits: BucketMemory,
    /// The cluster this node joined (Redis mode).
    cluster: Option<Cluster>,
    /// Interaction tokens shared by the cluster's access nodes (Redis mode).
    tokens: Option<SharedTokenStore>,
    /// Each tenant's handlers' interest, read by its gateway; the root sets it
    /// before tenants start and on every reload.
    interests: dashmap::DashMap<TenantId, InterestCell>,
}

impl AccessShared {
    pub(crate) fn new(
        bus: Bus,
        vault: VaultHandle,
        cluster: Option<Cluster>,
        tokens: Option<SharedTokenStore>,
    ) -> Self {
        Self {
            limits: BucketMemory::for_bus(&bus),
            bus,
            vault,
            sessions: tokio::sync::OnceCell::new(),
            budget: Arc::new(InvalidRequestBudget::new(BudgetConfig::default())),
            cluster,
            tokens,
            interests: dashmap::DashMap::new(),
        }
    }

    /// Tenant `t`'s interest cell (every event until the root sets it).
    pub(crate) fn interest(&self, t: &TenantId) -> InterestCell {
        self.interests.entry(t.clone()).or_default().clone()
    }

    /// Sets each tenant's interest; tenants not listed are forgotten.
    pub(crate) fn set_interests(&self, interests: &[(TenantId, Interest)]) {
        let listed: std::collections::HashSet<&TenantId> =
            interests.iter().map(|(t, _)| t).collect();
        self.interests.retain(|t, _| listed.contains(t));
        for (t, interest) in interests {
            self.interest(t).set(*interest);
        }
    }

    /// A tenant's interaction-token store: shared through Redis when configured.
    pub(crate) fn interaction_tokens(&self, tenant: &TenantId) -> InteractionTokens {
        match &self.tokens {
            Some(store) => InteractionTokens::shared(store.clone(), tenant.clone()),
            None => InteractionTokens::new(),
        }
    }

    /// The cluster this node joined, if any.
    pub(crate) fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref()
    }

    pub(crate) async fn sessions(&self, registry: &Registry) -> SessionStore {
        self.sessions
            .get_or_init(|| async {
                let rt = &registry.runtime;
                // Sessions live next to the bus when it is shared, so another node
                // taking the tenant over can resume.
                let url = match (rt.bus.backend, &rt.bus.url) {
                    (BackendKind::Redis, Some(url)) => Some(url.clone()),
                    _ => None,
                };
                match url {
                    Some(url) => match SessionStore::redis(&url, &rt.redis_prefix).await {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::warn!(error = %crate::Report(&e), "session store on Redis unavailable; keeping sessions in memory");
                            SessionStore::memory()
                        }
                    },
                    None => SessionStore::memory(),
                }
            })
            .await
            .clone()
    }
}
