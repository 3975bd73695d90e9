//! The emulator's shared state: tenants, guilds and channels, the mutable "world"
//! (messages, members, DM channels, interactions, commands), gateway sessions, and
//! routing of dispatches to the sessions that should receive them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Instant;

use dashmap::DashMap;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::Notify;

use super::config::{GuildConfig, PrivilegedIntents, SimConfig, intents};
use super::error::SimError;
use super::messages::MessageStore;
use super::payloads::{self, SimUser};
use super::ratelimit::RateLimiter;
use super::session::Session;
use super::stats::{Counters, SimStats, bump};

/// A tenant (bot) as the running emulator sees it.
#[derive(Debug)]
pub(crate) struct TenantInfo {
    pub(crate) name: String,
    /// Replaced by [`State::reset_token`], as Discord's "Reset Token" does.
    token: RwLock<SecretString>,
    pub(crate) application_id: u64,
    pub(crate) bot: SimUser,
    pub(crate) privileged: PrivilegedIntents,
    pub(crate) guilds: Vec<u64>,
    pub(crate) counters: Counters,
}

impl TenantInfo {
    /// Whether the bot may request these intents (privileged ones must be enabled).
    pub(crate) fn allows(&self, requested: u64) -> bool {
        requested & intents::PRIVILEGED & !self.privileged.bits() == 0
    }

    /// Whether it is a member of the guild.
    pub(crate) fn in_guild(&self, guild: u64) -> bool {
        self.guilds.contains(&guild)
    }
}

/// A guild member.
#[derive(Debug, Clone)]
pub(crate) struct MemberRecord {
    pub(crate) user: SimUser,
    pub(crate) roles: Vec<u64>,
    pub(crate) joined_unix_ms: u64,
    pub(crate) nick: Option<String>,
}

/// An interaction and what has been answered to it.
#[derive(Debug, Clone)]
pub(crate) struct InteractionRecord {
    pub(crate) id: u64,
    pub(crate) token: String,
    pub(crate) tenant: usize,
    /// Interaction type (2 command, 3 component, 4 autocomplete, 5 modal submit).
    pub(crate) kind: u8,
    pub(crate) guild_id: Option<u64>,
    pub(crate) channel_id: u64,
    pub(crate) created: Instant,
    /// Initial response type, once answered.
    pub(crate) response: Option<u8>,
    /// The initial response's body (`{"type", "data"}`), once answered.
    pub(crate) response_body: Option<serde_json::Value>,
    /// The message created by the initial response (or deferral).
    pub(crate) original: Option<u64>,
    /// The message a component sits on.
    pub(crate) message_id: Option<u64>,
    /// What was answered, and when, for tests.
    pub(crate) log: super::interaction_log::InteractionLog,
}

/// Everything bots and users can change.
#[derive(Debug, Default)]
pub(crate) struct World {
    pub(crate) messages: MessageStore,
    /// `(tenant, user)` → DM channel id.
    pub(crate) dm_by_user: HashMap<(usize, u64), u64>,
    /// DM channel id → `(tenant, recipient)`.
    pub(crate) dm_channels: HashMap<u64, (usize, SimUser)>,
    /// `(guild, user)` → member.
    pub(crate) members: HashMap<(u64, u64), MemberRecord>,
    pub(crate) interactions: HashMap<u64, InteractionRecord>,
    /// `(application, guild)` → commands (guild `None` = global).
    pub(crate) commands: HashMap<(u64, Option<u64>), Vec<Value>>,
    /// Attachment id → the bytes the CDN serves.
    pub(crate) blobs: HashMap<u64, super::cdn::Blob>,
}

/// Where a channel lives.
#[derive(Debug, Clone)]
pub(crate) enum ChannelOwner {
    /// A guild text channel.
    Guild(u64),
    /// A DM between a tenant's bot and a user.
    Dm(usize),
}

/// Which sessions receive a dispatch.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Audience {
    /// Every bot in the guild, on the guild's shard.
    Guild(u64),
    /// One tenant, on the shard of `guild` (shard 0 for `None`).
    Tenant(usize, Option<u64>),
}

/// The shared state.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) config: SimConfig,
    pub(crate) addr: SocketAddr,
    pub(crate) tenants: Vec<TenantInfo>,
    pub(crate) guilds: HashMap<u64, GuildConfig>,
    /// Channel → guild; grows when a channel of an `any_channel` guild is first used.
    pub(crate) channel_guild: DashMap<u64, u64>,
    /// Guilds accepting any channel id (`GuildConfig::any_channel`).
    pub(crate) open_guilds: std::collections::HashSet<u64>,
    world: Mutex<World>,
    pub(crate) sessions: DashMap<String, Arc<Session>>,
    pub(crate) limiter: RateLimiter,
    pub(crate) anonymous: Counters,
    pub(crate) bans: AtomicU64,
    last_snowflake: Mutex<u64>,
    next_conn: AtomicU64,
    /// Woken whenever something observable changes (used by `wait_until`).
    pub(crate) changed: Notify,
    pub(crate) started: Instant,
}

