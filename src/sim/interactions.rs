//! Interactions: injecting `INTERACTION_CREATE`, and what a bot may answer through the
//! interaction token — the initial callback (types 1, 4–9) and the webhook
//! followup / `@original` routes.
//!
//! These routes are authorised by the token in the path, never by a bot token, as on
//! Discord: an unknown or expired token (older than `interaction_token_ttl`) is 401
//! with code 50027 on every route. The initial response must arrive within
//! `interaction_response_window` (Discord: 3 s) of the interaction's creation, else
//! it is 404 Unknown interaction (10062); a second one is 400 (40060). Slash,
//! autocomplete and context-menu commands can only be injected when the application
//! has registered them (globally, or in the interaction's guild). Every answer is
//! recorded in the interaction's [`InteractionLog`].

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::error::{ApiError, SimError};
use super::inject::{InjectInteraction, InjectedInteraction, InteractionKind};
use super::interaction_log::InteractionLog;
use super::messages::{self, EPHEMERAL, LOADING, StoredMessage};
use super::payloads::{self, InteractionBase};
use super::state::{Audience, ChannelOwner, InteractionRecord, State, World};

/// Which message of an interaction a webhook route addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// `@original`.
    Original,
    /// A followup, by id.
    Message(u64),
}

impl Target {
    /// Parses the `{message_id}` path segment.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        if s == "@original" {
            Some(Self::Original)
        } else {
            s.parse().ok().map(Self::Message)
        }
    }
}

impl State {
    /// Delivers an interaction to its tenant; returns its id and token.
    pub(crate) fn inject_interaction(
        &self,
        req: &InjectInteraction,
    ) -> Result<InjectedInteraction, SimError> {
        let t = self
            .tenant_by_name(&req.tenant)
            .ok_or_else(|| SimError::UnknownTenant(req.tenant.clone()))?;
        let tenant = &self.tenants[t];
        let channel_id = match (req.guild_id, req.channel_id) {
            (Some(g), Some(c)) if self.guild_channel(g, c) => c,
            (Some(_), Some(c)) => return Err(SimError::UnknownChannel(c)),
            (Some(_), None) => return Err(SimError::Invalid("channel_id is required".into())),
            (None, Some(c)) => match self.channel_owner(c) {
                Some(ChannelOwner::Dm(owner)) if owner == t => c,
                _ => return Err(SimError::UnknownChannel(c)),
            },
            (None, None) => self.dm_channel(t, req.user.clone()),
        };
        if let Some(g) = req.guild_id
            && !tenant.in_guild(g)
        {
            return Err(SimError::UnknownGuild(g));
        }
        let id = self.snowflake();
        let token = format!(
            "aW50ZXJhY3Rpb246{id}:{:032x}{:032x}",
            rand::random::<u128>(),
            rand::random::<u128>()
        );
        let mut world = self.world();
        let (kind, data, message_id) =
            interaction_data(&world, tenant.application_id, req, channel_id, self)?;
        let message = message_id
            .and_then(|m| world.messages.get(channel_id, m))
            .map(StoredMessage::to_json);
        let (roles, joined) = req
            .guild_id
            .and_then(|g| world.members.get(&(g, req.user.id)))
            .map_or((Vec::new(), crate::model::now_ms()), |m| {
                (m.roles.clone(), m.joined_unix_ms)
            });
        let d = InteractionBase {
            id,
            application_id: tenant.application_id,
            kind,
            token: &token,
            guild_id: req.guild_id,
            channel_id,
            user: &req.user,
            roles: &roles,
            guild: req.guild_id.and_then(|g| self.guilds.get(&g)),
            joined_unix_ms: joined,
            data,
            message,
        }
        .to_json()
        .to_string();
        world.interactions.insert(
            id,
            InteractionRecord {
                id,
                token: token.clone(),
                tenant: t,
                kind,
                guild_id: req.guild_id,
                channel_id,
                created: Instant::now(),
                response: None,
                response_body: None,
                original: None,
                message_id,
                log: InteractionLog {
                    id,
                    tenant: tenant.name.clone(),
                    kind,
                    initial_type: None,
                    initial_after_ms: None,
                    initial_ephemeral: false,
                    late_callbacks: 0,
                    duplicate_callbacks: 0,
                    original_edits: 0,
                    first_edit_after_ms: None,
                    original_deleted: false,
                    followups: 0,
                    followup_ephemeral: Vec::new(),
                },
            },
        );
        self.dispatch(
            Audience::Tenant(t, req.guild_id),
            "INTERACTION_CREATE",
            0,
            |_, _| d.clone(),
        );
        drop(world);
        Ok(InjectedInteraction { id, token })
    }

