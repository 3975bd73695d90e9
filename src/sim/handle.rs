//! [`Sim`] starts the emulator; [`SimHandle`] is the typed, in-process twin of the
//! control API, plus addresses, counters, a condition poller and shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::cdn::SimAttachment;
use super::config::SimConfig;
use super::error::SimError;
use super::inject::{
    Fault, InjectInteraction, InjectMessage, InjectedInteraction, MemberEvent, MessageDeletion,
    MessageEdit, PostedMessage,
};
use super::interaction_log::InteractionLog;
use super::server;
use super::state::State;
use super::stats::SimStats;

/// The local Discord emulator.
#[derive(Debug)]
pub struct Sim;

impl Sim {
    /// Binds `addr` (e.g. `"127.0.0.1:0"`) and serves the gateway, REST and control
    /// APIs on it until the handle is shut down or dropped.
    ///
    /// ```
    /// use switchboard::sim::{GuildConfig, Sim, SimConfig, TenantConfig};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), switchboard::sim::SimError> {
    /// let config = SimConfig::default().tenant(
    ///     TenantConfig::new("duck", "duck-token", 11, 12)
    ///         .guild(GuildConfig::new(1 << 22, "pond", &[(21, "general")])),
    /// );
    /// let sim = Sim::start(config, "127.0.0.1:0").await?;
    /// assert!(sim.gateway_url().ends_with("/gateway"));
    /// assert_eq!(sim.stats().tenant("duck").identifies, 0);
    /// sim.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`SimError::Bind`] if the address cannot be bound.
    pub async fn start(config: SimConfig, addr: &str) -> Result<SimHandle, SimError> {
        let app = server::start(config, addr).await?;
        Ok(SimHandle {
            state: app.state,
            cancel: app.cancel,
            tracker: app.tracker,
        })
    }
}

/// A running emulator. Dropping it stops every task (without waiting); prefer
/// [`SimHandle::shutdown`].
#[derive(Debug)]
pub struct SimHandle {
    state: Arc<State>,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl SimHandle {
    /// The bound address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.state.addr
    }

    /// `ws://addr/gateway`, for twilight's `ConfigBuilder::proxy_url`.
    #[must_use]
    pub fn gateway_url(&self) -> String {
        self.state.gateway_url()
    }

    /// `addr` as a host, for twilight's `ClientBuilder::proxy(host, true)`.
    #[must_use]
    pub fn api_host(&self) -> String {
        self.state.addr.to_string()
    }

    /// `http://addr/api/v10`.
    #[must_use]
    pub fn api_base(&self) -> String {
        format!("http://{}/api/v10", self.state.addr)
    }

    /// Delivers a user message as `MESSAGE_CREATE` to every connected bot that sees
    /// the channel; returns the message id.
    ///
    /// # Errors
    /// Unknown guild, channel or tenant, or a guild message without a channel.
    pub fn inject_message(&self, msg: InjectMessage) -> Result<u64, SimError> {
        self.state.inject_message(msg)
    }

    /// [`SimHandle::inject_message`] with files attached: the message's `attachments`
    /// (in `MESSAGE_CREATE`, REST message objects and history pages) carry each
    /// file's `id`, `filename`, `size`, `content_type` and a `url` on this emulator
    /// (`http://addr/attachments/<channel>/<attachment>/<filename>`) that serves the
    /// bytes without authentication. Returns the message id.
    ///
    /// ```
    /// use switchboard::sim::{GuildConfig, InjectMessage, Sim, SimAttachment, SimConfig, SimUser, TenantConfig};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), switchboard::sim::SimError> {
    /// let config = SimConfig::default().tenant(
    ///     TenantConfig::new("duck", "duck-token", 11, 12)
    ///         .guild(GuildConfig::new(1 << 22, "pond", &[(21, "general")])),
    /// );
    /// let sim = Sim::start(config, "127.0.0.1:0").await?;
    /// let alice = SimUser { id: 42, username: "alice".into(), bot: false };
    /// let id = sim.inject_message_with_attachments(
    ///     InjectMessage::guild(1 << 22, 21, alice, "see file"),
    ///     vec![SimAttachment::new("notes.txt", "text/plain", b"hello".to_vec())],
    /// )?;
    /// let posted = sim.all_channel_messages(21);
    /// assert_eq!(posted[0].id, id);
    /// assert_eq!(posted[0].message["attachments"][0]["size"], 5);
    /// sim.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`SimHandle::inject_message`]; [`SimError::Invalid`] for more than 10
    /// files or a file without a name.
    pub fn inject_message_with_attachments(
        &self,
        msg: InjectMessage,
        attachments: Vec<SimAttachment>,
    ) -> Result<u64, SimError> {
        self.state.inject_message_with_attachments(msg, attachments)
    }

