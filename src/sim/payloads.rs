//! Builders of Discord-shaped JSON objects (users, members, messages, guilds,
//! channels, READY, interactions).
//!
//! Shapes follow Discord's documented payloads (`tests/fixtures/discord/`), including
//! the fields twilight-model 0.18 insists on (`flags` on members, `mfa_enabled` on the
//! READY user, `nsfw_level` on guilds, `attachment_size_limit` on interactions...).

use serde_json::{Value, json};

use super::config::{ChannelConfig, GuildConfig};

/// Discord's epoch (2015-01-01T00:00:00Z) in Unix milliseconds.
pub(crate) const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// Id of the (fictional) owner of every emulated guild.
const GUILD_OWNER_ID: u64 = 100_000_000_000_000_001;

/// `@everyone`'s permissions unless a guild's configuration sets them: Discord's
/// defaults for a new guild (no administrative permission).
pub(crate) const DEFAULT_EVERYONE_PERMISSIONS: u64 = 2_248_473_465_835_073;

/// Every permission bit Discord defines (through `BYPASS_SLOWMODE`, bit 52): what
/// `ADMINISTRATOR` or owning the guild grants.
const ALL_PERMISSIONS: u64 = (1 << 53) - 1;

/// `ADMINISTRATOR`.
const ADMINISTRATOR: u64 = 1 << 3;

/// Default upload limit (10 MiB), sent as `attachment_size_limit` on interactions.
const ATTACHMENT_SIZE_LIMIT: u64 = 10_485_760;

/// The creation time embedded in a snowflake, as Unix milliseconds.
pub(crate) fn snowflake_unix_ms(id: u64) -> u64 {
    (id >> 22) + DISCORD_EPOCH_MS
}

/// Formats Unix milliseconds as Discord does: `2017-07-11T17:27:07.299000+00:00`.
pub(crate) fn iso8601(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let millis = unix_ms % 1000;
    let days = (secs / 86_400).cast_signed();
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}000+00:00",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A user as the emulator knows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SimUser {
    /// Snowflake id.
    #[serde(
        deserialize_with = "super::inject::id::de",
        serialize_with = "super::inject::id::ser"
    )]
    pub id: u64,
    /// Username.
    pub username: String,
    /// Whether the user is a bot.
    #[serde(default)]
    pub bot: bool,
}

/// A user object.
pub(crate) fn user(u: &SimUser) -> Value {
    json!({
        "id": u.id.to_string(),
        "username": u.username,
        "global_name": null,
        "discriminator": "0",
        "avatar": null,
        "bot": u.bot,
        "public_flags": 0,
    })
}

/// The current-user object of a bot (`GET /users/@me`, READY's `user`).
pub(crate) fn current_user(id: u64, username: &str) -> Value {
    json!({
        "id": id.to_string(),
        "username": username,
        "global_name": null,
        "discriminator": "0",
        "avatar": null,
        "bot": true,
        "verified": true,
        "mfa_enabled": false,
        "flags": 0,
        "public_flags": 0,
        "email": null,
        "locale": "en-US",
    })
}

/// A guild member without `user` (as in `MESSAGE_CREATE`'s `member`).
pub(crate) fn partial_member(roles: &[u64], joined_unix_ms: u64) -> Value {
    json!({
        "nick": null,
        "avatar": null,
        "banner": null,
        "roles": roles.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "joined_at": iso8601(joined_unix_ms),
        "premium_since": null,
        "deaf": false,
        "mute": false,
        "pending": false,
        "flags": 0,
    })
}

/// A full guild member (with `user`), as in `GUILD_CREATE` and `GUILD_MEMBER_ADD`.
pub(crate) fn member(u: &SimUser, roles: &[u64], joined_unix_ms: u64) -> Value {
    let mut m = partial_member(roles, joined_unix_ms);
    m["user"] = user(u);
    m
}

/// A guild text channel object.
pub(crate) fn guild_channel(guild_id: u64, c: &ChannelConfig, position: usize) -> Value {
    json!({
        "id": c.id.to_string(),
        "type": 0,
        "guild_id": guild_id.to_string(),
        "name": c.name,
        "position": position,
        "permission_overwrites": [],
        "nsfw": false,
        "topic": null,
        "last_message_id": null,
        "rate_limit_per_user": 0,
        "parent_id": null,
        "flags": 0,
    })
}

/// A DM channel object (`POST /users/@me/channels`).
pub(crate) fn dm_channel(id: u64, recipient: &SimUser) -> Value {
    json!({
        "id": id.to_string(),
        "type": 1,
        "last_message_id": null,
        "flags": 0,
        "recipients": [user(recipient)],
    })
}

/// `@everyone`'s permissions in `g`.
fn everyone_permissions(g: &GuildConfig) -> u64 {
    g.roles
        .iter()
        .find(|r| r.id == g.id)
        .map_or(DEFAULT_EVERYONE_PERMISSIONS, |r| r.permissions)
}

