//! `GatewayActor`: one per tenant; runs the tenant's twilight shards and publishes
//! normalized events on the bus.
//!
//! # What it does
//! - Takes an **exclusive** `provider.gateway` lease on `<provider>/<tenant>/bot_token`
//!   with the [`ScopedVault`] its supervisor minted for it (`gateway(<provider>/<tenant>)`,
//!   [`VaultHandle::gateway_scope`](crate::vault::VaultHandle::gateway_scope); it never
//!   names a principal itself), so one gateway runs per token even across daemons; if
//!   the lease is revoked or expires it closes its shards and stops.
//! - Runs the shards (`gateway.shards`; `auto` asks `GET /gateway/bot`) with the
//!   tenant's intents, identifying `max_concurrency` at a time, each polled by its own
//!   task under a cancellation token.
//! - Normalizes dispatches, applies `allow`, keeps interaction tokens in
//!   [`InteractionTokens`] (never on the bus), and publishes envelopes (plus raw
//!   payloads when `publish_raw` is on; never for interactions).
//! - Keeps each shard's session in a [`SessionStore`], so a restarted actor resumes.
//! - A fatal close (4004 bad token, 4014 disallowed intents, ...) marks the tenant
//!   [`TenantState::Failed`] and stops the actor with [`GatewayExit::Fatal`] (and a
//!   stop reason starting with [`FATAL_PREFIX`]): a supervisor must not restart it.
//!   A lease held by another node is [`GatewayExit::HeldElsewhere`] (stand by), a
//!   lost one [`GatewayExit::LeaseLost`].
//!
//! # Layout
//! - `actor.rs`: the actor, its messages and state; `lease.rs`: the lease.
//! - `setup.rs`: shard plan and twilight configs; `runner.rs`: one shard's task.
//! - `filter.rs`: `allow`; `health.rs`: [`GatewayHealth`]; `session.rs`:
//!   [`SessionStore`]; `error.rs`: [`GatewayError`].
//!
//! ```no_run
//! # async fn demo(
//! #     tenant: std::sync::Arc<switchboard::config::TenantConfig>,
//! #     bus: switchboard::bus::Bus,
//! #     vault: switchboard::vault::VaultHandle,
//! # ) -> Result<(), switchboard::actors::gateway::GatewayError> {
//! use switchboard::actors::gateway::{GatewayArgs, GatewayHandle, SessionStore, TenantState};
//! use switchboard::providers::discord::interactions::InteractionTokens;
//! use switchboard::vault::TenantId;
//!
//! // The supervisor mints the gateway's capability for this tenant.
//! let scope = vault.gateway_scope(&tenant.id());
//! let args = GatewayArgs::new(tenant, "promethean", bus, scope, InteractionTokens::new(), SessionStore::memory());
//! let (gateway, _join) = GatewayHandle::start(args, None).await?;
//! if let TenantState::Failed(reason) = gateway.health().state {
//!     eprintln!("gateway failed: {reason}");
//! }
//! gateway.stop().await;
//! # Ok(())
//! # }
//! ```

mod actor;
mod error;
mod exit;
mod filter;
mod health;
mod lease;
mod runner;
mod session;
mod setup;

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorRef};
use tokio::task::JoinHandle;

/// Why a gateway stopped on its own: the access layer's [`AccessExit`].
pub use crate::actors::access::AccessExit as GatewayExit;
pub use crate::actors::access::TenantState;
pub use error::GatewayError;
pub use health::{GatewayHealth, ShardStatus};
pub use session::SessionStore;
// The rest of the gateway's surface, for the `internals` build.
#[cfg(feature = "internals")]
pub use crate::actors::access::AccessExit;
#[cfg(feature = "internals")]
pub use error::BoxError;
#[cfg(feature = "internals")]
pub use health::ShardHealth;
#[cfg(feature = "internals")]
pub use session::{SESSION_TTL, StoredSession};

use actor::{GatewayActor, GatewayMsg, Start};
use health::HealthCell;

use crate::actors::access::Deferrals;
use crate::bus::Bus;
use crate::config::TenantConfig;
use crate::handler::InterestCell;
use crate::providers::discord::interactions::InteractionTokens;
use crate::vault::ScopedVault;

/// Stop reasons of a gateway that must not be restarted start with this.
pub const FATAL_PREFIX: &str = "fatal: ";

