//! Changes to the world and the dispatches they cause: messages created, edited and
//! deleted (by injected users or by bots over REST), member joins, leaves and updates.
//!
//! The world lock is held from the change until its dispatch is queued, so every
//! session sees changes in the order they were made.

use std::time::Instant;

use serde_json::{Value, json};

use super::cdn::SimAttachment;
use super::config::intents;
use super::error::SimError;
use super::inject::{InjectMessage, MemberEvent, MessageEdit, PostedMessage};
use super::messages::StoredMessage;
use super::payloads::{self, SimUser};
use super::state::{Audience, ChannelOwner, MemberRecord, State, World};

impl State {
    /// The DM channel between a tenant's bot and a user (created on first use).
    pub(crate) fn dm_channel(&self, tenant: usize, user: SimUser) -> u64 {
        if let Some(id) = self.world().dm_by_user.get(&(tenant, user.id)) {
            return *id;
        }
        let id = self.snowflake();
        let mut world = self.world();
        let id = *world.dm_by_user.entry((tenant, user.id)).or_insert(id);
        world.dm_channels.entry(id).or_insert((tenant, user));
        id
    }

    /// Delivers an injected user message as `MESSAGE_CREATE`; returns its id.
    pub(crate) fn inject_message(&self, req: InjectMessage) -> Result<u64, SimError> {
        self.inject_message_with_attachments(req, Vec::new())
    }

    /// [`State::inject_message`] with files attached (served by the emulator's CDN).
    pub(crate) fn inject_message_with_attachments(
        &self,
        req: InjectMessage,
        files: Vec<SimAttachment>,
    ) -> Result<u64, SimError> {
        let (channel, guild) = match (req.guild_id, req.channel_id) {
            (Some(g), Some(c)) => {
                if !self.guild_channel(g, c) {
                    return Err(SimError::UnknownChannel(c));
                }
                (c, Some(g))
            }
            (Some(_), None) => return Err(SimError::Invalid("channel_id is required".into())),
            (None, Some(c)) => match self.channel_owner(c) {
                Some(ChannelOwner::Dm(..)) => (c, None),
                Some(ChannelOwner::Guild(g)) => (c, Some(g)),
                None => return Err(SimError::UnknownChannel(c)),
            },
            (None, None) => {
                let name = req.tenant.as_deref().unwrap_or_default();
                let t = self
                    .tenant_by_name(name)
                    .ok_or_else(|| SimError::UnknownTenant(name.to_owned()))?;
                (self.dm_channel(t, req.author.clone()), None)
            }
        };
        let mentions = req.mentions.iter().map(|id| self.user(*id)).collect();
        let mut msg = self.new_message(channel, guild, None, req.author, req.content, mentions);
        msg.attachments = self.store_attachments(channel, files)?;
        let id = msg.id;
        let mut world = self.world();
        if let Some(g) = guild {
            world
                .members
                .entry((g, msg.author.id))
                .or_insert_with(|| MemberRecord {
                    user: msg.author.clone(),
                    roles: Vec::new(),
                    joined_unix_ms: crate::model::now_ms(),
                    nick: None,
                });
        }
        self.insert_and_dispatch(&mut world, msg);
        Ok(id)
    }

    /// A new message object with defaults (id from now).
    pub(crate) fn new_message(
        &self,
        channel_id: u64,
        guild_id: Option<u64>,
        tenant: Option<usize>,
        author: SimUser,
        content: String,
        mentions: Vec<SimUser>,
    ) -> StoredMessage {
        StoredMessage {
            id: self.snowflake(),
            channel_id,
            guild_id,
            tenant,
            author,
            content,
            embeds: json!([]),
            components: json!([]),
            mentions,
            nonce: None,
            created: Instant::now(),
            edited_unix_ms: None,
            kind: 0,
            message_reference: None,
            flags: 0,
            webhook_id: None,
            interaction_id: None,
            application_id: None,
            attachments: Vec::new(),
        }
    }