impl State {
    /// Builds the state from a configuration.
    pub(crate) fn new(config: SimConfig, addr: SocketAddr) -> Self {
        let started = Instant::now();
        let now = crate::model::now_ms();
        let mut guilds = HashMap::new();
        let channel_guild = DashMap::new();
        let mut open_guilds = std::collections::HashSet::new();
        let mut world = World::default();
        let mut tenants = Vec::new();
        for t in &config.tenants {
            let bot = SimUser {
                id: t.bot_user_id,
                username: t.bot_username.clone(),
                bot: true,
            };
            for g in &t.guilds {
                for c in &g.channels {
                    channel_guild.insert(c.id, g.id);
                }
                if g.any_channel {
                    open_guilds.insert(g.id);
                }
                guilds.entry(g.id).or_insert_with(|| g.clone());
                world.members.insert(
                    (g.id, bot.id),
                    MemberRecord {
                        user: bot.clone(),
                        roles: Vec::new(),
                        joined_unix_ms: now,
                        nick: None,
                    },
                );
            }
            tenants.push(TenantInfo {
                name: t.name.clone(),
                token: RwLock::new(t.token.clone()),
                application_id: t.application_id,
                bot,
                privileged: t.privileged,
                guilds: t.guilds.iter().map(|g| g.id).collect(),
                counters: Counters::default(),
            });
        }
        let limiter = RateLimiter::new(config.rate_limits.clone());
        Self {
            config,
            addr,
            tenants,
            guilds,
            channel_guild,
            open_guilds,
            world: Mutex::new(world),
            sessions: DashMap::new(),
            limiter,
            anonymous: Counters::default(),
            bans: AtomicU64::new(0),
            last_snowflake: Mutex::new(0),
            next_conn: AtomicU64::new(1),
            changed: Notify::new(),
            started,
        }
    }

    /// The commands of an application, global (`guild` `None`) or of one guild, as
    /// Discord returns them.
    pub(crate) fn commands(&self, application: u64, guild: Option<u64>) -> Vec<Value> {
        self.world()
            .commands
            .get(&(application, guild))
            .cloned()
            .unwrap_or_default()
    }

    /// Replaces the commands of an application in one scope.
    pub(crate) fn put_commands(&self, application: u64, guild: Option<u64>, commands: Vec<Value>) {
        let mut world = self.world();
        if commands.is_empty() {
            world.commands.remove(&(application, guild));
        } else {
            world.commands.insert((application, guild), commands);
        }
    }

    /// Locks the world.
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The gateway URL (`ws://addr/gateway`).
    pub(crate) fn gateway_url(&self) -> String {
        format!("ws://{}/gateway", self.addr)
    }

    /// The tenant authenticating with this token (with or without the `Bot ` prefix).
    pub(crate) fn tenant_by_token(&self, token: &str) -> Option<usize> {
        let token = token.strip_prefix("Bot ").unwrap_or(token);
        if token.is_empty() {
            return None;
        }
        self.tenants.iter().position(|t| {
            t.token
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .expose_secret()
                == token
        })
    }

    /// Gives a tenant's bot a new token; the old one is refused from now on (new
    /// IDENTIFYs and RESUMEs close with 4004, REST answers 401). Connections already
    /// authenticated stay open.
    pub(crate) fn reset_token(&self, tenant: &str, token: SecretString) -> Result<(), SimError> {
        let idx = self
            .tenant_by_name(tenant)
            .ok_or_else(|| SimError::UnknownTenant(tenant.to_owned()))?;
        let new = token.expose_secret();
        if new.is_empty() || new.starts_with("Bot ") {
            return Err(SimError::Invalid(
                "a token is non-empty and has no `Bot ` prefix".to_owned(),
            ));
        }
        if self.tenant_by_token(new).is_some_and(|other| other != idx) {
            return Err(SimError::Invalid(
                "another bot already has this token".to_owned(),
            ));
        }
        *self.tenants[idx]
            .token
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = token;
        self.changed.notify_waiters();
        Ok(())
    }

    /// The tenant with this name.
    pub(crate) fn tenant_by_name(&self, name: &str) -> Option<usize> {
        self.tenants.iter().position(|t| t.name == name)
    }

    /// The tenant owning the interaction with this token.
    pub(crate) fn tenant_by_interaction_token(&self, token: &str) -> Option<usize> {
        self.world()
            .interactions
            .values()
            .find(|i| i.token == token)
            .map(|i| i.tenant)
    }

