//! Configuration of the emulator: tenants (bots), their guilds and channels, gateway
//! timings and REST rate limits.
//!
//! Every limit is configurable so tests can run with small windows (a second rather
//! than Discord's ten minutes). The defaults follow Discord's documentation.

use std::collections::HashMap;
use std::time::Duration;

use secrecy::SecretString;

/// Gateway intent bits used by the emulator (Discord's documented values).
pub mod intents {
    /// `GUILDS`.
    pub const GUILDS: u64 = 1 << 0;
    /// `GUILD_MEMBERS` (privileged).
    pub const GUILD_MEMBERS: u64 = 1 << 1;
    /// `GUILD_PRESENCES` (privileged).
    pub const GUILD_PRESENCES: u64 = 1 << 8;
    /// `GUILD_MESSAGES`.
    pub const GUILD_MESSAGES: u64 = 1 << 9;
    /// `DIRECT_MESSAGES`.
    pub const DIRECT_MESSAGES: u64 = 1 << 12;
    /// `MESSAGE_CONTENT` (privileged).
    pub const MESSAGE_CONTENT: u64 = 1 << 15;
    /// Every intent bit Discord documents; any other bit closes the connection with 4013.
    pub const KNOWN: u64 = 0x1_FFFF | (1 << 20) | (1 << 21) | (1 << 24) | (1 << 25);
    /// The privileged intents, which a bot must have enabled to request (else 4014).
    pub const PRIVILEGED: u64 = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT;
}

/// Which privileged intents a bot has been granted in its application settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrivilegedIntents {
    /// `GUILD_MEMBERS`.
    pub guild_members: bool,
    /// `GUILD_PRESENCES`.
    pub guild_presences: bool,
    /// `MESSAGE_CONTENT`.
    pub message_content: bool,
}

impl PrivilegedIntents {
    /// All three privileged intents enabled.
    #[must_use]
    pub fn all() -> Self {
        Self {
            guild_members: true,
            guild_presences: true,
            message_content: true,
        }
    }

    /// The intent bits these flags allow.
    #[must_use]
    pub fn bits(self) -> u64 {
        let mut bits = 0;
        if self.guild_members {
            bits |= intents::GUILD_MEMBERS;
        }
        if self.guild_presences {
            bits |= intents::GUILD_PRESENCES;
        }
        if self.message_content {
            bits |= intents::MESSAGE_CONTENT;
        }
        bits
    }
}

/// A text channel of a guild.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelConfig {
    /// Snowflake id.
    pub id: u64,
    /// Channel name.
    pub name: String,
}

/// A role of a guild, with its permission bits (Discord's values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleConfig {
    /// Snowflake id; the guild's own id is its `@everyone` role.
    pub id: u64,
    /// Role name.
    pub name: String,
    /// Permission bits granted by the role.
    pub permissions: u64,
}

/// A guild (server). Tenants that list the same guild id share that guild.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuildConfig {
    /// Snowflake id; routes to shard `(id >> 22) % shard_count`.
    pub id: u64,
    /// Guild name.
    pub name: String,
    /// Text channels.
    pub channels: Vec<ChannelConfig>,
    /// Roles besides the default `@everyone` (a role whose id is the guild's
    /// replaces `@everyone`'s permissions). A member's permissions are `@everyone`'s
    /// and those of each of its roles; `ADMINISTRATOR` or owning the guild grants all.
    pub roles: Vec<RoleConfig>,
    /// Whether any other channel id is a text channel of this guild too, created on
    /// first use (a message or interaction injected into it): a registry's
    /// `channels: ["*"]`.
    pub any_channel: bool,
}

impl GuildConfig {
    /// A guild with the given id, name and text channels `(id, name)`.
    #[must_use]
    pub fn new(id: u64, name: impl Into<String>, channels: &[(u64, &str)]) -> Self {
        Self {
            id,
            name: name.into(),
            channels: channels
                .iter()
                .map(|&(id, name)| ChannelConfig {
                    id,
                    name: name.to_owned(),
                })
                .collect(),
            roles: Vec::new(),
            any_channel: false,
        }
    }

    /// Adds a role with these permission bits (the guild's id: sets `@everyone`'s).
    #[must_use]
    pub fn role(mut self, id: u64, name: impl Into<String>, permissions: u64) -> Self {
        self.roles.retain(|r| r.id != id);
        self.roles.push(RoleConfig {
            id,
            name: name.into(),
            permissions,
        });
        self
    }

    /// Accepts any channel id as one of this guild's text channels, created on
    /// first use.
    #[must_use]
    pub fn any_channel(mut self) -> Self {
        self.any_channel = true;
        self
    }
}

/// One bot (tenant) known to the emulator.
#[derive(Debug, Clone)]
pub struct TenantConfig {
    /// Tenant name (used by the control API and in stats), e.g. `duck`.
    pub name: String,
    /// The bot token it authenticates with (gateway IDENTIFY and REST).
    pub token: SecretString,
    /// Application id.
    pub application_id: u64,
    /// The bot user's id.
    pub bot_user_id: u64,
    /// The bot user's username.
    pub bot_username: String,
    /// Privileged intents enabled for this bot.
    pub privileged: PrivilegedIntents,
    /// Guilds the bot is a member of.
    pub guilds: Vec<GuildConfig>,
}

