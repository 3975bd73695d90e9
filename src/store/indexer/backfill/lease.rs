//! One run per channel: the lease a backfill run holds in the tenant's state.
//!
//! A run is named by the id of its first job's envelope; its continuations carry
//! that id, and a redelivered job (a retry, or the same entry after a crash) has it
//! too, so they all hold the lease as the same holder. The lease is a
//! [`TenantState`] session (`backfill-run`, scoped to the channel, owned by the run):
//! taking it is atomic in both backends (a per-key lock in memory, a Lua script in
//! Redis), a start by the holder refreshes it, anyone else is refused until it
//! expires. Its TTL is a little longer than the handler timeout, and the run takes it
//! again after every page, so a run killed mid-page leaves it held for one handler
//! timeout at most; the run's own redelivery takes it back at once.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::state::{StateError, Takeover, TenantState};

/// The session kind of backfill run leases (scope: the channel, owner: the run).
const KIND: &str = "backfill-run";

/// How much longer than the handler timeout a lease lives: a run renews it after
/// every page and a handler never runs past its timeout, so only a dead run lets it
/// expire.
pub(super) const LEASE_SLACK: Duration = Duration::from_secs(10);

/// The run holding a channel's lease, as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillRun {
    /// The run: the id of its first job's envelope.
    pub id: String,
    /// When it first took the lease (Unix ms).
    pub started_ms: u64,
    /// When the lease expires unless the run renews it (Unix ms).
    pub expires_ms: u64,
}

/// What taking a channel's lease found.
#[derive(Debug)]
pub(super) enum Take {
    /// The run holds it now (took it, or already held it).
    Taken(RunLease),
    /// Another run holds it.
    Held(BackfillRun),
}

/// A channel's lease, held by one run.
#[derive(Debug)]
pub(super) struct RunLease {
    state: TenantState,
    channel: String,
    run: String,
    ttl: Duration,
}

impl RunLease {
    /// Takes `channel`'s lease for `run` (or refreshes it, if `run` holds it) for
    /// `ttl`.
    ///
    /// # Errors
    /// [`StateError`] when the state store cannot answer.
    pub(super) async fn take(
        state: TenantState,
        channel: &str,
        run: &str,
        ttl: Duration,
    ) -> Result<Take, StateError> {
        let lease = Self {
            state,
            channel: channel.to_owned(),
            run: run.to_owned(),
            ttl,
        };
        match lease.renew().await? {
            None => Ok(Take::Taken(lease)),
            Some(holder) => Ok(Take::Held(holder)),
        }
    }

    /// Takes the lease again for another TTL: `None` if the run still holds it, or
    /// the run that took it over (after it expired).
    ///
    /// # Errors
    /// As [`RunLease::take`].
    pub(super) async fn renew(&self) -> Result<Option<BackfillRun>, StateError> {
        let started = self
            .state
            .session_start(
                KIND,
                &self.channel,
                &self.run,
                self.ttl,
                &[],
                Takeover::Never,
            )
            .await;
        match started {
            Ok(_) => Ok(None),
            Err(StateError::SessionHeld { owner, left, .. }) => Ok(Some(BackfillRun {
                id: owner,
                started_ms: 0,
                expires_ms: crate::model::now_ms()
                    .saturating_add(u64::try_from(left.as_millis()).unwrap_or(u64::MAX)),
            })),
            Err(e) => Err(e),
        }
    }

    /// The run holding the lease.
    pub(super) fn run(&self) -> &str {
        &self.run
    }

    /// Lets the lease go (the run ended); a lease another run took meanwhile is left
    /// alone. A failure is logged: the lease then expires on its own.
    pub(super) async fn release(self) {
        if let Err(e) = self
            .state
            .session_stop(KIND, &self.channel, Some(&self.run))
            .await
        {
            tracing::warn!(channel = %self.channel, run = %self.run, error = %crate::Report(&e), "releasing the backfill lease failed; it expires on its own");
        }
    }
}

/// The run holding `channel`'s lease in `state`, if any.
///
/// # Errors
/// [`StateError`] when the state store cannot answer.
pub async fn active_run(
    state: &TenantState,
    channel: &str,
) -> Result<Option<BackfillRun>, StateError> {
    Ok(state
        .session_info(KIND, channel)
        .await?
        .map(|s| BackfillRun {
            id: s.owner,
            started_ms: s.started_ms,
            expires_ms: s.expires_ms,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TenantId;
    use crate::state::StateStore;

    fn state() -> TenantState {
        StateStore::memory().for_tenant(&TenantId::parse("discord", "duck").unwrap())
    }

    #[tokio::test]
    async fn backfill_lease_admits_one_run_and_its_own_redeliveries() {
        let state = state();
        let ttl = Duration::from_secs(60);
        let Take::Taken(a) = RunLease::take(state.clone(), "42", "run-a", ttl)
            .await
            .unwrap()
        else {
            panic!("a free lease is taken");
        };
        // Another run is refused and told who holds it.
        match RunLease::take(state.clone(), "42", "run-b", ttl)
            .await
            .unwrap()
        {
            Take::Held(holder) => assert_eq!(holder.id, "run-a"),
            Take::Taken(_) => panic!("two runs hold one channel"),
        }
        // Another channel is free.
        assert!(matches!(
            RunLease::take(state.clone(), "43", "run-b", ttl)
                .await
                .unwrap(),
            Take::Taken(_)
        ));
        // The same run (a redelivery, a continuation) takes it again at once.
        let Take::Taken(again) = RunLease::take(state.clone(), "42", "run-a", ttl)
            .await
            .unwrap()
        else {
            panic!("the holder is refused its own lease");
        };
        assert_eq!(again.run(), "run-a");
        assert_eq!(a.renew().await.unwrap(), None);
        let active = active_run(&state, "42").await.unwrap().unwrap();
        assert_eq!(active.id, "run-a");
        assert!(active.expires_ms > active.started_ms);
        a.release().await;
        assert_eq!(active_run(&state, "42").await.unwrap(), None);
        assert!(matches!(
            RunLease::take(state.clone(), "42", "run-b", ttl)
                .await
                .unwrap(),
            Take::Taken(_)
        ));
    }

    #[tokio::test]
    async fn an_expired_backfill_lease_goes_to_the_next_run() {
        let state = state();
        let short = Duration::from_millis(30);
        let Take::Taken(a) = RunLease::take(state.clone(), "42", "run-a", short)
            .await
            .unwrap()
        else {
            panic!("a free lease is taken");
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while active_run(&state, "42").await.unwrap().is_some() {
            assert!(tokio::time::Instant::now() < deadline, "never expired");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let Take::Taken(b) = RunLease::take(state.clone(), "42", "run-b", Duration::from_secs(60))
            .await
            .unwrap()
        else {
            panic!("an expired lease is free");
        };
        // The run that lost it learns who took it, and its release leaves b's alone.
        assert_eq!(a.renew().await.unwrap().map(|r| r.id), Some("run-b".into()));
        a.release().await;
        assert_eq!(
            active_run(&state, "42").await.unwrap().map(|r| r.id),
            Some("run-b".into())
        );
        b.release().await;
    }
}
