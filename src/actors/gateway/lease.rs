//! The exclusive `provider.gateway` lease on the tenant's bot token: acquiring it,
//! watching its events, and rolling it over before the vault's maximum lifetime.
//!
//! A lease renews itself, but never past the vault's `max_ttl`; a gateway runs for
//! days. Shortly before the maximum the watcher asks the actor to release the lease
//! and take a fresh one. Between the two another holder could take the token: the
//! actor then gets `AlreadyHeld` and stops, which is what exclusivity asks for.

use std::time::Duration;

use ractor::ActorRef;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::GatewayArgs;
use super::actor::GatewayMsg;
use super::error::GatewayError;
use crate::actors::access;
use crate::vault::{Capability, Lease, LeaseEvent};

/// Takes the exclusive gateway lease with the gateway's scope (minted by its
/// supervisor for `gateway(<tenant>)`).
pub(super) async fn acquire(args: &GatewayArgs) -> Result<Lease, GatewayError> {
    Ok(access::lease::acquire(
        &args.vault,
        &args.tenant,
        Capability::ProviderGateway,
        args.lease_ttl,
    )
    .await?)
}

/// When to roll over: a TTL before the maximum, and never before half of it.
fn rollover_after(lease: &Lease) -> Duration {
    let info = lease.info();
    info.max_ttl.saturating_sub(info.ttl).max(info.max_ttl / 2)
}

/// Reports a revoked or expired lease, and asks for a rollover when it is due.
pub(super) fn watch(
    lease: &Lease,
    actor: ActorRef<GatewayMsg>,
    cancel: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    let mut events = lease.subscribe();
    let due = tokio::time::Instant::now() + rollover_after(lease);
    async move {
        let rollover = tokio::time::sleep_until(due);
        tokio::pin!(rollover);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = &mut rollover => {
                    let _ = actor.cast(GatewayMsg::RolloverLease);
                    return;
                }
                event = events.recv() => {
                    let reason = match event {
                        Ok(LeaseEvent::Revoked) => "revoked",
                        Ok(LeaseEvent::Expired) => "expired",
                        Ok(_) | Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => return,
                    };
                    let _ = actor.cast(GatewayMsg::LeaseLost { reason: reason.to_owned() });
                    return;
                }
            }
        }
    }
}
