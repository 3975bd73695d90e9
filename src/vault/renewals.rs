//! The renewal schedule: one task per vault renews every self-renewing [`Lease`] of
//! the process, in batches.
//!
//! A lease is due when a third of its TTL is left. When the task wakes for the
//! earliest due lease it also takes every lease due within the next sixth of its TTL
//! (renewing a little early costs nothing: the new expiry counts from now), and
//! hands them to the vault actor as one message, which renews them in one round trip
//! per chunk (`Backend::renew_many`). Leases granted at different times thus fall
//! into a few shared batches instead of one actor call, one Lua script and one audit
//! record each: a node's idle cost follows the number of batches, not of leases.
//!
//! Each lease keeps its own outcome: a renewed lease is scheduled again, one the
//! store could not be reached for is retried after a sixth of its TTL (at most 2 s)
//! and ends as expired once its time is up, and one the store refused (revoked,
//! lost exclusive lock, expired) has already been ended and reported by the actor.
//!
//! [`Lease`]: super::Lease

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::clock::Clock;
use super::error::VaultError;
use super::handle::WeakVault;
use super::lease::LeaseShared;

/// Most leases handed to the vault actor in one message, so one batch never holds
/// the actor for long.
const MAX_BATCH: usize = 512;

/// The sending side of the schedule, kept by the vault handle. The task ends when
/// every clone of the handle is gone.
#[derive(Debug)]
pub(crate) struct Renewals {
    tx: mpsc::UnboundedSender<Arc<LeaseShared>>,
}

impl Renewals {
    /// Spawns the schedule's task; it reaches the vault through `vault` and ends when
    /// the handle is gone.
    pub(crate) fn spawn(vault: WeakVault, clock: Clock) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(rx, vault, clock));
        Self { tx }
    }

    /// Schedules `lease`'s renewals (nothing for a lease that cannot be renewed).
    pub(crate) fn add(&self, lease: Arc<LeaseShared>) {
        if lease.wants_renewal() {
            // The task only ends with the handle, and the handle is what calls this.
            let _ = self.tx.send(lease);
        }
    }
}

/// A scheduled renewal.
struct Entry {
    lease: Arc<LeaseShared>,
    /// How long before its due time it may join an earlier batch (none for a retry).
    early_ms: u64,
}

/// Leases by when they are due (then by arrival, so equal due times stay apart).
#[derive(Default)]
struct Schedule {
    queue: BTreeMap<(u64, u64), Entry>,
    seq: u64,
}

impl Schedule {
    /// Schedules the regular renewal of `lease`, when a third of its TTL is left.
    fn renewal(&mut self, lease: Arc<LeaseShared>) {
        let early_ms = lease.ttl_ms / 6;
        self.insert(lease.renew_due_ms(), lease, early_ms);
    }

    /// Schedules a retry of `lease` at `due_ms`, exactly then.
    fn retry(&mut self, due_ms: u64, lease: Arc<LeaseShared>) {
        self.insert(due_ms, lease, 0);
    }

    fn insert(&mut self, due_ms: u64, lease: Arc<LeaseShared>, early_ms: u64) {
        self.seq += 1;
        self.queue
            .insert((due_ms, self.seq), Entry { lease, early_ms });
    }

    fn next_due(&self) -> Option<u64> {
        self.queue.first_key_value().map(|((due, _), _)| *due)
    }

    /// Takes the leases due by `now_ms`, plus those due within a sixth of their TTL
    /// after it, in due order, up to [`MAX_BATCH`]. Leases whose holder no longer
    /// wants them renewed are dropped.
    fn take_due(&mut self, now_ms: u64) -> Vec<Arc<LeaseShared>> {
        let mut batch = Vec::new();
        while batch.len() < MAX_BATCH {
            let Some(entry) = self.queue.first_entry() else {
                break;
            };
            let (due, _) = *entry.key();
            if due.saturating_sub(entry.get().early_ms) > now_ms {
                break;
            }
            let lease = entry.remove().lease;
            if lease.wants_renewal() {
                batch.push(lease);
            }
        }
        batch
    }
}