/// A member's guild-level permissions, as Discord computes them without channel
/// overwrites (the emulator has none): `@everyone`'s, plus those of each of the
/// member's roles; `ADMINISTRATOR`, or owning the guild, grants every permission.
pub(crate) fn member_permissions(g: &GuildConfig, user_id: u64, roles: &[u64]) -> u64 {
    if user_id == GUILD_OWNER_ID {
        return ALL_PERMISSIONS;
    }
    let perms = g
        .roles
        .iter()
        .filter(|r| r.id != g.id && roles.contains(&r.id))
        .fold(everyone_permissions(g), |p, r| p | r.permissions);
    if perms & ADMINISTRATOR == 0 {
        perms
    } else {
        ALL_PERMISSIONS
    }
}

/// The roles of a guild: `@everyone` (its id is the guild id) first, then the
/// configured ones.
fn guild_roles(g: &GuildConfig) -> Vec<Value> {
    let mut roles = vec![role(g.id, "@everyone", everyone_permissions(g), 0)];
    roles.extend(
        g.roles
            .iter()
            .filter(|r| r.id != g.id)
            .enumerate()
            .map(|(i, r)| role(r.id, &r.name, r.permissions, i + 1)),
    );
    roles
}

/// A role object.
fn role(id: u64, name: &str, permissions: u64, position: usize) -> Value {
    json!({
        "id": id.to_string(),
        "name": name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": null, "tertiary_color": null},
        "hoist": false,
        "icon": null,
        "unicode_emoji": null,
        "position": position,
        "permissions": permissions.to_string(),
        "managed": false,
        "mentionable": false,
        "flags": 0,
    })
}

/// `GUILD_CREATE`'s `d` for a guild, with the bot itself among `members`.
pub(crate) fn guild_create(g: &GuildConfig, bot: &SimUser, joined_unix_ms: u64) -> Value {
    let channels: Vec<Value> = g
        .channels
        .iter()
        .enumerate()
        .map(|(i, c)| guild_channel(g.id, c, i))
        .collect();
    let mut guild = json!({
        "id": g.id.to_string(),
        "name": g.name,
        "icon": null,
        "description": null,
        "splash": null,
        "discovery_splash": null,
        "features": [],
        "emojis": [],
        "stickers": [],
        "banner": null,
        "owner_id": GUILD_OWNER_ID.to_string(),
        "application_id": null,
        "afk_channel_id": null,
        "afk_timeout": 300,
        "system_channel_id": null,
        "widget_enabled": false,
        "widget_channel_id": null,
        "verification_level": 0,
        "roles": guild_roles(g),
        "default_message_notifications": 0,
        "mfa_level": 0,
        "explicit_content_filter": 0,
        "max_presences": null,
        "max_members": 500_000,
        "vanity_url_code": null,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "system_channel_flags": 0,
        "preferred_locale": "en-US",
        "rules_channel_id": null,
        "public_updates_channel_id": null,
        "safety_alerts_channel_id": null,
        "nsfw_level": 0,
        "premium_progress_bar_enabled": false,
    });
    // GUILD_CREATE's extra fields (split in two: `json!` nests too deep otherwise).
    let extra = json!({
        "joined_at": iso8601(joined_unix_ms),
        "large": false,
        "unavailable": false,
        "member_count": 1,
        "voice_states": [],
        "members": [member(bot, &[], joined_unix_ms)],
        "channels": channels,
        "threads": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    });
    if let (Some(obj), Value::Object(extra)) = (guild.as_object_mut(), extra) {
        obj.extend(extra);
    }
    guild
}

/// READY's `d`.
pub(crate) struct Ready<'a> {
    pub(crate) bot: &'a SimUser,
    pub(crate) guild_ids: &'a [u64],
    pub(crate) session_id: &'a str,
    pub(crate) resume_gateway_url: &'a str,
    pub(crate) shard: Option<[u32; 2]>,
    pub(crate) application_id: u64,
}

impl Ready<'_> {
    /// The JSON object.
    pub(crate) fn to_json(&self) -> Value {
        let mut d = json!({
            "v": 10,
            "user": current_user(self.bot.id, &self.bot.username),
            "guilds": self.guild_ids.iter()
                .map(|id| json!({"id": id.to_string(), "unavailable": true}))
                .collect::<Vec<_>>(),
            "session_id": self.session_id,
            "resume_gateway_url": self.resume_gateway_url,
            "private_channels": [],
            "application": {"id": self.application_id.to_string(), "flags": 0},
        });
        if let Some(shard) = self.shard {
            d["shard"] = json!(shard);
        }
        d
    }
}

/// Fields of an `INTERACTION_CREATE`'s `d` common to every interaction type.
pub(crate) struct InteractionBase<'a> {
    pub(crate) id: u64,
    pub(crate) application_id: u64,
    pub(crate) kind: u8,
    pub(crate) token: &'a str,
    pub(crate) guild_id: Option<u64>,
    pub(crate) channel_id: u64,
    pub(crate) user: &'a SimUser,
    pub(crate) roles: &'a [u64],
    /// The guild's configuration (its roles' permissions), for guild interactions.
    pub(crate) guild: Option<&'a GuildConfig>,
    pub(crate) joined_unix_ms: u64,
    pub(crate) data: Value,
    pub(crate) message: Option<Value>,
}