    /// The initial response an interaction got (`{"type", "data"}` as the bot sent
    /// it), if answered.
    pub(crate) fn interaction_response(&self, id: u64) -> Option<Value> {
        self.world().interactions.get(&id)?.response_body.clone()
    }

    /// The interaction a token belongs to, if valid (and matching `id` / `app`).
    fn interaction_for(
        &self,
        world: &World,
        id: Option<u64>,
        app: Option<u64>,
        token: &str,
    ) -> Result<InteractionRecord, ApiError> {
        let rec = match id {
            Some(id) => world.interactions.get(&id).filter(|r| r.token == token),
            None => world.interactions.values().find(|r| r.token == token),
        }
        .ok_or_else(ApiError::invalid_webhook_token)?;
        let expired = rec.created.elapsed() >= self.config.interaction_token_ttl;
        let app_ok = app.is_none_or(|a| self.tenants[rec.tenant].application_id == a);
        if expired || !app_ok {
            return Err(ApiError::invalid_webhook_token());
        }
        Ok(rec.clone())
    }

    /// `POST /interactions/{id}/{token}/callback`. Returns the callback response
    /// object (for `with_response=true`).
    pub(crate) fn interaction_callback(
        &self,
        id: u64,
        token: &str,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let mut world = self.world();
        let rec = self.interaction_for(&world, Some(id), None, token)?;
        if rec.response.is_some() {
            if let Some(r) = world.interactions.get_mut(&id) {
                r.log.duplicate_callbacks += 1;
            }
            return Err(ApiError::new(
                400,
                "Interaction has already been acknowledged.",
                40060,
            ));
        }
        if rec.created.elapsed() > self.config.interaction_response_window {
            if let Some(r) = world.interactions.get_mut(&id) {
                r.log.late_callbacks += 1;
            }
            self.changed.notify_waiters();
            return Err(ApiError::new(404, "Unknown interaction", 10062));
        }
        let kind =
            body.get("type").and_then(Value::as_u64).ok_or_else(|| {
                ApiError::form("type", "BASE_TYPE_REQUIRED", "This field is required")
            })? as u8;
        let allowed: &[u8] = match rec.kind {
            2 => &[4, 5, 9],
            3 => &[4, 5, 6, 7, 9],
            4 => &[8],
            5 => &[4, 5, 6, 7],
            _ => &[1],
        };
        if !allowed.contains(&kind) {
            return Err(ApiError::form(
                "type",
                "INTERACTION_RESPONSE_TYPE_INVALID",
                "Interaction response type is not valid for this interaction",
            ));
        }
        let data = body.get("data").cloned().unwrap_or(Value::Null);
        let mut resource_message = None;
        let original = match kind {
            4 | 5 => {
                let mut msg = self.interaction_message(&rec, if rec.kind == 2 { 20 } else { 0 });
                if kind == 5 {
                    msg.flags |= LOADING;
                    if let Some(f) = data.get("flags").and_then(Value::as_u64) {
                        msg.flags |= f & EPHEMERAL;
                    }
                } else {
                    messages::apply_body(&mut msg, &data, true)?;
                }
                resource_message = Some(msg.to_json());
                let id = msg.id;
                self.post_interaction_message(&mut world, msg);
                Some(id)
            }
            6 => rec.message_id,
            7 => {
                let mid = rec.message_id.ok_or_else(|| {
                    ApiError::form(
                        "type",
                        "INTERACTION_RESPONSE_TYPE_INVALID",
                        "No message to update",
                    )
                })?;
                if let Some(m) = world.messages.get(rec.channel_id, mid) {
                    messages::apply_body(&mut m.clone(), &data, false)?;
                }
                drop(world);
                let updated = self.update_message(rec.channel_id, mid, |m| {
                    // Validated above on a copy, so this cannot fail.
                    let _ = messages::apply_body(m, &data, false);
                })?;
                resource_message = Some(updated);
                world = self.world();
                Some(mid)
            }
            _ => None,
        };
        if let Some(r) = world.interactions.get_mut(&id) {
            r.response = Some(kind);
            r.response_body = Some(body.clone());
            r.original = original;
            r.log.initial_type = Some(kind);
            r.log.initial_after_ms = Some(millis(r.created.elapsed()));
            r.log.initial_ephemeral = data
                .get("flags")
                .and_then(Value::as_u64)
                .is_some_and(|f| f & EPHEMERAL != 0);
        }
        self.changed.notify_waiters();
        let mut out = json!({
            "interaction": {"id": id.to_string(), "type": rec.kind, "response_message_loading": kind == 5,
                "response_message_ephemeral": false},
            "resource": {"type": kind},
        });
        if let Some(m) = resource_message {
            out["resource"]["message"] = m;
        }
        Ok(out)
    }

