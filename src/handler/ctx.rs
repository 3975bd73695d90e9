//! [`Ctx`]: what a handler may know and do, scoped to one tenant and one envelope.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use super::effect::Effect;
use crate::bus::{Bus, BusError};
use crate::model::{
    Command, Envelope, EnvelopeId, FetchHistory, InteractionCreated, InteractionResponse,
    PostMessage, RespondInteraction, RestErrorKind, RestResponse, RestResult, RoleChange,
    SendDirectMessage, SocialMessageCreated, TenantId,
};
use crate::state::{
    Activity, Cooldown, CooldownDecision, CooldownScope, Coordination, StateError, StateStore,
    TenantState, Turn,
};
use crate::store::{Store, TenantStore};
use crate::vault::{VaultError, WorkerSecrets};

/// Why an effect failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CtxError {
    /// The request could not be sent or no answer came in time.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The access layer answered with a failure.
    #[error("{command} failed: {kind:?} (status {status}): {message}")]
    Rejected {
        /// Which command.
        command: &'static str,
        /// Why.
        kind: RestErrorKind,
        /// The provider's status, 0 if none was sent.
        status: u16,
        /// The access layer's message.
        message: String,
        /// When to retry, if rate-limited.
        retry_after_ms: Option<u64>,
    },
    /// A secret could not be leased (denied by policy, not an app secret, unknown,
    /// or the vault is unavailable).
    #[error("secret {name:?}: {source}")]
    Secret {
        /// The secret's name.
        name: String,
        /// Why.
        #[source]
        source: VaultError,
    },
    /// The worker pool was started without a vault (`WorkerPoolConfig::secrets`).
    #[error("secret {name:?}: no vault is configured for workers")]
    NoSecrets {
        /// The secret's name.
        name: String,
    },
    /// A state operation failed (`Ctx::state`, `Ctx::cooldown`).
    #[error(transparent)]
    State(#[from] StateError),
    /// The envelope failed to build (an invalid namespace).
    #[error("cannot build the request envelope")]
    Build(#[source] crate::model::TopicError),
    /// The access layer's reply to a request carried no response.
    #[error("the reply to {command} carried no response")]
    NoResponse {
        /// The command asked for.
        command: &'static str,
    },
    /// An `http.fetch` failed (`Ctx::fetch`).
    #[error(transparent)]
    Fetch(#[from] super::fetch::FetchError),
    /// `Ctx::store` without a store (`runtime.store` is not configured).
    #[error("no store is configured (runtime.store)")]
    NoStore,
}

/// The shared parts of every `Ctx` a worker builds.
#[derive(Clone)]
pub(crate) struct CtxShared {
    pub(crate) bus: Bus,
    pub(crate) namespace: Arc<str>,
    /// The pool's capability for app secrets, asked with the tenant of the envelope
    /// being handled (never one a handler chooses).
    pub(crate) secrets: Option<WorkerSecrets>,
    /// Handlers' state; `Ctx::state` binds it to the envelope's tenant.
    pub(crate) state: StateStore,
    /// The tenant-scoped store; `Ctx::store` binds it to the envelope's tenant.
    pub(crate) store: Option<Store>,
    /// How the store embeds text for a tenant (`runtime.embeddings`).
    pub(crate) semantic: Option<crate::store::Semantic>,
    pub(crate) request_timeout: Duration,
    /// How long a handler may run for one envelope (`Ctx::deadline`).
    pub(crate) handler_timeout: Duration,
}

/// A handler's view of the world while it handles one envelope of one tenant.
///
/// Cloning is cheap (reference counts) and a clone is the same context: clones share
/// the count of effects made, so each effect still gets its own idempotency key. The
/// [command router](crate::commands::Router) hands its routes an owned clone, so a
/// route can be an `async move` closure.
#[derive(Clone)]
pub struct Ctx {
    shared: CtxShared,
    tenant: TenantId,
    envelope_id: EnvelopeId,
    attempt: u32,
    ts: u64,
    handler: Arc<str>,
    settings: Arc<serde_json::Value>,
    coordination: Option<Coordination>,
    cancel: CancellationToken,
    effects: Arc<AtomicU32>,
    deadline: tokio::time::Instant,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("tenant", &self.tenant)
            .field("envelope_id", &self.envelope_id)
            .field("attempt", &self.attempt)
            .field("handler", &self.handler)
            .finish_non_exhaustive()
    }
}

/// 64-bit FNV-1a: a small, stable hash (stable across builds, unlike std's hasher),
/// used to derive idempotency keys.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Encodes a `u128` in base 36: at most 25 characters, Discord's nonce limit.
fn base36(mut n: u128) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::with_capacity(25);
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

impl Ctx {
    pub(crate) fn new(
        shared: CtxShared,
        envelope: &Envelope,
        handler: Arc<str>,
        settings: Arc<serde_json::Value>,
        coordination: Option<Coordination>,
        cancel: CancellationToken,
    ) -> Self {
        let shared_timeout = shared.handler_timeout;
        Self {
            shared,
            tenant: envelope.tenant_id(),
            envelope_id: envelope.id,
            attempt: envelope.attempt,
            ts: envelope.ts,
            handler,
            settings,
            coordination,
            cancel,
            effects: Arc::new(AtomicU32::new(0)),
            deadline: tokio::time::Instant::now() + shared_timeout,
        }
    }

    /// When this handler run times out (and its delivery is retried). Long work —
    /// a backfill — stops before it and continues in a job of its own
    /// ([`Ctx::enqueue_job`]).
    #[must_use]
    pub fn deadline(&self) -> tokio::time::Instant {
        self.deadline
    }

    /// Queues `job` on this tenant's inbox, as `Event::Job` for the handlers it names
    /// (`job.handler`), delivered like any event (retries, dead letters, every worker
    /// group). The envelope id is derived from this envelope and `key`, so a retried
    /// handler that enqueues the same continuation again enqueues the same envelope,
    /// which handlers that already ran it skip.
    ///
    /// # Errors
    /// [`CtxError::Build`] for an invalid namespace; [`CtxError::Bus`] when it could
    /// not be queued.
    pub async fn enqueue_job(&self, job: crate::model::Job, key: &str) -> Result<(), CtxError> {
        let id = EnvelopeId::derived(
            self.ts,
            format!("{}/job/{key}", self.envelope_id).as_bytes(),
        );
        let mut env = Envelope::new(
            &self.shared.namespace,
            &self.tenant,
            crate::model::Payload::Event(crate::model::Event::Job(job)),
        )
        .map_err(CtxError::Build)?
        .with_id(id);
        env.causation = Some(self.envelope_id);
        self.shared.bus.publish(env).await?;
        Ok(())
    }

    /// The tenant this envelope belongs to.
    #[must_use]
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The provider's name.
    #[must_use]
    pub fn provider(&self) -> &str {
        self.tenant.provider.as_str()
    }

    /// The envelope being handled.
    #[must_use]
    pub fn envelope_id(&self) -> EnvelopeId {
        self.envelope_id
    }

    /// Earlier delivery attempts of this envelope (0 on the first).
    #[must_use]
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Whether this is the envelope's last delivery: if the handler fails now, the
    /// envelope is dead-lettered instead of retried (`runtime.max_deliveries`). A
    /// handler that keeps a record of its work (a backfill's cursor) marks it failed
    /// here, so the failure is visible where the work is followed. A timeout or a
    /// panic on the last attempt dead-letters too, without the handler seeing it.
    #[must_use]
    pub fn is_last_attempt(&self) -> bool {
        self.shared.bus.is_last_delivery(self.attempt)
    }

    /// When the envelope was created, Unix milliseconds.
    #[must_use]
    pub fn envelope_ts(&self) -> u64 {
        self.ts
    }

    /// The tenant's free-form `settings` from the registry (`Null` if none).
    #[must_use]
    pub fn settings(&self) -> &serde_json::Value {
        &self.settings
    }

    /// Cancelled when the handler should stop (shutdown, or its time is up).
    #[must_use]
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Leases one of this tenant's app secrets (e.g. an LLM API key), as the worker
    /// serving this envelope's tenant: only that tenant's app secrets can be read.
    ///
    /// # Errors
    /// [`CtxError::Secret`] when the vault refuses (provider tokens always are) or has
    /// no such secret, [`CtxError::NoSecrets`] without a vault.
    pub async fn secret(&self, name: &str) -> Result<SecretString, CtxError> {
        let Some(secrets) = &self.shared.secrets else {
            return Err(CtxError::NoSecrets {
                name: name.to_owned(),
            });
        };
        // The tenant is the envelope's, set by the worker when it built this `Ctx`.
        secrets
            .app_secret(&self.tenant, name)
            .await
            .map_err(|source| CtxError::Secret {
                name: name.to_owned(),
                source,
            })
    }

    /// This tenant's store (messages, attachments, cursors, embeddings in SQLite or
    /// PostgreSQL; see [`crate::store`]), bound to the envelope's tenant: every
    /// statement it issues names this tenant, so a handler cannot read or write
    /// another tenant's rows.
    ///
    /// # Errors
    /// [`CtxError::NoStore`] when the runtime has no `runtime.store`.
    pub fn store(&self) -> Result<TenantStore, CtxError> {
        self.shared
            .store
            .as_ref()
            .map(|s| {
                s.for_tenant(&self.tenant)
                    .with_semantic(self.shared.semantic.clone())
            })
            .ok_or(CtxError::NoStore)
    }

    /// This tenant's state (key-value with TTL, counters, sets, maps, cooldowns,
    /// sessions): in Redis when the bus is, so every worker on every node sees the same.
    /// Bound to the envelope's tenant: a handler cannot name another tenant's key.
    #[must_use]
    pub fn state(&self) -> TenantState {
        self.shared.state.for_tenant(&self.tenant)
    }

    /// One use of the cooldown `name`: at most `rate` per `window` per `key` of
    /// `scope` (a user, channel or guild id; ignored for the tenant scope). Refused
    /// uses get [`CooldownDecision::message`]'s uniform "try again in N s".
    ///
    /// # Errors
    /// [`CtxError::State`] for a zero rate or window, a bad name or key, or an
    /// unreachable store.
    pub async fn cooldown(
        &self,
        scope: CooldownScope,
        key: &str,
        name: &str,
        rate: u32,
        window: Duration,
    ) -> Result<CooldownDecision, CtxError> {
        Ok(self
            .state()
            .cooldown(scope, key, name, Cooldown::new(rate, window))
            .await?)
    }

    /// Claims this bot's turn to answer `message` in `channel`, among the bots of the
    /// namespace sharing it: with the tenant's `coordination` policy the first
    /// `max_bots_per_message` claimants get [`Turn::Mine`] (a retried handler gets its
    /// turn again); without one, every claim is [`Turn::Mine`].
    ///
    /// # Errors
    /// [`CtxError::State`] for a bad id or an unreachable store.
    pub async fn claim_turn(&self, channel: &str, message: &str) -> Result<Turn, CtxError> {
        let Some(policy) = &self.coordination else {
            return Ok(Turn::Mine);
        };
        let me = format!("{}/{}", self.tenant.provider, self.tenant.tenant);
        Ok(self
            .shared
            .state
            .channels(&self.shared.namespace)
            .claim_turn(channel, message, &me, policy)
            .await?)
    }

    /// The bots of this namespace that took a turn in `channel` within the last hour,
    /// newest first.
    ///
    /// # Errors
    /// [`CtxError::State`] for a bad id or an unreachable store.
    pub async fn channel_activity(&self, channel: &str) -> Result<Vec<Activity>, CtxError> {
        Ok(self
            .shared
            .state
            .channels(&self.shared.namespace)
            .activity(channel)
            .await?)
    }

    /// A stable idempotency key for this handler's next effect: the same on every
    /// retry of this envelope, different for each effect and handler.
    fn next_nonce(&self) -> String {
        let seq = self.effects.fetch_add(1, Ordering::Relaxed);
        let salt = (u128::from(fnv1a(self.handler.as_bytes())) << 64) | u128::from(seq);
        base36(self.envelope_id.0.0 ^ salt.rotate_left(17))
    }

    /// Sends any command; returns as soon as the tenant's access layer has accepted
    /// it (queued for its REST actor), so the worker does not wait for the provider.
    /// [`Effect::response`] waits for the result.
    ///
    /// # Errors
    /// [`CtxError::Bus`] when the command could not be queued.
    pub async fn submit(&self, command: Command) -> Result<Effect, CtxError> {
        let name = command.name();
        let mut env = Envelope::request(
            &self.shared.namespace,
            &self.tenant,
            command,
            self.shared.bus.node_id(),
        )
        .map_err(CtxError::Build)?;
        env.causation = Some(self.envelope_id);
        let reply = self
            .shared
            .bus
            .submit(env, self.shared.request_timeout)
            .await?;
        Ok(Effect::new(name, reply))
    }

    /// Sends any command and waits for its response.
    ///
    /// # Errors
    /// [`CtxError::Bus`] on a timeout; [`CtxError::Rejected`] when the access layer
    /// reports a failure.
    pub async fn command(&self, command: Command) -> Result<RestResponse, CtxError> {
        self.submit(command).await?.response().await
    }

    /// Posts a message in a channel.
    ///
    /// # Errors
    /// As [`Ctx::command`].
    pub async fn post_message(
        &self,
        channel_id: impl Into<String>,
        content: impl Into<String>,
    ) -> Result<Effect, CtxError> {
        self.send(PostMessage {
            channel_id: channel_id.into(),
            content: content.into(),
            reply_to: None,
            embeds: Vec::new(),
            allowed_mentions: None,
            nonce: None,
        })
        .await
    }

    /// Posts a fully specified message; a missing nonce is filled with this effect's
    /// idempotency key.
    ///
    /// # Errors
    /// As [`Ctx::command`].
    pub async fn send(&self, mut message: PostMessage) -> Result<Effect, CtxError> {
        if message.nonce.is_none() {
            message.nonce = Some(self.next_nonce());
        }
        self.submit(Command::PostMessage(message)).await
    }

    /// Replies to a message in its channel.
    ///
    /// # Errors
    /// As [`Ctx::command`].
    pub async fn reply(
        &self,
        to: &SocialMessageCreated,
        content: impl Into<String>,
    ) -> Result<Effect, CtxError> {
        self.send(PostMessage {
            channel_id: to.channel_id.clone(),
            content: content.into(),
            reply_to: Some(to.message_id.clone()),
            embeds: Vec::new(),
            allowed_mentions: None,
            nonce: None,
        })
        .await
    }

    /// Answers an interaction: a message, a deferral, an update, autocomplete choices,
    /// a modal, a followup or an edit of the original response.
    ///
    /// # Errors
    /// As [`Ctx::command`]; an expired interaction is
    /// [`RestErrorKind::InteractionExpired`].
    pub async fn respond_interaction(
        &self,
        interaction: &InteractionCreated,
        response: InteractionResponse,
    ) -> Result<Effect, CtxError> {
        self.submit(Command::RespondInteraction(RespondInteraction {
            interaction_id: interaction.interaction_id.clone(),
            response,
        }))
        .await
    }

    /// Gives a member a role.
    ///
    /// # Errors
    /// As [`Ctx::command`].
    pub async fn assign_role(
        &self,
        guild_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<Effect, CtxError> {
        self.submit(Command::AssignRole(role_change(guild_id, user_id, role_id)))
            .await
    }

    /// Takes a role from a member.
    ///
    /// # Errors
    /// As [`Ctx::command`].
    pub async fn remove_role(
        &self,
        guild_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<Effect, CtxError> {
        self.submit(Command::RemoveRole(role_change(guild_id, user_id, role_id)))
            .await
    }

    /// Sends a direct message to a user.
    ///
    /// # Errors
    /// As [`Ctx::command`].
    pub async fn send_dm(
        &self,
        user_id: &str,
        content: impl Into<String>,
    ) -> Result<Effect, CtxError> {
        self.submit(Command::SendDirectMessage(SendDirectMessage {
            user_id: user_id.to_owned(),
            content: content.into(),
            embeds: Vec::new(),
        }))
        .await
    }

    /// Fetches one page (at most 100, newest first) of a channel's history before
    /// message `before` (or the newest, if `None`).
    ///
    /// # Errors
    /// As [`Ctx::command`].
    pub async fn fetch_history(
        &self,
        channel_id: &str,
        before: Option<&str>,
        limit: u16,
    ) -> Result<Vec<SocialMessageCreated>, CtxError> {
        let response = self
            .command(Command::FetchHistory(FetchHistory {
                channel_id: channel_id.to_owned(),
                before: before.map(str::to_owned),
                after: None,
                limit: limit.clamp(1, 100),
            }))
            .await?;
        Ok(match response.result {
            Some(RestResult::History(messages)) => messages,
            _ => Vec::new(),
        })
    }
}

fn role_change(guild_id: &str, user_id: &str, role_id: &str) -> RoleChange {
    RoleChange {
        guild_id: guild_id.to_owned(),
        user_id: user_id.to_owned(),
        role_id: role_id.to_owned(),
        reason: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base36_fits_discord_nonce_limit() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert!(base36(u128::MAX).len() <= 25);
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