impl InteractionBase<'_> {
    /// The JSON object.
    pub(crate) fn to_json(&self) -> Value {
        let mut d = json!({
            "id": self.id.to_string(),
            "application_id": self.application_id.to_string(),
            "type": self.kind,
            "token": self.token,
            "version": 1,
            "channel_id": self.channel_id.to_string(),
            "app_permissions": "2248473465835073",
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        });
        if let Some(g) = self.guild_id {
            let mut m = member(self.user, self.roles, self.joined_unix_ms);
            let (member_perms, app_perms) = self.guild.map_or(
                (DEFAULT_EVERYONE_PERMISSIONS, DEFAULT_EVERYONE_PERMISSIONS),
                |guild| {
                    (
                        member_permissions(guild, self.user.id, self.roles),
                        everyone_permissions(guild),
                    )
                },
            );
            m["permissions"] = json!(member_perms.to_string());
            d["app_permissions"] = json!(app_perms.to_string());
            d["guild_id"] = json!(g.to_string());
            d["guild_locale"] = json!("en-US");
            d["member"] = m;
            d["context"] = json!(0);
            d["authorizing_integration_owners"] = json!({"0": g.to_string()});
        } else {
            d["user"] = user(self.user);
            d["context"] = json!(1);
            d["authorizing_integration_owners"] = json!({"1": self.user.id.to_string()});
        }
        if self.kind != 1 {
            d["data"] = self.data.clone();
        }
        if let Some(m) = &self.message {
            d["message"] = m.clone();
        }
        d
    }
}

/// Empties what the `MESSAGE_CONTENT` intent protects (content, embeds, attachments,
/// components, poll) in a message object.
pub(crate) fn redact_content(message: &mut Value) {
    if let Some(obj) = message.as_object_mut() {
        obj.insert("content".into(), json!(""));
        obj.insert("embeds".into(), json!([]));
        obj.insert("attachments".into(), json!([]));
        obj.insert("components".into(), json!([]));
        obj.remove("poll");
    }
}

/// Wraps a dispatch's `d` in the gateway envelope (`op` 0).
pub(crate) fn dispatch_frame(t: &str, s: u64, d: &str) -> String {
    let mut out = String::with_capacity(d.len() + t.len() + 32);
    out.push_str("{\"op\":0,\"t\":\"");
    out.push_str(t);
    out.push_str("\",\"s\":");
    out.push_str(&s.to_string());
    out.push_str(",\"d\":");
    out.push_str(d);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_matches_discord_format() {
        // 2017-07-11T17:27:07.299Z, the docs' example message timestamp.
        assert_eq!(
            iso8601(1_499_794_027_299),
            "2017-07-11T17:27:07.299000+00:00"
        );
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000000+00:00");
    }

    #[test]
    fn snowflake_time_round_trips() {
        let ms = 1_499_794_027_299;
        assert_eq!(
            snowflake_unix_ms(((ms - DISCORD_EPOCH_MS) << 22) | 0x3F_FFFF),
            ms
        );
    }

    #[test]
    fn member_permissions_follow_the_guild_roles() {
        const SEND: u64 = 1 << 11;
        const KICK: u64 = 1 << 1;
        let g = GuildConfig::new(1 << 22, "g", &[])
            .role(1 << 22, "@everyone", SEND)
            .role(10, "mods", KICK)
            .role(11, "admins", ADMINISTRATOR);
        assert_eq!(member_permissions(&g, 5, &[]), SEND);
        assert_eq!(member_permissions(&g, 5, &[10]), SEND | KICK);
        assert_eq!(member_permissions(&g, 5, &[10, 11]), ALL_PERMISSIONS);
        assert_eq!(member_permissions(&g, GUILD_OWNER_ID, &[]), ALL_PERMISSIONS);
        let plain = GuildConfig::new(1 << 22, "g", &[]);
        assert_eq!(
            member_permissions(&plain, 5, &[]),
            DEFAULT_EVERYONE_PERMISSIONS
        );
        let u = SimUser {
            id: 5,
            username: "m".into(),
            bot: false,
        };
        let d = InteractionBase {
            id: 1,
            application_id: 2,
            kind: 2,
            token: "t",
            guild_id: Some(g.id),
            channel_id: 3,
            user: &u,
            roles: &[10],
            guild: Some(&g),
            joined_unix_ms: 0,
            data: json!({}),
            message: None,
        }
        .to_json();
        assert_eq!(d["member"]["permissions"], (SEND | KICK).to_string(), "{d}");
        assert_eq!(d["app_permissions"], SEND.to_string());
        let roles = guild_roles(&g);
        assert_eq!(roles.len(), 3);
        assert_eq!(roles[0]["permissions"], SEND.to_string());
        assert_eq!(roles[2]["name"], "admins");
    }

    #[test]
    fn redaction_empties_protected_fields() {
        let mut m = json!({"content": "hi", "embeds": [1], "poll": {}, "id": "1"});
        redact_content(&mut m);
        assert_eq!(m["content"], "");
        assert_eq!(m["embeds"], json!([]));
        assert!(m.get("poll").is_none());
        assert_eq!(m["id"], "1");
    }
}
