//! [`BucketMemory`]: what a tenant's bucket gate knew, kept for the next holder of
//! its REST actor — the actor restarted in this process, the daemon restarted, or
//! another node taking the tenant over — so the first requests after a hand-over
//! do not run into a window the previous holder spent (zero 429s across restarts).
//!
//! - **In this process** the gate itself is kept per tenant and handed to the
//!   actor's next start, exact, unless the actor stopped cleanly and handed it over
//!   to Redis.
//! - **With the Redis bus**, hash `P:{p:t}:rest:limits` (expires 7 days after its
//!   last write):
//!   - field `layout`: each route's bucket, each bucket's limit and longest window.
//!     Saved whenever it changes — a new route or bucket, a longer window — which
//!     is rare, never per request;
//!   - field `state`: every bucket's exact state, saved by a clean stop after its
//!     drain, and removed by the next holder as it reads it.
//!
//!   A holder that finds a `layout` without `state` knows its predecessor died
//!   mid-window (kill -9, a lost node): every bucket the layout names starts spent
//!   for one window plus a margin, since the dead holder's last requests are
//!   unknown. Routes the layout does not name probe one request at a time, as
//!   always.
//! - **Without Redis**, a restarted process starts empty: its first request per
//!   route probes, and can meet a window its predecessor spent.
//!
//! Failing to read or write the memory never stops the actor: it logs a warning
//! and starts from an empty gate.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use fred::prelude::*;

use super::buckets::{BucketGate, GateLayout, GateState};
use crate::Report;
use crate::bus::{Bus, RedisKeys};
use crate::model::TenantId;

/// How long an unused tenant's memory stays in Redis.
const KEPT: Duration = Duration::from_secs(7 * 24 * 3600);

/// Field names of the Redis hash.
const LAYOUT: &str = "layout";
const STATE: &str = "state";

/// Where REST actors keep their bucket gates between holders; one per node (the
/// runtime makes it from its bus), cheap to clone.
#[derive(Clone, Default)]
pub struct BucketMemory {
    local: Arc<DashMap<TenantId, Arc<BucketGate>>>,
    redis: Option<RedisMemory>,
}

#[derive(Clone)]
struct RedisMemory {
    client: Client,
    keys: RedisKeys,
}

impl std::fmt::Debug for BucketMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BucketMemory")
            .field("tenants", &self.local.len())
            .field("redis", &self.redis.is_some())
            .finish()
    }
}

