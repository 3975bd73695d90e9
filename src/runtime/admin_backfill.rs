//! Backfills through the admin API: `POST /v1/tenants/{provider}/{tenant}/backfills`
//! publishes the `backfill` handler's job on the tenant's inbox; `GET
//! …/backfills/{channel}` reads its cursor, the channel's stored messages and the
//! run holding the channel's lease.
//!
//! Publishing needs only the bus, so any node can start a backfill (an access-only
//! node too): whichever worker serves the tenant runs it. A node that runs workers
//! also sees the handlers' state, where a running backfill holds its channel's
//! lease: it refuses a second start of a channel while a run holds it (409). A node
//! without workers cannot tell and publishes anyway; the handler's lease still lets
//! only one run page (the other job acks without paging). Two starts that race each
//! other both publish, for the same reason. Reading progress needs the store, which
//! only nodes that run workers open.

use super::admin_impl::AdminFacade;
use crate::admin::{AdminError, BackfillView};
use crate::model::{Envelope, Event, Payload, TenantId};
use crate::store::TenantStore;
use crate::store::indexer::{
    BackfillProgress, BackfillRequest, BackfillRun, BackfillState, active_run,
};

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

    /// The run holding `channel`'s backfill lease, if this node can see the
    /// handlers' state and one does. A state store that cannot answer is logged and
    /// counts as "cannot tell".
    async fn active_run(&self, id: &TenantId, channel: &str) -> Option<BackfillRun> {
        let state = self.0.state.as_ref()?.for_tenant(id);
        match active_run(&state, channel).await {
            Ok(run) => run,
            Err(e) => {
                tracing::warn!(tenant = %id, channel, error = %crate::Report(&e), "cannot read the backfill lease");
                None
            }
        }
    }

    pub(super) async fn publish_backfill(
        &self,
        provider: &str,
        tenant: &str,
        request: BackfillRequest,
    ) -> Result<BackfillView, AdminError> {
        let id = self.known_tenant(provider, tenant)?;
        let before = match self.tenant_store(&id) {
            Some(store) => Some(read(&store, &id, &request.channel).await?),
            None => None,
        };
        let progress = before.as_ref().and_then(|v| v.progress.as_ref());
        // A run that has just finished or failed still holds the lease for the
        // moment it takes to let it go: only a backfill still running conflicts.
        let running = progress.is_none_or(|p| p.state() == BackfillState::Running);
        if running && let Some(run) = self.active_run(&id, &request.channel).await {
            return Err(AdminError::Conflict(format!(
                "a backfill of channel {} is already running (run {}; {}): follow it with `switchboardctl backfill status {id} {}`",
                request.channel,
                run.id,
                describe(progress),
                request.channel
            )));
        }
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
        let mut view = match before {
            Some(view) => view,
            None => BackfillView {
                tenant: id.to_string(),
                channel: request.channel,
                progress: None,
                state: None,
                run: None,
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
        let mut view = read(&store, &id, channel).await?;
        view.run = self.active_run(&id, channel).await;
        Ok(view)
    }
}

/// `fetched 100 messages in 1 page`, or `no page fetched yet`.
fn describe(progress: Option<&BackfillProgress>) -> String {
    match progress {
        None => "no page fetched yet".to_owned(),
        Some(p) => format!(
            "fetched {} message{} in {} page{}",
            p.fetched,
            if p.fetched == 1 { "" } else { "s" },
            p.pages,
            if p.pages == 1 { "" } else { "s" }
        ),
    }
}

/// The channel's cursor and stored messages.
async fn read(
    store: &TenantStore,
    id: &TenantId,
    channel: &str,
) -> Result<BackfillView, AdminError> {
    let internal = |e: crate::store::StoreError| AdminError::Internal(e.to_string());
    let progress: Option<BackfillProgress> = match store
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
        state: Some(
            progress
                .as_ref()
                .map_or(BackfillState::Running, BackfillProgress::state),
        ),
        progress,
        run: None,
        stored: Some(stored),
        job: None,
    })
}
