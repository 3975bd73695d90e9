//! Building an emulator configuration from a tenant registry, so `switchboard sim
//! --config FILE` (and the demo) serve exactly the bots a registry names.
//!
//! Each Discord tenant becomes a bot with the registry's token and application id.
//! Its guilds and channels are the explicit ids of its `allow` lists; a `"*"` list
//! gets the shared demo guild [`DEMO_GUILD`] with channels [`DEMO_CHANNELS`]; with a
//! `"*"` channel list, any other channel id of its guilds is accepted too (created on
//! first use by an injected message or interaction). The privileged intents a bot
//! may use are the ones its registry entry asks for.

use secrecy::ExposeSecret;

use super::config::{ChannelConfig, GuildConfig, PrivilegedIntents, SimConfig, TenantConfig};
use crate::config::Registry;

/// The guild every `"*"` tenant is in.
pub const DEMO_GUILD: u64 = 111_111_111_111_111_111;
/// The channels of [`DEMO_GUILD`] (and of explicit guilds with a `"*"` channel list).
pub const DEMO_CHANNELS: [u64; 2] = [222_222_222_222_222_222, 222_222_222_222_222_223];

/// Why a registry cannot be emulated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tenant {tenant}: {reason}")]
pub struct FromRegistryError {
    /// The tenant.
    pub tenant: String,
    /// What is missing.
    pub reason: String,
}

/// 64-bit FNV-1a, to derive stable ids from tenant names.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A plausible snowflake derived from `seed` (stable across runs).
fn snowflake(seed: &str) -> u64 {
    // Keep it within Discord's range: a 2020s timestamp part plus low bits from the hash.
    (1_100_000_000_000_000_000 + (fnv1a(seed.as_bytes()) % 100_000_000_000_000_000)).max(1)
}

impl SimConfig {
    /// The emulator configuration serving every Discord tenant of `registry`
    /// (other providers are skipped), with the defaults of [`SimConfig::default`].
    ///
    /// # Errors
    /// [`FromRegistryError`] when a tenant has no bot token.
    pub fn from_registry(registry: &Registry) -> Result<Self, FromRegistryError> {
        let mut config = SimConfig::default();
        for t in registry
            .tenants
            .iter()
            .filter(|t| t.provider.as_str() == "discord")
        {
            let name = t.tenant.to_string();
            let token = t
                .credentials
                .bot_token
                .as_ref()
                .ok_or_else(|| FromRegistryError {
                    tenant: t.id().to_string(),
                    reason: "no credentials.bot_token".to_owned(),
                })?;
            let app_id = t
                .credentials
                .app_id
                .as_deref()
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| snowflake(&format!("app:{name}")));
            let intents = &t.gateway.intents;
            let asks = |i: &str| intents.iter().any(|x| x == i);
            let privileged = PrivilegedIntents {
                guild_members: asks("guild_members"),
                guild_presences: asks("guild_presences"),
                message_content: asks("message_content"),
            };
            let any_channel = t.allow.channels.iter().any(|c| c == "*");
            let channels: Vec<ChannelConfig> = {
                let explicit: Vec<u64> = t
                    .allow
                    .channels
                    .iter()
                    .filter_map(|c| c.parse().ok())
                    .collect();
                let ids = if explicit.is_empty() {
                    DEMO_CHANNELS.to_vec()
                } else {
                    explicit
                };
                ids.into_iter()
                    .enumerate()
                    .map(|(i, id)| ChannelConfig {
                        id,
                        name: format!("channel-{i}"),
                    })
                    .collect()
            };
            let guild_ids: Vec<u64> = {
                let explicit: Vec<u64> = t
                    .allow
                    .guilds
                    .iter()
                    .filter_map(|g| g.parse().ok())
                    .collect();
                if explicit.is_empty() {
                    vec![DEMO_GUILD]
                } else {
                    explicit
                }
            };
            let mut tenant = TenantConfig::new(
                name.clone(),
                token.expose_secret(),
                app_id,
                snowflake(&format!("bot:{name}")),
            )
            .privileged(privileged);
            for id in guild_ids {
                tenant = tenant.guild(GuildConfig {
                    id,
                    name: format!("guild-{id}"),
                    channels: channels.clone(),
                    roles: Vec::new(),
                    any_channel,
                });
            }
            config = config.tenant(tenant);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LoadOptions;

    #[test]
    fn registry_tenants_become_bots() {
        let yaml = "providers:\n  - provider: discord\n    tenant: duck\n    credentials:\n      bot_token: fake-duck\n      app_id: '123456789012345678'\n    allow: { guilds: ['111111111111111112'], channels: ['*'] }\n    gateway: { intents: [guilds, message_content] }\n  - provider: discord\n    tenant: goose\n    credentials:\n      bot_token: fake-goose\n";
        let reg = Registry::from_yaml_str(yaml, "t.yml", &LoadOptions::default()).unwrap();
        let sim = SimConfig::from_registry(&reg).unwrap();
        assert_eq!(sim.tenants.len(), 2);
        let duck = &sim.tenants[0];
        assert_eq!(duck.application_id, 123_456_789_012_345_678);
        assert_eq!(duck.guilds[0].id, 111_111_111_111_111_112);
        assert!(duck.privileged.message_content && !duck.privileged.guild_members);
        assert_eq!(duck.token.expose_secret(), "fake-duck");
        let goose = &sim.tenants[1];
        assert_eq!(goose.guilds[0].id, DEMO_GUILD);
        assert_eq!(goose.guilds[0].channels.len(), 2);
        assert!(duck.guilds[0].any_channel && goose.guilds[0].any_channel);
        assert_ne!(goose.bot_user_id, duck.bot_user_id);
    }
}