    /// Delivers an `INTERACTION_CREATE` to the owning bot; returns its id and token.
    ///
    /// # Errors
    /// Unknown tenant, guild, channel or context-menu target message;
    /// [`SimError::Invalid`] for a command the application has not registered
    /// (globally, or in the interaction's guild).
    pub fn inject_interaction(
        &self,
        interaction: &InjectInteraction,
    ) -> Result<InjectedInteraction, SimError> {
        self.state.inject_interaction(interaction)
    }

    /// What a bot answered to an interaction, and when (`None`: unknown id).
    #[must_use]
    pub fn interaction(&self, id: u64) -> Option<InteractionLog> {
        self.state.interaction_log(id)
    }

    /// The [`InteractionLog`] of every injected interaction, oldest first.
    #[must_use]
    pub fn interaction_log(&self) -> Vec<InteractionLog> {
        self.state.interaction_logs()
    }

    /// Applies a member join, leave or update and dispatches it.
    ///
    /// # Errors
    /// Unknown guild or member.
    pub fn member_event(&self, event: MemberEvent) -> Result<(), SimError> {
        self.state.member_event(event)
    }

    /// Edits a message's content and dispatches `MESSAGE_UPDATE`.
    ///
    /// # Errors
    /// Unknown message.
    pub fn edit_message(&self, edit: &MessageEdit) -> Result<(), SimError> {
        self.state.edit_message(edit)
    }

    /// Deletes a message and dispatches `MESSAGE_DELETE`.
    ///
    /// # Errors
    /// Unknown message.
    pub fn delete_message(&self, deletion: &MessageDeletion) -> Result<(), SimError> {
        self.state
            .delete_message(deletion.channel_id, deletion.message_id)
    }

    /// What bots posted in a channel (interaction responses and followups included),
    /// oldest first.
    #[must_use]
    pub fn channel_messages(&self, channel_id: u64) -> Vec<PostedMessage> {
        self.state.posted_messages(channel_id, false)
    }

    /// Every message of a channel, injected ones included, oldest first.
    #[must_use]
    pub fn all_channel_messages(&self, channel_id: u64) -> Vec<PostedMessage> {
        self.state.posted_messages(channel_id, true)
    }

    /// Inflicts a gateway fault on a tenant's connections (`shard`: only that shard);
    /// returns how many connections it reached.
    ///
    /// # Errors
    /// Unknown tenant.
    pub fn fault(&self, tenant: &str, fault: Fault, shard: Option<u32>) -> Result<usize, SimError> {
        self.state.fault(tenant, fault, shard)
    }

    /// Gives a tenant's bot a new token, as Discord's "Reset Token" does: from now
    /// on an IDENTIFY or RESUME with the old token closes with 4004 and REST answers
    /// 401. Connections already authenticated are left open.
    ///
    /// # Errors
    /// Unknown tenant; an empty token, or one another bot has.
    pub fn reset_token(&self, tenant: &str, token: &str) -> Result<(), SimError> {
        self.state
            .reset_token(tenant, secrecy::SecretString::from(token.to_owned()))
    }

