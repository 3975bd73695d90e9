//! Standby and placement for a tenant's supervisor: looking at the gateway lease,
//! waiting for it to expire or be released, waiting its turn by placement, handing
//! the tenant off when the cluster asks, and announcing releases.
//!
//! A tenant whose lease another node holds is standby here: not failed, not
//! restarting, no restart budget spent. The supervisor asks the vault how long the
//! lease is still held and sleeps that long (plus jitter, so several standbys do not
//! all try at once) — one read per lease lifetime — or until the cluster announces
//! that the holder released it. A free lease is taken at once by the node placement
//! prefers and after a short wait by the others ([`crate::cluster::placement`]).

use std::time::Duration;

use ractor::ActorRef;

use super::{Child, SupMsg, SupState, TenantSupervisor};
use crate::actors::gateway::GatewayExit;
use crate::admin::TenantState;
use crate::cluster::Signal;

/// How long a standby waits after a failed look at the lease (store unreachable).
const STANDBY_RETRY: Duration = Duration::from_secs(1);

/// How long a node that handed a tenant off leaves it to the others (without a
/// cluster view this is never used).
const HOLD_OFF: Duration = Duration::from_secs(3);

/// 20 ms past expiry plus up to a twentieth of the TTL (at most 250 ms), random.
fn standby_jitter(ttl: Duration) -> Duration {
    let spread = (ttl / 20).min(Duration::from_millis(250)).as_millis() as u64;
    Duration::from_millis(20 + rand::random_range(0..=spread))
}

impl TenantSupervisor {
    /// Stands by (no budget spent) with `reason`, and looks at the lease again in
    /// `after` (`claim`: take it then if it is free).
    fn standby(
        state: &SupState,
        myself: &ActorRef<SupMsg>,
        after: Duration,
        claim: bool,
        reason: &str,
    ) {
        let shared = &state.ctx.shared;
        if shared.get().0 != TenantState::Standby {
            let t = state.ctx.config.id();
            tracing::info!(provider = %t.provider, tenant = %t.tenant, reason, "standing by");
            metrics::counter!("switchboard_tenant_standby_total").increment(1);
        }
        shared.set(TenantState::Standby, Some(reason.to_owned()));
        myself.send_after(after, move || SupMsg::CheckLease { claim });
    }

    /// Looks at the gateway lease: starts the gateway if it is free and it is this
    /// node's turn (`claim`, or placement says so), else sleeps until it could be.
    pub(super) async fn check_lease(state: &mut SupState, myself: &ActorRef<SupMsg>, claim: bool) {
        if state.ctx.shared.gateway().is_some() {
            return;
        }
        if let Some(until) = state.hold_until {
            let now = tokio::time::Instant::now();
            if now < until {
                Self::standby(
                    state,
                    myself,
                    until - now,
                    false,
                    "handed off to another node",
                );
                return;
            }
            state.hold_until = None;
        }
        let c = &state.ctx;
        let path = match crate::actors::access::lease::token_path(&c.config) {
            Ok(p) => p,
            Err(e) => {
                // Names were validated with the registry; this cannot fail in practice.
                Self::fail(state, format!("invalid token path: {e}"));
                return;
            }
        };
        match c.vault.exclusive_remaining(path).await {
            Ok(None) => {
                let wait = match (&c.cluster, claim) {
                    (Some(cluster), false) => cluster.claim_delay(&c.config.id()),
                    _ => Duration::ZERO,
                };
                if wait.is_zero() {
                    let _ = myself.cast(SupMsg::Start(Child::Gateway));
                } else {
                    Self::standby(
                        state,
                        myself,
                        wait,
                        true,
                        "lease free; a preferred node goes first",
                    );
                }
            }
            Ok(Some(left)) => {
                // Wake just after it would expire; the holder renews before that, so
                // a live holder costs one look per lease lifetime.
                let after = left.min(c.lease_ttl) + standby_jitter(c.lease_ttl);
                Self::standby(
                    state,
                    myself,
                    after,
                    false,
                    "gateway lease held by another node; taking over when it expires",
                );
            }
            Err(e) => {
                let t = c.config.id();
                tracing::debug!(provider = %t.provider, tenant = %t.tenant, error = %crate::Report(&e), "cannot read the gateway lease; standing by");
                Self::standby(
                    state,
                    myself,
                    STANDBY_RETRY,
                    false,
                    "cannot read the gateway lease",
                );
            }
        }
    }

    /// What the cluster asks: look at a released lease now, or hand the tenant off.
    pub(super) async fn on_cluster(
        state: &mut SupState,
        myself: &ActorRef<SupMsg>,
        signal: Signal,
    ) {
        match signal {
            Signal::LeaseReleased => {
                if state.ctx.shared.gateway().is_none()
                    && state.ctx.shared.get().0 == TenantState::Standby
                {
                    Self::check_lease(state, myself, false).await;
                }
            }
            Signal::HandOff => {
                if let Some(g) = state.ctx.shared.gateway() {
                    let t = state.ctx.config.id();
                    tracing::info!(provider = %t.provider, tenant = %t.tenant, "handing the tenant off (closing resumably)");
                    state.handing_off = true;
                    // The gateway closes its shards resumably, stores the sessions
                    // and releases the lease; its exit comes back as a supervision
                    // event.
                    g.actor().stop(Some("handed off".to_owned()));
                }
            }
        }
    }

    /// The gateway stopped: this node no longer holds it. Its REST actor stops too
    /// (the holder serves the tenant's requests; those fetched here go back on the
    /// stream), then the release is announced so standbys elsewhere take over now
    /// (unless it never held the lease). At shutdown the REST actor stays until the
    /// runtime stops it, serving what the draining workers still ask.
    pub(super) async fn gateway_gone(state: &mut SupState, exit: Option<&GatewayExit>) {
        let Some(cluster) = state.ctx.cluster.clone() else {
            return;
        };
        let t = state.ctx.config.id();
        cluster.set_held(&t, false);
        let stopping = state
            .ctx
            .shared
            .stopping
            .load(std::sync::atomic::Ordering::SeqCst);
        if !stopping {
            state.rest_parked = true;
            if let Some(rest) = state.ctx.shared.rest() {
                rest.stop().await;
            }
            state.ctx.bus.stop_requests(&t).await;
        }
        if exit != Some(&GatewayExit::HeldElsewhere) {
            cluster.announce_release(&t).await;
        }
    }

    /// A hand-off finished: leave the tenant to the others for a while.
    pub(super) fn handed_off(state: &mut SupState, myself: &ActorRef<SupMsg>) {
        metrics::counter!("switchboard_tenant_handoffs_total").increment(1);
        state.hold_until = Some(tokio::time::Instant::now() + HOLD_OFF);
        Self::standby(state, myself, HOLD_OFF, false, "handed off to another node");
    }
}
