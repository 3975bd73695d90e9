//! Recovering from a Redis that lost its data (restarted empty, flushed, failed over
//! to a replica that had not caught up).
//!
//! The backend remembers which tenants' streams and groups it created (`known`), so
//! it does not re-create them on every publish. When Redis comes back empty that
//! memory is wrong: a publish recreates an inbox stream (`XADD` makes it) without its
//! consumer group, and every `XREADGROUP`, `XAUTOCLAIM`, `XACK` and `XCLAIM` on it
//! answers `NOGROUP` for ever. So every read, claim and settle path treats `NOGROUP`
//! as "this tenant's groups are gone": it forgets the tenant and re-creates its streams
//! and groups (`XGROUP CREATE ... 0 MKSTREAM`, `BUSYGROUP` tolerated, so several nodes
//! doing it at once is harmless), then carries on. Groups start at id `0`, so entries
//! published into the bare stream before the group came back are still delivered.
//!
//! The fetchers also notice the loss before any read fails: a tenant this node knows
//! that is missing from the shared tenant set means the set was lost with the rest.
//!
//! Loops back off (100 ms doubling to 2 s) while Redis keeps failing, so an outage
//! costs a handful of log lines per second at most, and nothing spins.

use std::collections::BTreeSet;
use std::time::Duration;

use fred::prelude::*;

use super::RedisBackend;
use crate::bus::error::BusError;
use crate::model::TenantId;

/// Whether Redis answered that a consumer group (or its stream) does not exist.
pub(crate) fn is_nogroup(e: &fred::error::Error) -> bool {
    e.details().contains("NOGROUP")
}

/// A pause after consecutive failures: 100 ms, doubling to 2 s; reset on success.
#[derive(Debug, Default)]
pub(crate) struct ErrorBackoff {
    failures: u32,
}

impl ErrorBackoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(2);

    /// Records a success: the next failure waits the shortest pause again.
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }

    /// Records a failure and returns how long to wait before trying again.
    pub(crate) fn next_pause(&mut self) -> Duration {
        let pause = Self::FIRST
            .saturating_mul(1 << self.failures.min(5))
            .min(Self::MAX);
        self.failures = self.failures.saturating_add(1);
        pause
    }

    /// Records a failure and waits its pause (or until `cancel`).
    pub(crate) async fn wait(&mut self, cancel: &tokio_util::sync::CancellationToken) {
        let pause = self.next_pause();
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = cancel.cancelled() => {}
        }
    }
}

impl RedisBackend {
    /// Forgets that `t`'s streams and groups exist and creates them again; logs and
    /// counts the groups that were actually missing. `during` names the command that
    /// found them gone.
    pub(crate) async fn recreate_groups(&self, t: &TenantId, during: &'static str) {
        self.known.remove(t);
        let created = self.ensure_known(t).await;
        // New groups read from the start: look at every stream again.
        self.mark_tenant_dirty(t);
        match created {
            Ok(0) => {}
            Ok(n) => {
                metrics::counter!("switchboard_bus_groups_recreated_total").increment(n as u64);
                tracing::warn!(
                    provider = %t.provider, tenant = %t.tenant, groups = n, during,
                    "consumer groups were gone (Redis lost its data?); re-created them"
                );
            }
            Err(e) => tracing::warn!(
                provider = %t.provider, tenant = %t.tenant, during, error = %crate::Report(&e),
                "cannot re-create consumer groups yet"
            ),
        }
    }

    /// [`Self::recreate_groups`] for the tenants owning `streams` (each once).
    pub(crate) async fn recreate_groups_of<'a>(
        &self,
        streams: impl IntoIterator<Item = &'a str>,
        during: &'static str,
    ) {
        let tenants: BTreeSet<TenantId> = streams
            .into_iter()
            .filter_map(|s| self.keys.tenant_of(s))
            .collect();
        for t in &tenants {
            self.recreate_groups(t, during).await;
        }
    }

    /// Checks the replies of a pipeline that acknowledged (or re-claimed) entries of
    /// `stream`. `NOGROUP` means the group, and the entries with it, are gone: there
    /// is nothing left to settle, so it is not an error, but the groups are
    /// re-created. Returns the first other error.
    pub(crate) async fn settled(
        &self,
        stream: &str,
        replies: Vec<Result<Value, fred::error::Error>>,
    ) -> Result<(), BusError> {
        let mut nogroup = false;
        let mut first = None;
        for r in replies {
            match r {
                Err(e) if is_nogroup(&e) => nogroup = true,
                Err(e) => {
                    first.get_or_insert(e);
                }
                Ok(_) => {}
            }
        }
        if nogroup {
            self.recreate_groups_of([stream], "XACK").await;
        }
        first.map_or(Ok(()), |e| Err(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let mut b = ErrorBackoff::default();
        let pauses: Vec<u128> = (0..8).map(|_| b.next_pause().as_millis()).collect();
        assert_eq!(pauses, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
        b.reset();
        assert_eq!(b.next_pause(), Duration::from_millis(100));
    }
}