    /// A message authored by the tenant's bot in the interaction's channel.
    fn interaction_message(&self, rec: &InteractionRecord, kind: u8) -> StoredMessage {
        let tenant = &self.tenants[rec.tenant];
        let mut msg = self.new_message(
            rec.channel_id,
            rec.guild_id,
            Some(rec.tenant),
            tenant.bot.clone(),
            String::new(),
            Vec::new(),
        );
        msg.kind = kind;
        msg.webhook_id = Some(tenant.application_id);
        msg.application_id = Some(tenant.application_id);
        msg.interaction_id = Some(rec.id);
        msg
    }

    /// Stores an interaction message; dispatches `MESSAGE_CREATE` unless ephemeral.
    fn post_interaction_message(&self, world: &mut World, msg: StoredMessage) {
        if msg.flags & EPHEMERAL == 0 {
            self.insert_and_dispatch(world, msg);
        } else {
            world.messages.insert(msg);
        }
    }

    /// `POST /webhooks/{app}/{token}`: a followup message.
    pub(crate) fn webhook_followup(
        &self,
        app: u64,
        token: &str,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let mut world = self.world();
        let rec = self.interaction_for(&world, None, Some(app), token)?;
        if rec.response.is_none() {
            return Err(ApiError::new(404, "Unknown Webhook", 10015));
        }
        let mut msg = self.interaction_message(&rec, 0);
        messages::apply_body(&mut msg, body, true)?;
        let json = msg.to_json();
        if let Some(r) = world.interactions.get_mut(&rec.id) {
            r.log.followups += 1;
            r.log.followup_ephemeral.push(msg.flags & EPHEMERAL != 0);
        }
        self.post_interaction_message(&mut world, msg);
        drop(world);
        self.changed.notify_waiters();
        Ok(json)
    }

    /// Resolves the message a webhook route addresses.
    fn webhook_target(
        &self,
        app: u64,
        token: &str,
        target: Target,
    ) -> Result<(InteractionRecord, u64), ApiError> {
        let world = self.world();
        let rec = self.interaction_for(&world, None, Some(app), token)?;
        let unknown = || ApiError::new(404, "Unknown Message", 10008);
        let id = match target {
            Target::Original => rec.original.ok_or_else(unknown)?,
            Target::Message(id) => id,
        };
        let msg = world.messages.get(rec.channel_id, id).ok_or_else(unknown)?;
        if target != Target::Original && msg.interaction_id != Some(rec.id) {
            return Err(unknown());
        }
        Ok((rec, id))
    }

    /// `GET /webhooks/{app}/{token}/messages/{id|@original}`.
    pub(crate) fn webhook_get(
        &self,
        app: u64,
        token: &str,
        target: Target,
    ) -> Result<Value, ApiError> {
        let (rec, id) = self.webhook_target(app, token, target)?;
        let world = self.world();
        let msg = world
            .messages
            .get(rec.channel_id, id)
            .ok_or_else(|| ApiError::new(404, "Unknown Message", 10008))?;
        Ok(msg.to_json())
    }

    /// `PATCH /webhooks/{app}/{token}/messages/{id|@original}`.
    pub(crate) fn webhook_edit(
        &self,
        app: u64,
        token: &str,
        target: Target,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let (rec, id) = self.webhook_target(app, token, target)?;
        {
            let world = self.world();
            if let Some(m) = world.messages.get(rec.channel_id, id) {
                messages::apply_body(&mut m.clone(), body, false)?;
            }
        }
        let out = self.update_message(rec.channel_id, id, |m| {
            let _ = messages::apply_body(m, body, false);
            m.flags &= !LOADING;
        })?;
        if target == Target::Original
            && let Some(r) = self.world().interactions.get_mut(&rec.id)
        {
            r.log.original_edits += 1;
            let after = millis(r.created.elapsed());
            r.log.first_edit_after_ms.get_or_insert(after);
        }
        self.changed.notify_waiters();
        Ok(out)
    }

