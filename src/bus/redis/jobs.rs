//! Job slots on Redis: claim, last fired slot and publish in one script
//! (see `bus/jobs.rs`).

use fred::bytes::Bytes;
use fred::prelude::*;

use super::{RedisBackend, ring, scripts};
use crate::bus::BusError;
use crate::bus::jobs::JobSlot;
use crate::model::{Envelope, TenantId, encode};

impl RedisBackend {
    pub(crate) async fn publish_job(
        &self,
        env: Envelope,
        slot: &JobSlot<'_>,
    ) -> Result<bool, BusError> {
        let t = env.tenant_id();
        self.ensure_tenant(&t).await?;
        let keys = vec![
            self.keys.job_slot(&t, slot.schedule, slot.slot_ms),
            self.keys.job_last(&t, slot.schedule),
            self.keys.inbox(&t, env.priority()),
            self.keys.ring(),
        ];
        let args = vec![
            Value::from(env.id.to_string()),
            Value::from(slot.keep.as_millis().max(1) as i64),
            Value::from(slot.slot_ms),
            Value::Bytes(Bytes::from(encode(&env)?)),
            Value::from(ring::RING_MAX_LEN),
        ];
        let fired: i64 = scripts::JOB_XADD
            .evalsha_with_reload(&self.client, keys, args)
            .await?;
        Ok(fired == 1)
    }

    pub(crate) async fn last_job_slot(
        &self,
        t: &TenantId,
        schedule: &str,
    ) -> Result<Option<i64>, BusError> {
        let last: Option<i64> = self.client.get(self.keys.job_last(t, schedule)).await?;
        Ok(last)
    }
}