    /// The application id of a tenant's bot.
    #[must_use]
    pub fn application_id(&self, tenant: &str) -> Option<u64> {
        self.state
            .tenant_by_name(tenant)
            .map(|t| self.state.tenants[t].application_id)
    }

    /// The application commands an application has registered, global (`guild`
    /// `None`) or in one guild, as `GET …/commands?with_localizations=true` returns
    /// them.
    #[must_use]
    pub fn commands(&self, application_id: u64, guild: Option<u64>) -> Vec<serde_json::Value> {
        self.state.commands(application_id, guild)
    }

    /// Registers application commands for `application_id`, globally (`guild`
    /// `None`) or in one guild, replacing that scope's set as a bulk overwrite
    /// would (validated the same way) but without counting a PUT. Tests use it to
    /// put commands in place before injecting them.
    ///
    /// # Errors
    /// [`SimError::Invalid`] when the set breaks Discord's rules.
    pub fn register_commands(
        &self,
        application_id: u64,
        guild: Option<u64>,
        commands: &[crate::commands::AppCommand],
    ) -> Result<(), SimError> {
        super::rest_commands::register(&self.state, application_id, guild, commands)
    }

    /// The names of [`SimHandle::commands`], sorted.
    #[must_use]
    pub fn command_names(&self, application_id: u64, guild: Option<u64>) -> Vec<String> {
        let mut names: Vec<String> = self
            .commands(application_id, guild)
            .iter()
            .filter_map(|c| c.get("name").and_then(|n| n.as_str()).map(str::to_owned))
            .collect();
        names.sort();
        names
    }

    /// The initial response interaction `id` got (`{"type", "data"}` as the bot sent
    /// it: a message, a deferral, autocomplete choices, a modal), `None` while it is
    /// unanswered.
    #[must_use]
    pub fn interaction_response(&self, id: u64) -> Option<serde_json::Value> {
        self.state.interaction_response(id)
    }

    /// Accepted bulk overwrites (`PUT …/commands`, global and guild) of an
    /// application's commands so far.
    #[must_use]
    pub fn command_puts(&self, application_id: u64) -> u64 {
        self.state
            .tenants
            .iter()
            .filter(|t| t.application_id == application_id)
            .map(|t| t.counters.snapshot().command_puts)
            .sum()
    }

    /// Every counter.
    #[must_use]
    pub fn stats(&self) -> SimStats {
        self.state.stats()
    }

    /// How many of a tenant's sessions have a live connection.
    #[must_use]
    pub fn connected_sessions(&self, tenant: &str) -> usize {
        let Some(t) = self.state.tenant_by_name(tenant) else {
            return 0;
        };
        self.state
            .sessions
            .iter()
            .filter(|s| s.tenant == t && s.is_connected())
            .count()
    }

    /// The last sequence number of each of a tenant's sessions.
    #[must_use]
    pub fn session_seqs(&self, tenant: &str) -> Vec<u64> {
        let Some(t) = self.state.tenant_by_name(tenant) else {
            return Vec::new();
        };
        self.state
            .sessions
            .iter()
            .filter(|s| s.tenant == t)
            .map(|s| s.seq())
            .collect()
    }

    /// Waits until `condition` holds, re-checking whenever the emulator's state
    /// changes (and at least every 20 ms).
    ///
    /// # Errors
    /// [`SimError::Timeout`] if it does not hold within `timeout`.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut condition: impl FnMut(&Self) -> bool,
    ) -> Result<(), SimError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.state.changed.notified();
            if condition(self) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(SimError::Timeout(timeout));
            }
            let nap = tokio::time::Instant::now() + Duration::from_millis(20);
            let _ = tokio::time::timeout_at(nap.min(deadline), changed).await;
        }
    }

    /// Stops accepting connections, closes every gateway connection (1001) and
    /// waits for every task to end.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}