/// What a gateway actor needs. [`GatewayArgs::new`] fills the tunables with defaults.
#[derive(Debug, Clone)]
pub struct GatewayArgs {
    /// The tenant (intents, shards, endpoints, allow, `publish_raw`).
    pub tenant: Arc<TenantConfig>,
    /// The topic namespace, e.g. `promethean`.
    pub namespace: String,
    /// Where events go.
    pub bus: Bus,
    /// Where the token comes from: a scope minted for this tenant's gateway
    /// ([`VaultHandle::gateway_scope`](crate::vault::VaultHandle::gateway_scope)); a
    /// scope of any other principal is refused
    /// when the lease is taken.
    pub vault: ScopedVault,
    /// Where interaction tokens go (shared with the tenant's REST actor).
    pub tokens: InteractionTokens,
    /// Where arriving interactions are armed for the REST actor's deferral clock
    /// (shared with it; [`GatewayArgs::new`] leaves it disabled).
    pub deferrals: Deferrals,
    /// Which events to publish: what the tenant's handlers want (a runtime keeps it
    /// current across reloads; [`GatewayArgs::new`] publishes every event). An event
    /// left out is counted in [`GatewayHealth`]'s `filtered`; its raw payload is
    /// still published when the tenant publishes raw payloads.
    pub interest: InterestCell,
    /// Where sessions are kept between runs.
    pub sessions: SessionStore,
    /// TTL of the gateway lease (`None`: the vault's default).
    pub lease_ttl: Option<Duration>,
    /// How long after its session moved a shard stores it, at most (also at once on
    /// READY, RESUMED and shutdown); a shard whose session did not move sets no timer.
    pub save_interval: Duration,
    /// How long a shard's close handshake may take on shutdown.
    pub close_timeout: Duration,
}

impl GatewayArgs {
    /// Arguments with a 5-second session save interval and close timeout.
    #[must_use]
    pub fn new(
        tenant: Arc<TenantConfig>,
        namespace: impl Into<String>,
        bus: Bus,
        vault: ScopedVault,
        tokens: InteractionTokens,
        sessions: SessionStore,
    ) -> Self {
        Self {
            tenant,
            namespace: namespace.into(),
            bus,
            vault,
            tokens,
            deferrals: Deferrals::disabled(),
            interest: InterestCell::default(),
            sessions,
            lease_ttl: None,
            save_interval: Duration::from_secs(5),
            close_timeout: Duration::from_secs(5),
        }
    }
}

/// A running tenant gateway. Cheap to clone; health reads need no actor round trip.
#[derive(Clone)]
pub struct GatewayHandle {
    actor: ActorRef<GatewayMsg>,
    health: Arc<HealthCell>,
}

impl std::fmt::Debug for GatewayHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayHandle")
            .field("actor", &self.actor.get_id())
            .field("state", &self.health.state())
            .finish()
    }
}

impl GatewayHandle {
    /// Spawns the tenant's gateway (linked to `supervisor` if given): leases the
    /// token, plans the shards and starts them.
    ///
    /// # Errors
    /// The [`GatewayError`] that kept it from starting: [`GatewayError::Lease`] (e.g.
    /// `AlreadyHeld`, `PolicyDenied`), bad intents or endpoints,
    /// [`GatewayError::Unauthorized`] from `GET /gateway/bot`, the session store.
    pub async fn start(
        args: GatewayArgs,
        supervisor: Option<ActorCell>,
    ) -> Result<(Self, JoinHandle<()>), GatewayError> {
        let health = Arc::new(HealthCell::new(args.tenant.id()));
        let start = Start {
            args,
            health: Arc::clone(&health),
        };
        let spawned = match supervisor {
            Some(sup) => Actor::spawn_linked(None, GatewayActor, start, sup).await,
            None => Actor::spawn(None, GatewayActor, start).await,
        };
        let (actor, join) = spawned.map_err(|e| match e {
            ractor::SpawnErr::StartupFailed(inner) => match inner.downcast::<GatewayError>() {
                Ok(e) => *e,
                Err(other) => GatewayError::Spawn(other),
            },
            other => GatewayError::Spawn(Box::new(other)),
        })?;
        Ok((Self { actor, health }, join))
    }

    /// The tenant's gateway health now.
    #[must_use]
    pub fn health(&self) -> GatewayHealth {
        self.health.snapshot()
    }

    /// The tenant's state now (the runtime reads [`GatewayHandle::health`]).
    #[cfg(feature = "internals")]
    #[must_use]
    pub fn state(&self) -> TenantState {
        self.health.state()
    }

    /// Why the actor stopped on its own, once it has (`None`: it did not, or for an
    /// ordinary failure a supervisor restarts).
    #[must_use]
    pub fn exit(&self) -> Option<GatewayExit> {
        self.health.exit()
    }

    /// The actor, for supervision.
    #[must_use]
    pub fn actor(&self) -> ActorCell {
        self.actor.get_cell()
    }

    /// Stops gracefully: closes the shards resumably, stores their sessions, releases
    /// the lease, and waits for all of it.
    pub async fn stop(&self) {
        let _ = self.actor.stop_and_wait(None, None).await;
    }
}
