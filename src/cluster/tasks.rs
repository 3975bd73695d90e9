//! The cluster's background tasks: the heartbeat (write this node's record, read the
//! others', rebalance) and the listener for announced lease releases. Each gets the
//! shared state and a cancellation token, nothing else.

use std::sync::{Arc, PoisonError};

use fred::prelude::*;
use fred::types::Expiration;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::{NodeRecord, Shared};

impl Shared {
    /// One heartbeat: write this node's record, read every live record, forget ids
    /// whose record expired.
    pub(super) async fn beat(&self) -> Result<(), fred::error::Error> {
        let me = self.record();
        let json = serde_json::to_string(&me).unwrap_or_default();
        let ttl = Expiration::PX(self.config.node_ttl.as_millis() as i64);
        let pipe = self.client.pipeline();
        let () = pipe
            .set(self.keys.node(&self.me), json, Some(ttl), None, false)
            .await?;
        let () = pipe.sadd(self.keys.nodes(), self.me.as_str()).await?;
        let () = pipe.smembers(self.keys.nodes()).await?;
        let replies: Vec<Value> = pipe.all().await?;
        let ids: Vec<String> = replies
            .into_iter()
            .nth(2)
            .map(Value::convert)
            .transpose()?
            .unwrap_or_default();
        let keys: Vec<String> = ids.iter().map(|id| self.keys.node(id)).collect();
        let records: Vec<Option<String>> = if keys.is_empty() {
            Vec::new()
        } else {
            self.client.mget(keys).await?
        };
        let mut view = Vec::with_capacity(ids.len());
        let mut gone = Vec::new();
        for (id, raw) in ids.into_iter().zip(records) {
            match raw.and_then(|r| serde_json::from_str::<NodeRecord>(&r).ok()) {
                Some(rec) if rec.id == self.me => {}
                Some(rec) => view.push(rec),
                None => gone.push(id),
            }
        }
        view.push(me);
        view.sort_by(|a, b| a.id.cmp(&b.id));
        let lost = {
            let mut current = self.view.write().unwrap_or_else(PoisonError::into_inner);
            let lost = current
                .iter()
                .any(|old| !view.iter().any(|n| n.id == old.id));
            *current = view;
            lost
        };
        if lost {
            let f = self
                .on_node_lost
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if let Some(f) = f {
                tracing::info!(node = %self.me, "a node left the cluster");
                f();
            }
        }
        if !gone.is_empty() {
            let () = self.client.srem(self.keys.nodes(), gone).await?;
        }
        Ok(())
    }
}

/// Heartbeats until cancelled; logs only when the registry becomes unreachable or
/// reachable again.
pub(super) async fn heartbeat(shared: Arc<Shared>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(shared.config.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ok = true;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        match shared.beat().await {
            Ok(()) => {
                if !ok {
                    tracing::info!(node = %shared.me, "cluster heartbeat restored");
                    ok = true;
                }
                shared.rebalance();
            }
            Err(e) => {
                if ok {
                    tracing::warn!(node = %shared.me, error = %crate::Report(&e), "cluster heartbeat failed");
                    ok = false;
                }
                metrics::counter!("switchboard_cluster_heartbeat_errors_total").increment(1);
            }
        }
    }
}

/// Listens for announced lease releases, subscribing again after each reconnect.
pub(super) async fn listen(shared: Arc<Shared>, subscriber: Client, cancel: CancellationToken) {
    let released = shared.keys.released();
    let changed = super::tenants::TenantStore::channel(shared.keys.prefix());
    let channels = vec![released.clone(), changed.clone()];
    let mut messages = subscriber.message_rx();
    let mut reconnects = subscriber.reconnect_rx();
    if let Err(e) = subscriber.subscribe(channels.clone()).await {
        tracing::warn!(error = %crate::Report(&e), "cannot subscribe to cluster announcements; standbys wait for expiry");
    }
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            m = messages.recv() => match m {
                Ok(m) if *m.channel == *changed => shared.tenants_changed(),
                Ok(m) => {
                    if let Some(tenant) = m.value.as_str() {
                        shared.released(&tenant);
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
            r = reconnects.recv() => match r {
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    if let Err(e) = subscriber.subscribe(channels.clone()).await {
                        tracing::debug!(error = %crate::Report(&e), "re-subscribing to lease releases failed");
                    }
                }
                Err(RecvError::Closed) => return,
            },
        }
    }
}
