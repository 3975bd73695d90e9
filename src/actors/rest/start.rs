//! [`RestHandle`]: starting, observing and stopping a tenant's REST actor.

use std::sync::Arc;

use ractor::{Actor, ActorCell, ActorRef, SpawnErr};
use tokio::task::JoinHandle;

use super::actor::{RestActor, RestMsg, StartArgs};
use super::budget::InvalidRequestBudget;
use super::config::RestConfig;
use super::core::Shared;
use super::health::RestHealth;
use super::memory::BucketMemory;
use crate::actors::access::{CommandSync, Deferrals};
use crate::bus::Bus;
use crate::config::TenantConfig;
use crate::providers::discord::interactions::InteractionTokens;
use crate::vault::ScopedVault;

/// What a REST actor needs.
#[derive(Clone)]
pub struct RestArgs {
    /// The tenant (`endpoints.api` points the client at an emulator or proxy).
    pub tenant: Arc<TenantConfig>,
    /// Where commands come from and responses go.
    pub bus: Bus,
    /// Where the bot token is leased (`provider.rest`): a scope minted for this
    /// tenant's REST actor
    /// ([`VaultHandle::rest_scope`](crate::vault::VaultHandle::rest_scope)); a scope
    /// of any other principal is refused when the lease is taken.
    pub vault: ScopedVault,
    /// The tenant's interaction tokens, filled by its gateway.
    pub tokens: InteractionTokens,
    /// The interactions its gateway arms: the actor defers those whose handler is
    /// slow ([`Deferrals::disabled`]: answers pass through as sent).
    pub deferrals: Deferrals,
    /// The process-wide invalid-request budget, shared by every REST actor.
    pub budget: Arc<InvalidRequestBudget>,
    /// Limits and timeouts.
    pub config: RestConfig,
    /// The tenant's application commands: the actor registers the plan it holds
    /// and reports back through it (`None`: it registers nothing).
    pub commands: Option<CommandSync>,
    /// Where the actor's bucket gate comes from and goes to, so its next holder
    /// starts where it stopped ([`BucketMemory::for_bus`] on a node;
    /// [`BucketMemory::in_process`] keeps it in this process only).
    pub limits: BucketMemory,
}

impl std::fmt::Debug for RestArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestArgs")
            .field("tenant", &self.tenant.id())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A running REST actor. Cheap to clone.
///
/// ```no_run
/// # async fn demo(args: switchboard::actors::rest::RestArgs) -> Result<(), ractor::SpawnErr> {
/// use switchboard::actors::rest::{RestHandle, TenantState};
///
/// let (rest, _join) = RestHandle::start(args, None).await?;
/// assert_eq!(rest.health().state, TenantState::Running);
/// rest.stop().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RestHandle {
    actor: ActorRef<RestMsg>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RestHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestHandle")
            .field("tenant", &self.shared.tenant)
            .field("actor", &self.actor.get_id())
            .finish()
    }
}

impl RestHandle {
    /// Leases the tenant's token, builds its client and starts serving its
    /// `rest.request` queue; linked to `supervisor` when given.
    ///
    /// # Errors
    /// [`SpawnErr::StartupFailed`] when the lease is refused (e.g. `PolicyDenied`) or
    /// `endpoints.api` is malformed; the tenant's health then says why.
    pub async fn start(
        args: RestArgs,
        supervisor: Option<ActorCell>,
    ) -> Result<(Self, JoinHandle<()>), SpawnErr> {
        let tenant = args.tenant.id();
        let gate = args.limits.gate(&tenant).await;
        let shared = Arc::new(Shared::new(
            tenant,
            args.config.clone(),
            Arc::clone(&args.budget),
            gate,
        ));
        let start = StartArgs {
            args,
            shared: Arc::clone(&shared),
        };
        let (actor, join) = match supervisor {
            Some(s) => Actor::spawn_linked(None, RestActor, start, s).await?,
            None => Actor::spawn(None, RestActor, start).await?,
        };
        Ok((Self { actor, shared }, join))
    }

    /// A snapshot of its health (no actor round trip).
    #[must_use]
    pub fn health(&self) -> RestHealth {
        self.shared.health()
    }

    /// Why the actor stopped on its own, once it has (`None`: it did not, or for an
    /// ordinary failure a supervisor restarts).
    #[must_use]
    pub fn exit(&self) -> Option<crate::actors::access::AccessExit> {
        self.shared
            .counters
            .exit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The actor, for supervision.
    #[must_use]
    pub fn cell(&self) -> ActorCell {
        self.actor.get_cell()
    }

    /// Stops taking commands, lets in-flight ones finish (up to `drain_timeout`, then
    /// they answer `TenantUnavailable`), and waits for the actor to end.
    pub async fn stop(&self) {
        // An error means the actor has stopped already.
        let _ = self.actor.stop_and_wait(None, None).await;
    }
}