/// Why the memory could not be read or written (logged, never fatal).
#[derive(Debug, thiserror::Error)]
enum MemoryError {
    #[error("Redis")]
    Redis(#[from] fred::error::Error),
    #[error("the {field} field is not valid JSON")]
    Json {
        field: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl BucketMemory {
    /// Kept in this process only (a restarted process starts empty). The runtime
    /// uses [`BucketMemory::for_bus`]; tests build actors with this.
    #[cfg(feature = "internals")]
    #[must_use]
    pub fn in_process() -> Self {
        Self::default()
    }

    /// The Redis hash a tenant's memory is kept in, under key prefix `prefix` (for
    /// tests that inspect or damage it).
    #[cfg(feature = "internals")]
    #[must_use]
    pub fn redis_key(prefix: &str, tenant: &TenantId) -> String {
        RedisKeys::new(prefix).rest_limits(tenant)
    }

    /// Kept next to `bus`: in its Redis when it is the Redis bus (so a restarted
    /// daemon or another node taking a tenant over goes on where the last holder
    /// stopped), else in this process.
    #[must_use]
    pub fn for_bus(bus: &Bus) -> Self {
        let redis = bus.redis_backend().map(|r| RedisMemory {
            client: r.client.clone(),
            keys: r.keys.clone(),
        });
        Self {
            local: Arc::default(),
            redis,
        }
    }

    /// The gate a starting REST actor of `tenant` uses: the one this process kept,
    /// else one seeded from Redis, else an empty one.
    pub(crate) async fn gate(&self, tenant: &TenantId) -> Arc<BucketGate> {
        if let Some(g) = self.local.get(tenant) {
            return Arc::clone(&g);
        }
        let gate = match &self.redis {
            Some(r) => match r.load(tenant).await {
                Ok(Some((layout, state))) => {
                    tracing::debug!(
                        routes = layout.routes.len(),
                        clean = state.is_some(),
                        "bucket gate seeded from the previous holder"
                    );
                    BucketGate::seeded(&layout, state.as_ref())
                }
                Ok(None) => BucketGate::default(),
                Err(e) => {
                    tracing::warn!(error = %Report(&e), "cannot read the previous holder's buckets; starting without them");
                    BucketGate::default()
                }
            },
            None => BucketGate::default(),
        };
        let gate = Arc::new(gate);
        self.local.insert(tenant.clone(), Arc::clone(&gate));
        gate
    }

    /// Saves the gate's layout when it changed (in Redis; in-process memory holds
    /// the gate itself).
    pub(crate) async fn save_layout(&self, tenant: &TenantId, gate: &BucketGate) {
        let Some(r) = &self.redis else { return };
        let Some(layout) = gate.take_layout() else {
            return;
        };
        if let Err(e) = r.save(tenant, &layout, None).await {
            tracing::warn!(error = %Report(&e), "cannot save the bucket layout");
        }
    }

    /// The actor stopped. `clean`: nothing it sent is unanswered, so the gate's
    /// state is exact and is handed over whole (to Redis, when there is one; then
    /// this process forgets the gate, since another node may hold the tenant
    /// next). Otherwise the gate stays in this process for the next start.
    pub(crate) async fn stopped(&self, tenant: &TenantId, gate: &BucketGate, clean: bool) {
        let Some(r) = &self.redis else { return };
        if !clean {
            // Not exact: the next holder (here or elsewhere) is careful instead.
            self.save_layout(tenant, gate).await;
            return;
        }
        let (layout, state) = gate.hand_over();
        match r.save(tenant, &layout, Some(&state)).await {
            Ok(()) => {
                self.local.remove(tenant);
            }
            Err(e) => {
                tracing::warn!(error = %Report(&e), "cannot hand the buckets over");
            }
        }
    }
}

impl RedisMemory {
    /// The layout and (after a clean stop) the state; the state is removed as it is
    /// read, so this holder's own death is seen as unclean.
    async fn load(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<(GateLayout, Option<GateState>)>, MemoryError> {
        let key = self.keys.rest_limits(tenant);
        let p = self.client.pipeline();
        let _: Value = p.hmget(&key, vec![LAYOUT, STATE]).await?;
        let _: Value = p.hdel(&key, STATE).await?;
        let (fields, _): (Vec<Option<String>>, u64) = p.all().await?;
        let mut fields = fields.into_iter();
        let (layout, state) = (fields.next().flatten(), fields.next().flatten());
        let Some(layout) = layout else {
            return Ok(None);
        };
        let layout = serde_json::from_str(&layout).map_err(|source| MemoryError::Json {
            field: LAYOUT,
            source,
        })?;
        let state = state
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|source| MemoryError::Json {
                field: STATE,
                source,
            })?;
        Ok(Some((layout, state)))
    }

    async fn save(
        &self,
        tenant: &TenantId,
        layout: &GateLayout,
        state: Option<&GateState>,
    ) -> Result<(), MemoryError> {
        let key = self.keys.rest_limits(tenant);
        let encode = |field: &'static str, v: Result<String, serde_json::Error>| {
            v.map_err(|source| MemoryError::Json { field, source })
        };
        let mut fields = vec![(LAYOUT, encode(LAYOUT, serde_json::to_string(layout))?)];
        if let Some(state) = state {
            fields.push((STATE, encode(STATE, serde_json::to_string(state))?));
        }
        let p = self.client.pipeline();
        let _: Value = p.hset(&key, fields).await?;
        let _: Value = p.pexpire(&key, KEPT.as_millis() as i64, None).await?;
        let _: Vec<Value> = p.all().await?;
        Ok(())
    }
}