    /// A new snowflake, strictly greater than every earlier one.
    pub(crate) fn snowflake(&self) -> u64 {
        let ms = crate::model::now_ms().saturating_sub(payloads::DISCORD_EPOCH_MS);
        let candidate = ms << 22;
        let mut last = self
            .last_snowflake
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *last = candidate.max(*last + 1);
        *last
    }

    /// A new connection id.
    pub(crate) fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Where a channel lives, if it exists.
    pub(crate) fn channel_owner(&self, channel: u64) -> Option<ChannelOwner> {
        if let Some(g) = self.channel_guild.get(&channel) {
            return Some(ChannelOwner::Guild(*g));
        }
        self.world()
            .dm_channels
            .get(&channel)
            .map(|(t, _)| ChannelOwner::Dm(*t))
    }

    /// Whether `channel` is a text channel of `guild`; in a guild accepting any
    /// channel, an id not in use elsewhere becomes one.
    pub(crate) fn guild_channel(&self, guild: u64, channel: u64) -> bool {
        if let Some(g) = self.channel_guild.get(&channel) {
            return *g == guild;
        }
        if !self.open_guilds.contains(&guild)
            || channel == 0
            || self.world().dm_channels.contains_key(&channel)
        {
            return false;
        }
        *self.channel_guild.entry(channel).or_insert(guild) == guild
    }

    /// Whether tenant `t` can see the channel.
    pub(crate) fn tenant_sees(&self, t: usize, owner: &ChannelOwner) -> bool {
        match owner {
            ChannelOwner::Guild(g) => self.tenants[t].in_guild(*g),
            ChannelOwner::Dm(owner) => *owner == t,
        }
    }

    /// Queues a dispatch to every session in `audience` that asked for `intent` (`0`:
    /// no intent needed). `build(tenant, session_intents)` makes the `d` for one view;
    /// views are cached per tenant and `MESSAGE_CONTENT` bit. Returns sessions reached.
    pub(crate) fn dispatch(
        &self,
        audience: Audience,
        t: &str,
        intent: u64,
        build: impl Fn(&TenantInfo, u64) -> String,
    ) -> usize {
        let mut cache: HashMap<(usize, bool), String> = HashMap::new();
        let mut reached = 0;
        for entry in &self.sessions {
            let s = entry.value();
            let (wanted, guild) = match audience {
                Audience::Guild(g) => (self.tenants[s.tenant].in_guild(g), Some(g)),
                Audience::Tenant(t, g) => (s.tenant == t, g),
            };
            if !wanted || !s.receives(guild) || (intent != 0 && s.intents & intent == 0) {
                continue;
            }
            let key = (s.tenant, s.intents & intents::MESSAGE_CONTENT != 0);
            let tenant = &self.tenants[s.tenant];
            let d = cache.entry(key).or_insert_with(|| build(tenant, s.intents));
            s.push(t, d);
            bump(&tenant.counters.dispatches);
            reached += 1;
        }
        self.changed.notify_waiters();
        reached
    }

    /// Removes sessions that have been detached for longer than `session_ttl`.
    pub(crate) fn expire_sessions(&self) {
        let now = Instant::now();
        let ttl = self.config.session_ttl;
        self.sessions.retain(|_, s| !s.expired(now, ttl));
    }

    /// A point-in-time copy of every counter.
    pub(crate) fn stats(&self) -> SimStats {
        SimStats {
            tenants: self
                .tenants
                .iter()
                .map(|t| (t.name.clone(), t.counters.snapshot()))
                .collect(),
            anonymous: self.anonymous.snapshot(),
            bans: self.bans.load(Ordering::Relaxed),
        }
    }

    /// The counters of the caller (a tenant, or anonymous).
    pub(crate) fn counters(&self, tenant: Option<usize>) -> &Counters {
        tenant.map_or(&self.anonymous, |t| &self.tenants[t].counters)
    }

    /// A user known to the emulator by id (a bot, a member, a DM recipient), or a
    /// placeholder named after the id.
    pub(crate) fn user(&self, id: u64) -> SimUser {
        let world = self.world();
        self.user_in(&world, id)
    }

    /// [`State::user`] with the world already locked.
    pub(crate) fn user_in(&self, world: &World, id: u64) -> SimUser {
        if let Some(t) = self.tenants.iter().find(|t| t.bot.id == id) {
            return t.bot.clone();
        }
        if let Some(m) = world.members.values().find(|m| m.user.id == id) {
            return m.user.clone();
        }
        if let Some((_, u)) = world.dm_channels.values().find(|(_, u)| u.id == id) {
            return u.clone();
        }
        SimUser {
            id,
            username: format!("user{id}"),
            bot: false,
        }
    }
}