impl TenantConfig {
    /// A tenant with all privileged intents enabled and no guilds.
    #[must_use]
    pub fn new(
        name: impl Into<String>,
        token: impl Into<String>,
        application_id: u64,
        bot_user_id: u64,
    ) -> Self {
        let name = name.into();
        Self {
            bot_username: format!("{name}-bot"),
            name,
            token: SecretString::from(token.into()),
            application_id,
            bot_user_id,
            privileged: PrivilegedIntents::all(),
            guilds: Vec::new(),
        }
    }

    /// Replaces the privileged intents.
    #[must_use]
    pub fn privileged(mut self, privileged: PrivilegedIntents) -> Self {
        self.privileged = privileged;
        self
    }

    /// Adds a guild.
    #[must_use]
    pub fn guild(mut self, guild: GuildConfig) -> Self {
        self.guilds.push(guild);
        self
    }
}

/// Limit of one REST route bucket: `limit` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteLimit {
    /// Requests allowed per window.
    pub limit: u32,
    /// Window length; the window starts with its first request, as Discord's do.
    pub window: Duration,
    /// A shared (per-resource) bucket: counted across every token, and its 429s carry
    /// `X-RateLimit-Scope: shared` (and do not count as invalid requests).
    pub shared: bool,
}

/// REST rate-limit settings.
#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    /// Limit of every route bucket without an override.
    pub route: RouteLimit,
    /// Per-route overrides, keyed by `"METHOD /template"` with Discord's parameter
    /// names, e.g. `"POST /channels/{channel_id}/messages"`.
    pub overrides: HashMap<String, RouteLimit>,
    /// Global requests per token per `global_window` (Discord: 50 per second).
    pub global_limit: u32,
    /// Global window.
    pub global_window: Duration,
    /// Invalid requests (401, 403, 429 other than `shared`) one client IP may make per
    /// `invalid_window` before it is banned (Discord: 10,000 per 10 minutes).
    pub invalid_threshold: u32,
    /// Window of the invalid-request counter.
    pub invalid_window: Duration,
    /// How long a ban lasts.
    pub ban_duration: Duration,
    /// Send `X-RateLimit-Scope` on 2xx responses too (Discord's docs send it only on
    /// 429s; twilight-http learns buckets only from responses carrying it).
    pub scope_on_2xx: bool,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            route: RouteLimit {
                limit: 5,
                window: Duration::from_secs(5),
                shared: false,
            },
            overrides: HashMap::new(),
            global_limit: 50,
            global_window: Duration::from_secs(1),
            invalid_threshold: 10_000,
            invalid_window: Duration::from_secs(600),
            ban_duration: Duration::from_secs(3600),
            scope_on_2xx: false,
        }
    }
}

/// Configuration of one emulator instance.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The bots.
    pub tenants: Vec<TenantConfig>,
    /// `heartbeat_interval` sent in HELLO.
    pub heartbeat_interval: Duration,
    /// A connection that sends no heartbeat for this long is closed with 4009
    /// (default: 1.5 × the interval).
    pub heartbeat_timeout: Option<Duration>,
    /// Dispatches kept per session for RESUME.
    pub replay_buffer: usize,
    /// How long a session stays resumable after its connection is gone.
    pub session_ttl: Duration,
    /// Gateway commands a connection may send per minute before it is closed with
    /// 4008 (Discord: 120).
    pub gateway_commands_per_minute: u32,
    /// `shards` returned by `GET /gateway/bot`.
    pub recommended_shards: u32,
    /// `session_start_limit.max_concurrency` returned by `GET /gateway/bot`.
    pub max_concurrency: u32,
    /// How long an interaction token stays valid (Discord: 15 minutes).
    pub interaction_token_ttl: Duration,
    /// How long after its creation an interaction accepts its initial response
    /// (Discord: 3 seconds); a later callback is 404 Unknown interaction (10062).
    pub interaction_response_window: Duration,
    /// How long `enforce_nonce` deduplicates a create-message (Discord: a few minutes).
    pub nonce_ttl: Duration,
    /// REST rate limits.
    pub rate_limits: RateLimitConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            tenants: Vec::new(),
            heartbeat_interval: Duration::from_millis(41_250),
            heartbeat_timeout: None,
            replay_buffer: 1_000,
            session_ttl: Duration::from_secs(180),
            gateway_commands_per_minute: 120,
            recommended_shards: 1,
            max_concurrency: 1,
            interaction_token_ttl: Duration::from_secs(15 * 60),
            interaction_response_window: Duration::from_secs(3),
            nonce_ttl: Duration::from_secs(5 * 60),
            rate_limits: RateLimitConfig::default(),
        }
    }
}

impl SimConfig {
    /// Adds a tenant.
    #[must_use]
    pub fn tenant(mut self, tenant: TenantConfig) -> Self {
        self.tenants.push(tenant);
        self
    }

    /// The effective heartbeat timeout.
    #[must_use]
    pub fn effective_heartbeat_timeout(&self) -> Duration {
        self.heartbeat_timeout
            .unwrap_or(self.heartbeat_interval + self.heartbeat_interval / 2)
    }
}
