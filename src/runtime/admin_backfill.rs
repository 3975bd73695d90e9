//! Backfills through the admin API: `POST /v1/tenants/{provider}/{tenant}/backfills`
//! publishes the `backfill` handler's job on the tenant's inbox; `GET
//! …/backfills/{channel}` reads its cursor and the channel's stored messages.
//!
//! Publishing needs only the bus, so any node can start a backfill (an access-only
//! node too): whichever worker serves the tenant runs it. Reading progress needs the
//! store, which only nodes that run workers open.

use super::admin_impl::AdminFacade;
use crate::admin::{AdminError, BackfillView};
use crate::model::{Envelope, Event, Payload, TenantId};
use crate::store::TenantStore;
use crate::store::indexer::{BackfillProgress, BackfillRequest};

impl AdminFacade {
    /// `provider/tenant` if it is a configured tenant: 400 for a malformed name,
    /// 404 for one the registry does not hold.
    fn known_tenant(&self, provider: &str, tenant: &str) -> Result<TenantId, AdminError> {
        let id = TenantId::parse(provider, tenant)
            .map_err(|e| AdminError::BadRequest(format!("invalid tenant id: {e}")))?;
        if self.0.view().registry.tenants.iter().any(|t| t.id() == id) {
            Ok(id)
        } else {
            Err(AdminError::NotFound(format!(
                "tenant {id} is not configured on this node"
            )))
        }
    }

    /// The tenant's store on this node, if it has one.
    fn tenant_store(&self, id: &TenantId) -> Option<TenantStore> {
        self.0.store.as_ref().map(|s| s.for_tenant(id))
    }

    pub(super) async fn publish_backfill(
        &self,
        provider: &str,
        tenant: &str,
        request: BackfillRequest,
    ) -> Result<BackfillView, AdminError> {
        let id = self.known_tenant(provider, tenant)?;
        let namespace = self.0.view().registry.namespace.clone();
        let envelope = Envelope::new(&namespace, &id, Payload::Event(Event::Job(request.job())))
            .map_err(|e| AdminError::Internal(format!("building the backfill job: {e}")))?;
        let job = envelope.id.to_string();
        self.0.bus.publish(envelope).await.map_err(|e| {
            AdminError::Internal(format!(
                "publishing the backfill job: {}",
                crate::Report(&e)
            ))
        })?;
        tracing::info!(tenant = %id, channel = %request.channel, limit = ?request.limit, %job, "backfill requested");
        let mut view = match self.tenant_store(&id) {
            Some(store) => read(&store, &id, &request.channel).await?,
            None => BackfillView {
                tenant: id.to_string(),
                channel: request.channel,
                progress: None,
                stored: None,
                job: None,
            },
        };
        view.job = Some(job);
        Ok(view)
    }

    pub(super) async fn read_backfill(
        &self,
        provider: &str,
        tenant: &str,
        channel: &str,
    ) -> Result<BackfillView, AdminError> {
        let id = self.known_tenant(provider, tenant)?;
        let Some(store) = self.tenant_store(&id) else {
            return Err(AdminError::Unsupported(format!(
                "this node has no store (runtime.store), so it cannot read backfill progress: ask a node that runs workers with runtime.store set (node role: {})",
                self.0.role.as_str()
            )));
        };
        read(&store, &id, channel).await
    }
}

/// The channel's cursor and stored messages.
async fn read(
    store: &TenantStore,
    id: &TenantId,
    channel: &str,
) -> Result<BackfillView, AdminError> {
    let internal = |e: crate::store::StoreError| AdminError::Internal(e.to_string());
    let progress = match store
        .cursor(&BackfillProgress::cursor_name(channel))
        .await
        .map_err(internal)?
    {
        Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
            AdminError::Internal(format!("the stored backfill cursor is not readable: {e}"))
        })?),
        None => None,
    };
    let stored = store
        .channel_messages_count(channel)
        .await
        .map_err(internal)?;
    Ok(BackfillView {
        tenant: id.to_string(),
        channel: channel.to_owned(),
        progress,
        stored: Some(stored),
        job: None,
    })
}