    /// `DELETE /webhooks/{app}/{token}/messages/{id|@original}`.
    pub(crate) fn webhook_delete(
        &self,
        app: u64,
        token: &str,
        target: Target,
    ) -> Result<(), ApiError> {
        let (rec, id) = self.webhook_target(app, token, target)?;
        self.delete_message(rec.channel_id, id)?;
        if target == Target::Original
            && let Some(r) = self.world().interactions.get_mut(&rec.id)
        {
            r.log.original_deleted = true;
        }
        self.changed.notify_waiters();
        Ok(())
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl State {
    /// The log of one interaction.
    pub(crate) fn interaction_log(&self, id: u64) -> Option<InteractionLog> {
        self.world().interactions.get(&id).map(|r| r.log.clone())
    }

    /// The logs of every interaction, oldest first.
    pub(crate) fn interaction_logs(&self) -> Vec<InteractionLog> {
        let mut logs: Vec<InteractionLog> = self
            .world()
            .interactions
            .values()
            .map(|r| r.log.clone())
            .collect();
        logs.sort_by_key(|l| l.id);
        logs
    }
}

/// The registered command of `kind` (1 chat input, 2 user, 3 message) called `name`
/// for `app`, in the guild or globally: its JSON.
fn registered<'w>(
    world: &'w World,
    app: u64,
    guild: Option<u64>,
    kind: u64,
    name: &str,
) -> Option<&'w Value> {
    let scopes = [guild, None];
    scopes
        .iter()
        .flatten()
        .map(|g| Some(*g))
        .chain([None])
        .find_map(|g| {
            world.commands.get(&(app, g)).and_then(|cmds| {
                cmds.iter().find(|c| {
                    c["name"] == name && c.get("type").and_then(Value::as_u64).unwrap_or(1) == kind
                })
            })
        })
}

/// `type`, `data` and the component's message id of an injected interaction.
///
/// # Errors
/// [`SimError::Invalid`] for a command the application has not registered (in the
/// guild or globally), or a context-menu target that does not exist.
fn interaction_data(
    world: &World,
    app: u64,
    req: &InjectInteraction,
    channel_id: u64,
    state: &State,
) -> Result<(u8, Value, Option<u64>), SimError> {
    let command = |name: &str, kind: u64| -> Result<Value, SimError> {
        let cmd = registered(world, app, req.guild_id, kind, name).ok_or_else(|| {
            let what = match kind {
                2 => format!("user command {name:?}"),
                3 => format!("message command {name:?}"),
                _ => format!("slash command /{name}"),
            };
            let scope = req
                .guild_id
                .map_or_else(|| "globally (a DM)".to_owned(), |g| format!("globally or in guild {g}"));
            SimError::Invalid(format!(
                "{what} is not registered for application {app} ({scope}); register it first (PUT …/commands)"
            ))
        })?;
        let id = cmd
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or_else(|| state.snowflake());
        let mut data = json!({"id": id.to_string(), "name": name, "type": kind});
        if let Some(g) = cmd.get("guild_id").filter(|g| !g.is_null()) {
            data["guild_id"] = g.clone();
        }
        Ok(data)
    };
    let with_options = |mut data: Value, options: &[Value]| {
        if !options.is_empty() {
            data["options"] = json!(options);
        }
        data
    };
    Ok(match &req.kind {
        InteractionKind::SlashCommand { name, options } => {
            (2, with_options(command(name, 1)?, options), None)
        }
        InteractionKind::Autocomplete { name, options } => {
            (4, with_options(command(name, 1)?, options), None)
        }
        InteractionKind::UserCommand { name, target_id } => {
            let mut data = command(name, 2)?;
            let user = state.user_in(world, *target_id);
            data["target_id"] = json!(target_id.to_string());
            data["resolved"] = json!({"users": {target_id.to_string(): payloads::user(&user)}});
            (2, data, None)
        }
        InteractionKind::MessageCommand { name, target_id } => {
            let mut data = command(name, 3)?;
            let message = world
                .messages
                .get(channel_id, *target_id)
                .ok_or(SimError::UnknownMessage(*target_id))?
                .to_json();
            data["target_id"] = json!(target_id.to_string());
            data["resolved"] = json!({"messages": {target_id.to_string(): message}});
            (2, data, None)
        }
        InteractionKind::Button {
            custom_id,
            message_id,
        } => (
            3,
            json!({"component_type": 2, "custom_id": custom_id}),
            *message_id,
        ),
        InteractionKind::Select {
            custom_id,
            values,
            message_id,
        } => (
            3,
            json!({"component_type": 3, "custom_id": custom_id, "values": values}),
            *message_id,
        ),
        InteractionKind::ModalSubmit {
            custom_id,
            components,
        } => (
            5,
            json!({"custom_id": custom_id, "components": components}),
            None,
        ),
    })
}