    /// Stores a message and queues its `MESSAGE_CREATE` (with the world locked).
    pub(crate) fn insert_and_dispatch(&self, world: &mut World, msg: StoredMessage) {
        self.dispatch_message(world, &msg, "MESSAGE_CREATE");
        world.messages.insert(msg);
    }

    /// Queues `MESSAGE_CREATE` or `MESSAGE_UPDATE` for a message to every bot that sees
    /// its channel, each with its `MESSAGE_CONTENT` view.
    pub(crate) fn dispatch_message(&self, world: &World, msg: &StoredMessage, t: &str) {
        let member = msg.guild_id.and_then(|g| {
            (msg.webhook_id.is_none())
                .then(|| world.members.get(&(g, msg.author.id)))
                .flatten()
                .map(|m| {
                    let mut v = payloads::partial_member(&m.roles, m.joined_unix_ms);
                    v["nick"] = json!(m.nick);
                    v
                })
        });
        let (audience, intent) = match msg.guild_id {
            Some(g) => (Audience::Guild(g), intents::GUILD_MESSAGES),
            None => match world.dm_channels.get(&msg.channel_id) {
                Some((t, _)) => (Audience::Tenant(*t, None), intents::DIRECT_MESSAGES),
                None => return,
            },
        };
        self.dispatch(audience, t, intent, |tenant, session_intents| {
            let mut d = msg.view(
                tenant.bot.id,
                session_intents & intents::MESSAGE_CONTENT != 0,
            );
            if let Some(m) = &member {
                d["member"] = m.clone();
            }
            if let Some(r) = msg
                .message_reference
                .as_ref()
                .and_then(|r| r.get("message_id"))
            {
                let referenced = r
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .and_then(|id| world.messages.get(msg.channel_id, id));
                if let Some(rm) = referenced {
                    d["referenced_message"] = rm.view(
                        tenant.bot.id,
                        session_intents & intents::MESSAGE_CONTENT != 0,
                    );
                }
            }
            d.to_string()
        });
    }

    /// Edits a stored message's content and queues `MESSAGE_UPDATE`.
    pub(crate) fn edit_message(&self, edit: &MessageEdit) -> Result<(), SimError> {
        self.update_message(edit.channel_id, edit.message_id, |m| {
            m.content.clone_from(&edit.content);
        })
        .map(|_| ())
    }

    /// Applies `change` to a stored message, marks it edited and queues `MESSAGE_UPDATE`.
    pub(crate) fn update_message(
        &self,
        channel: u64,
        id: u64,
        change: impl FnOnce(&mut StoredMessage),
    ) -> Result<Value, SimError> {
        let mut world = self.world();
        let msg = world
            .messages
            .get_mut(channel, id)
            .ok_or(SimError::UnknownMessage(id))?;
        change(msg);
        msg.edited_unix_ms = Some(crate::model::now_ms());
        let msg = msg.clone();
        self.dispatch_message(&world, &msg, "MESSAGE_UPDATE");
        Ok(msg.to_json())
    }

    /// Deletes a stored message and queues `MESSAGE_DELETE`.
    pub(crate) fn delete_message(&self, channel: u64, id: u64) -> Result<(), SimError> {
        let mut world = self.world();
        let msg = world
            .messages
            .remove(channel, id)
            .ok_or(SimError::UnknownMessage(id))?;
        let mut d = json!({"id": id.to_string(), "channel_id": channel.to_string()});
        let (audience, intent) = match msg.guild_id {
            Some(g) => {
                d["guild_id"] = json!(g.to_string());
                (Audience::Guild(g), intents::GUILD_MESSAGES)
            }
            None => match world.dm_channels.get(&channel) {
                Some((t, _)) => (Audience::Tenant(*t, None), intents::DIRECT_MESSAGES),
                None => return Ok(()),
            },
        };
        let d = d.to_string();
        self.dispatch(audience, "MESSAGE_DELETE", intent, |_, _| d.clone());
        Ok(())
    }