async fn run(mut rx: mpsc::UnboundedReceiver<Arc<LeaseShared>>, vault: WeakVault, clock: Clock) {
    let mut schedule = Schedule::default();
    loop {
        let next = schedule.next_due();
        tokio::select! {
            biased;
            added = rx.recv() => match added {
                Some(lease) => schedule.renewal(lease),
                None => return,
            },
            () = async {
                match next {
                    Some(due) => tokio::time::sleep_until(clock.instant_at(due)).await,
                    None => std::future::pending().await,
                }
            } => {
                let batch = schedule.take_due(clock.now_ms());
                if batch.is_empty() {
                    continue;
                }
                let Some(handle) = vault.upgrade() else { return };
                let before: Vec<u64> = batch.iter().map(|l| l.expires_ms()).collect();
                let results = handle.renew_batch(batch.clone()).await;
                drop(handle);
                for ((lease, expires), result) in batch.into_iter().zip(before).zip(results) {
                    settle(&mut schedule, clock, lease, expires, result);
                }
            }
        }
    }
}

/// What follows one lease's renewal: schedule it again, retry it, or let it go.
fn settle(
    schedule: &mut Schedule,
    clock: Clock,
    lease: Arc<LeaseShared>,
    expires_before: u64,
    result: Result<Duration, VaultError>,
) {
    match result {
        Ok(ttl) => {
            // The vault records the new expiry on the holder; should it not have,
            // record it here so the lease is never scheduled on a stale expiry.
            if lease.expires_ms() <= expires_before {
                lease.renewed(clock.now_ms() + ttl.as_millis() as u64);
            }
            if lease.wants_renewal() {
                schedule.renewal(lease);
            }
        }
        // The store or the actor (being replaced) did not answer: retry, until the
        // lease runs out.
        Err(e) if e.is_unavailable() || matches!(e, VaultError::Stopped) => {
            let now = clock.now_ms();
            if now >= lease.expires_ms() {
                lease.end(true);
            } else if lease.wants_renewal() {
                let retry = (lease.ttl_ms / 6).clamp(10, 2_000);
                schedule.retry(now + retry, lease);
            }
        }
        // Refused: the actor ended the lease (and told its holder) if it is over.
        Err(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::lease::NewLease;

    fn lease(clock: Clock, ttl_ms: u64, expires_ms: u64) -> Arc<LeaseShared> {
        let id = "discord/duck/bot_token/01J0000000000000000000000";
        let lease = NewLease::for_test(id, "discord/duck/bot_token", ttl_ms, expires_ms);
        Arc::new(LeaseShared::new(lease, clock))
    }

    #[tokio::test(start_paused = true)]
    async fn leases_due_within_a_sixth_of_their_ttl_join_the_batch() {
        let clock = Clock::new();
        let now = clock.now_ms();
        let mut schedule = Schedule::default();
        // TTL 30 s: due when 10 s are left, may join 5 s early.
        schedule.renewal(lease(clock, 30_000, now + 10_000)); // due now
        schedule.renewal(lease(clock, 30_000, now + 14_000)); // due in 4 s: joins
        schedule.renewal(lease(clock, 30_000, now + 16_000)); // due in 6 s: waits
        assert_eq!(schedule.next_due(), Some(now));
        assert_eq!(schedule.take_due(now).len(), 2);
        assert_eq!(schedule.next_due(), Some(now + 6_000));
        // A retry waits for its own time, never earlier.
        schedule.retry(now + 100, lease(clock, 30_000, now + 20_000));
        assert!(schedule.take_due(now + 99).is_empty());
        assert_eq!(schedule.take_due(now + 100).len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn leases_no_longer_wanted_are_dropped() {
        let clock = Clock::new();
        let now = clock.now_ms();
        let mut schedule = Schedule::default();
        let ended = lease(clock, 30_000, now + 10_000);
        ended.end(false);
        schedule.renewal(ended);
        schedule.renewal(lease(clock, 30_000, now + 10_000));
        assert_eq!(schedule.take_due(now).len(), 1);
        assert_eq!(schedule.next_due(), None);
    }
}
