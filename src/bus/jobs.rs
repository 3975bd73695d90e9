//! Scheduled jobs on the bus: a job envelope is published together with its slot's
//! claim, so a slot fires at most once across every node (the claim) and at least
//! once while a node runs (claim and publish are one step: no node can die between
//! them holding a claim it never published).
//!
//! On Redis that step is a Lua script (`redis/jobs.rs`): `SET NX PX` of the slot's
//! claim, the tenant's last fired slot, the `XADD` to the inbox and the doorbell
//! ring. In process the claims live here, under one lock, and the envelope goes to
//! the scheduler queue like any publish.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::delivery::Receipt;
use super::{Backend, Bus, BusError};
use crate::model::{Envelope, TenantId};

/// One slot of one schedule, as the bus claims it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JobSlot<'a> {
    /// The schedule's name (a validated segment).
    pub(crate) schedule: &'a str,
    /// The slot, Unix milliseconds.
    pub(crate) slot_ms: i64,
    /// How long the claim is kept: longer than any node could be late for the slot.
    pub(crate) keep: Duration,
}

/// Claims and last fired slots of the in-process backend.
#[derive(Default)]
pub(crate) struct MemoryJobs {
    schedules: Mutex<HashMap<(TenantId, String), Slots>>,
}

#[derive(Default)]
struct Slots {
    /// Claimed slots, by slot, with when each claim expires.
    claimed: BTreeMap<i64, tokio::time::Instant>,
    last: Option<i64>,
}

impl MemoryJobs {
    /// Takes the claim of `slot` for `tenant`: `false` if it is held.
    fn claim(&self, tenant: &TenantId, slot: &JobSlot<'_>) -> bool {
        let now = tokio::time::Instant::now();
        let mut all = self
            .schedules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let s = all
            .entry((tenant.clone(), slot.schedule.to_owned()))
            .or_default();
        s.claimed.retain(|_, until| *until > now);
        if s.claimed.contains_key(&slot.slot_ms) {
            return false;
        }
        s.claimed.insert(slot.slot_ms, now + slot.keep);
        s.last = Some(s.last.map_or(slot.slot_ms, |l| l.max(slot.slot_ms)));
        true
    }

    fn last(&self, tenant: &TenantId, schedule: &str) -> Option<i64> {
        self.schedules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&(tenant.clone(), schedule.to_owned()))
            .and_then(|s| s.last)
    }
}

impl Bus {
    /// Publishes the job `envelope` if `slot` is not claimed yet, claiming it and
    /// recording it as the schedule's last fired slot in the same step. `Ok(false)`:
    /// another node (or an earlier attempt) fired the slot.
    ///
    /// # Errors
    /// [`BusError::Closed`] after shutdown, [`BusError::Redis`] when Redis fails (the
    /// slot is then neither claimed nor published: the caller may try again).
    pub(crate) async fn publish_job(
        &self,
        envelope: Envelope,
        slot: JobSlot<'_>,
    ) -> Result<bool, BusError> {
        let tenant = envelope.tenant_id();
        let fired = match &self.inner.backend {
            Backend::Memory(m) => {
                if !m.jobs.claim(&tenant, &slot) {
                    return Ok(false);
                }
                self.enqueue(envelope, Receipt::Memory).await?;
                true
            }
            Backend::Redis(r) => r.publish_job(envelope, &slot).await?,
        };
        if fired {
            self.inner
                .counters
                .published
                .fetch_add(1, Ordering::Relaxed);
        }
        Ok(fired)
    }

    /// The last slot of `tenant`'s `schedule` that any node fired, if one is known.
    ///
    /// # Errors
    /// [`BusError::Redis`] when Redis fails.
    pub(crate) async fn last_job_slot(
        &self,
        tenant: &TenantId,
        schedule: &str,
    ) -> Result<Option<i64>, BusError> {
        match &self.inner.backend {
            Backend::Memory(m) => Ok(m.jobs.last(tenant, schedule)),
            Backend::Redis(r) => r.last_job_slot(tenant, schedule).await,
        }
    }
}