    /// Applies a member change and queues its `GUILD_MEMBER_*` dispatch.
    pub(crate) fn member_event(&self, ev: MemberEvent) -> Result<(), SimError> {
        let mut world = self.world();
        match ev {
            MemberEvent::Add { guild_id, user } => {
                self.require_guild(guild_id)?;
                let rec = MemberRecord {
                    user: user.clone(),
                    roles: Vec::new(),
                    joined_unix_ms: crate::model::now_ms(),
                    nick: None,
                };
                let mut d = payloads::member(&user, &[], rec.joined_unix_ms);
                d["guild_id"] = json!(guild_id.to_string());
                world.members.insert((guild_id, user.id), rec);
                let d = d.to_string();
                self.dispatch_member(guild_id, "GUILD_MEMBER_ADD", &d);
            }
            MemberEvent::Remove { guild_id, user_id } => {
                self.require_guild(guild_id)?;
                let rec = world
                    .members
                    .remove(&(guild_id, user_id))
                    .ok_or(SimError::UnknownMember(user_id))?;
                let d =
                    json!({"guild_id": guild_id.to_string(), "user": payloads::user(&rec.user)});
                self.dispatch_member(guild_id, "GUILD_MEMBER_REMOVE", &d.to_string());
            }
            MemberEvent::Update {
                guild_id,
                user_id,
                roles,
                nick,
            } => {
                self.require_guild(guild_id)?;
                let rec = world
                    .members
                    .get_mut(&(guild_id, user_id))
                    .ok_or(SimError::UnknownMember(user_id))?;
                if let Some(r) = roles {
                    rec.roles = r;
                }
                if nick.is_some() {
                    rec.nick = nick;
                }
                let d = member_update_json(guild_id, rec);
                self.dispatch_member(guild_id, "GUILD_MEMBER_UPDATE", &d);
            }
        }
        Ok(())
    }

    /// Adds or removes a role of a member (REST); queues `GUILD_MEMBER_UPDATE`.
    pub(crate) fn set_member_role(
        &self,
        guild: u64,
        user: u64,
        role: u64,
        add: bool,
    ) -> Result<(), SimError> {
        let mut world = self.world();
        let rec = world
            .members
            .get_mut(&(guild, user))
            .ok_or(SimError::UnknownMember(user))?;
        let had = rec.roles.contains(&role);
        if add && !had {
            rec.roles.push(role);
        } else if !add && had {
            rec.roles.retain(|r| *r != role);
        } else {
            return Ok(());
        }
        let d = member_update_json(guild, rec);
        self.dispatch_member(guild, "GUILD_MEMBER_UPDATE", &d);
        Ok(())
    }

    fn require_guild(&self, guild: u64) -> Result<(), SimError> {
        if self.guilds.contains_key(&guild) {
            Ok(())
        } else {
            Err(SimError::UnknownGuild(guild))
        }
    }

    fn dispatch_member(&self, guild: u64, t: &str, d: &str) {
        self.dispatch(Audience::Guild(guild), t, intents::GUILD_MEMBERS, |_, _| {
            d.to_owned()
        });
    }

    /// Messages of a channel for the control API (`all`: injected ones too).
    pub(crate) fn posted_messages(&self, channel: u64, all: bool) -> Vec<PostedMessage> {
        let world = self.world();
        world
            .messages
            .all(channel)
            .iter()
            .filter(|m| all || m.tenant.is_some())
            .map(|m| PostedMessage {
                id: m.id,
                channel_id: m.channel_id,
                tenant: m.tenant.map(|t| self.tenants[t].name.clone()),
                content: m.content.clone(),
                nonce: m.nonce.clone(),
                message_reference: m.message_reference.clone(),
                interaction_id: m.interaction_id,
                message: m.to_json(),
            })
            .collect()
    }
}

/// `GUILD_MEMBER_UPDATE`'s `d`.
fn member_update_json(guild: u64, rec: &MemberRecord) -> String {
    let mut d = payloads::member(&rec.user, &rec.roles, rec.joined_unix_ms);
    d["guild_id"] = json!(guild.to_string());
    d["nick"] = json!(rec.nick);
    d.to_string()
}
