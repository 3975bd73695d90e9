//! What a REST actor's tasks share: the monitoring side ([`Shared`], created with the
//! handle so health needs no actor round trip) and the serving side ([`Core`], built
//! in `pre_start`).

use std::sync::{Arc, RwLock};

use ractor::ActorRef;
use tokio::sync::{OnceCell, Semaphore};
use tokio_util::sync::CancellationToken;
use twilight_http::Client;

use super::actor::RestMsg;
use super::breaker::Breaker;
use super::buckets::BucketGate;
use super::budget::InvalidRequestBudget;
use super::config::RestConfig;
use super::global::GlobalGate;
use super::health::{Counters, RestHealth, TenantState};
use crate::actors::access::{CommandSync, Deferrals};
use crate::bus::Bus;
use crate::model::TenantId;
use crate::providers::discord::interactions::InteractionTokens;

/// Gates, counters and the budget: everything health reads.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) tenant: TenantId,
    /// `rest{provider, tenant}`: the actor and every task it spawns log in it.
    pub(crate) span: tracing::Span,
    pub(crate) config: RestConfig,
    pub(crate) counters: Counters,
    /// Shared with the node's [`BucketMemory`](super::memory::BucketMemory), which
    /// hands it to the tenant's next holder.
    pub(crate) buckets: Arc<BucketGate>,
    pub(crate) global: GlobalGate,
    pub(crate) breaker: Breaker,
    pub(crate) budget: Arc<InvalidRequestBudget>,
}

impl Shared {
    pub(crate) fn new(
        tenant: TenantId,
        config: RestConfig,
        budget: Arc<InvalidRequestBudget>,
        buckets: Arc<BucketGate>,
    ) -> Self {
        Self {
            global: GlobalGate::new(
                config.global_limit,
                config.global_window + config.global_margin,
            ),
            breaker: Breaker::new(config.breaker_threshold, config.breaker_cooldown),
            buckets,
            counters: Counters::default(),
            span: tracing::info_span!(parent: None, "rest", provider = %tenant.provider, tenant = %tenant.tenant),
            tenant,
            config,
            budget,
        }
    }

    pub(crate) fn health(&self) -> RestHealth {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &self.counters;
        let (circuit, circuit_opens) = self.breaker.state();
        RestHealth {
            state: c.state(),
            in_flight: c.in_flight.load(Relaxed),
            commands: c.commands.load(Relaxed),
            requests: c.requests(),
            ratelimited: c.ratelimited.load(Relaxed),
            retries: c.retries.load(Relaxed),
            rotations: c.rotations.load(Relaxed),
            backfill_peak: c.backfill_peak.load(Relaxed),
            buckets: self.buckets.snapshot(),
            circuit,
            circuit_opens,
            global_used: self.global.used() as u64,
            budget: self.budget.snapshot(),
        }
    }
}

/// The serving side of one REST actor.
pub(crate) struct Core {
    pub(crate) shared: Arc<Shared>,
    client: RwLock<Arc<Client>>,
    pub(crate) bus: Bus,
    pub(crate) tokens: InteractionTokens,
    /// Interactions the gateway armed, deferred by the clock when slow.
    pub(crate) deferrals: Deferrals,
    /// The tenant's command plan (for the ephemeral hint of deferrals).
    pub(crate) commands: Option<CommandSync>,
    pub(crate) backfill: Arc<Semaphore>,
    /// Cancelled when in-flight commands must give up (tenant failed, or the drain
    /// timeout of a stop ran out): they answer `TenantUnavailable`.
    pub(crate) abort: CancellationToken,
    pub(crate) actor: ActorRef<RestMsg>,
    /// The bot's own user id (for `from_self` in backfill), fetched once.
    pub(crate) bot_user: OnceCell<Option<u64>>,
}

impl Core {
    pub(crate) fn new(
        shared: Arc<Shared>,
        client: Client,
        bus: Bus,
        tokens: InteractionTokens,
        interactions: (Deferrals, Option<CommandSync>),
        actor: ActorRef<RestMsg>,
    ) -> Self {
        let backfill = Arc::new(Semaphore::new(shared.config.backfill_concurrency.max(1)));
        Self {
            shared,
            client: RwLock::new(Arc::new(client)),
            bus,
            tokens,
            deferrals: interactions.0,
            commands: interactions.1,
            backfill,
            abort: CancellationToken::new(),
            actor,
            bot_user: OnceCell::new(),
        }
    }

    /// The current client (replaced on token rotation).
    pub(crate) fn client(&self) -> Arc<Client> {
        self.client
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_client(&self, client: Client) {
        *self
            .client
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(client);
    }

    pub(crate) fn is_failed(&self) -> bool {
        matches!(self.shared.counters.state(), TenantState::Failed(_))
    }

    /// Marks the tenant failed (once), makes in-flight commands answer
    /// `TenantUnavailable`, and tells the actor to stop.
    pub(crate) fn fail(&self, reason: &str) {
        if self
            .shared
            .counters
            .set_state(TenantState::Failed(reason.to_owned()))
        {
            self.shared
                .span
                .in_scope(|| tracing::error!(reason, "tenant REST access failed"));
            self.abort.cancel();
            *self
                .shared
                .counters
                .exit
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(crate::actors::access::AccessExit::Fatal(reason.to_owned()));
            let _ = self.actor.cast(RestMsg::Fatal(reason.to_owned()));
        }
    }
}
