//! Model commands as Discord REST calls: a twilight [`Request`] plus the route key the
//! access layer's rate-limit gate files it under.
//!
//! Requests are built with `Request::builder(&Route::..)` and a JSON body, and sent with
//! `Client::request`, so every route goes through one path (and create-message can
//! carry `enforce_nonce`). Routes authorised by an interaction token are built without
//! the bot token (`use_authorization_token(false)`), as Discord expects.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use twilight_http::request::Request;
use twilight_http::routing::Route;

use super::body;
use crate::model::{FetchHistory, InteractionResponse, PostMessage, RoleChange};

/// Why a command could not be turned into a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// An id is not a Discord snowflake.
    #[error("{field} is not a snowflake: {value:?}")]
    BadId {
        /// The command field.
        field: &'static str,
        /// Its value.
        value: String,
    },
    /// A page size outside 1–100.
    #[error("limit must be between 1 and 100, got {0}")]
    BadLimit(u16),
    /// twilight refused to build the request, e.g. a body that does not serialize
    /// (the source: twilight-http's error).
    #[error("cannot build the request")]
    Request(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What authorises a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// The tenant's bot token; a 401 means the token is bad.
    Bot,
    /// An interaction token in the path; a 401 means the interaction expired.
    Interaction,
}

/// Where a call is filed for rate limiting: the route template (with Discord's
/// parameter names) and its major parameter. Never holds a token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteKey {
    /// `"METHOD /template"`, e.g. `"POST /channels/{channel_id}/messages"`.
    pub route: &'static str,
    /// The major parameter (channel, guild, or interaction id).
    pub major: String,
}

/// One REST call ready to send.
#[derive(Clone)]
pub struct Call {
    /// The twilight request; its path may hold an interaction token, so it is never
    /// logged.
    pub(crate) request: Request,
    /// Where it is rate limited.
    pub key: RouteKey,
    /// What authorises it.
    pub auth: Auth,
    /// Whether the global per-token limit applies (not to interaction routes).
    pub global: bool,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("key", &self.key)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// Parses a snowflake field.
///
/// # Errors
/// [`BuildError::BadId`] if `value` is not a non-zero decimal `u64`.
pub fn snowflake(field: &'static str, value: &str) -> Result<u64, BuildError> {
    value
        .parse::<u64>()
        .ok()
        .filter(|v| *v != 0)
        .ok_or_else(|| BuildError::BadId {
            field,
            value: value.to_owned(),
        })
}

fn build(
    route: &Route<'_>,
    body: Option<&Value>,
    auth: Auth,
    reason: Option<&str>,
) -> Result<Request, BuildError> {
    let mut b = Request::builder(route);
    if let Some(body) = body {
        b = b.json(body);
    }
    if auth == Auth::Interaction {
        b = b.use_authorization_token(false);
    }
    if let Some(value) = reason.and_then(|r| http::HeaderValue::from_str(r).ok()) {
        let name = http::HeaderName::from_static("x-audit-log-reason");
        b = b.headers(std::iter::once((name, value)));
    }
    b.build().map_err(|e| BuildError::Request(e.into()))
}

fn bot_call(
    route: &Route<'_>,
    key: (&'static str, String),
    body: Option<&Value>,
) -> Result<Call, BuildError> {
    Ok(Call {
        request: build(route, body, Auth::Bot, None)?,
        key: RouteKey {
            route: key.0,
            major: key.1,
        },
        auth: Auth::Bot,
        global: true,
    })
}

/// `POST /channels/{channel_id}/messages` with `nonce` and `enforce_nonce`.
///
/// # Errors
/// A bad channel id.
pub fn post_message(p: &PostMessage, nonce: &str) -> Result<Call, BuildError> {
    let channel_id = snowflake("channel_id", &p.channel_id)?;
    if let Some(r) = &p.reply_to {
        snowflake("reply_to", r)?;
    }
    let body = body::create_message(p, nonce);
    create_message_call(channel_id, &body)
}

fn create_message_call(channel_id: u64, body: &Value) -> Result<Call, BuildError> {
    bot_call(
        &Route::CreateMessage { channel_id },
        (
            "POST /channels/{channel_id}/messages",
            channel_id.to_string(),
        ),
        Some(body),
    )
}

/// The create-message of a direct message, in the DM channel `channel_id`.
///
/// # Errors
/// Never in practice (twilight serializes the body).
pub fn dm_message(
    channel_id: u64,
    content: &str,
    embeds: &[crate::model::Embed],
    nonce: &str,
) -> Result<Call, BuildError> {
    create_message_call(channel_id, &body::direct_message(content, embeds, nonce))
}

/// `POST /users/@me/channels`: opens (or finds) the DM channel with a user.
///
/// # Errors
/// A bad user id.
pub fn create_dm(user_id: &str) -> Result<Call, BuildError> {
    let id = snowflake("user_id", user_id)?;
    bot_call(
        &Route::CreatePrivateChannel,
        ("POST /users/@me/channels", String::new()),
        Some(&json!({ "recipient_id": id.to_string() })),
    )
}

/// `PUT` / `DELETE /guilds/{guild_id}/members/{user_id}/roles/{role_id}`.
///
/// # Errors
/// A bad guild, user or role id.
pub fn role(change: &RoleChange, add: bool) -> Result<Call, BuildError> {
    let guild_id = snowflake("guild_id", &change.guild_id)?;
    let user_id = snowflake("user_id", &change.user_id)?;
    let role_id = snowflake("role_id", &change.role_id)?;
    let (route, name) = if add {
        (
            Route::AddMemberRole {
                guild_id,
                role_id,
                user_id,
            },
            "PUT /guilds/{guild_id}/members/{user_id}/roles/{role_id}",
        )
    } else {
        (
            Route::RemoveMemberRole {
                guild_id,
                role_id,
                user_id,
            },
            "DELETE /guilds/{guild_id}/members/{user_id}/roles/{role_id}",
        )
    };
    Ok(Call {
        request: build(&route, None, Auth::Bot, change.reason.as_deref())?,
        key: RouteKey {
            route: name,
            major: guild_id.to_string(),
        },
        auth: Auth::Bot,
        global: true,
    })
}

/// `GET /applications/@me`: the bot's application (its id is where its commands
/// are registered).
///
/// # Errors
/// Never in practice.
pub fn current_application() -> Result<Call, BuildError> {
    bot_call(
        &Route::GetCurrentUserApplicationInfo,
        ("GET /applications/@me", String::new()),
        None,
    )
}

/// `GET /applications/{application_id}[/guilds/{guild_id}]/commands?with_localizations=true`:
/// the application's commands, global (`guild` `None`) or of one guild, with their
/// localization dictionaries (without them every localized command would compare
/// as changed).
///
/// # Errors
/// Never in practice.
pub fn get_commands(application_id: u64, guild: Option<u64>) -> Result<Call, BuildError> {
    match guild {
        None => bot_call(
            &Route::GetGlobalCommands {
                application_id,
                with_localizations: Some(true),
            },
            (
                "GET /applications/{application_id}/commands",
                application_id.to_string(),
            ),
            None,
        ),
        Some(guild_id) => bot_call(
            &Route::GetGuildCommands {
                application_id,
                guild_id,
                with_localizations: Some(true),
            },
            (
                "GET /applications/{application_id}/guilds/{guild_id}/commands",
                guild_id.to_string(),
            ),
            None,
        ),
    }
}

/// `PUT /applications/{application_id}[/guilds/{guild_id}]/commands`: the bulk
/// overwrite, with `body` from
/// [`to_discord`](crate::providers::discord::commands::to_discord).
///
/// # Errors
/// Never in practice.
pub fn set_commands(
    application_id: u64,
    guild: Option<u64>,
    body: &Value,
) -> Result<Call, BuildError> {
    match guild {
        None => bot_call(
            &Route::SetGlobalCommands { application_id },
            (
                "PUT /applications/{application_id}/commands",
                application_id.to_string(),
            ),
            Some(body),
        ),
        Some(guild_id) => bot_call(
            &Route::SetGuildCommands {
                application_id,
                guild_id,
            },
            (
                "PUT /applications/{application_id}/guilds/{guild_id}/commands",
                guild_id.to_string(),
            ),
            Some(body),
        ),
    }
}

/// `GET /users/@me`: the bot's own user.
///
/// # Errors
/// Never in practice.
pub fn current_user() -> Result<Call, BuildError> {
    bot_call(
        &Route::GetCurrentUser,
        ("GET /users/@me", String::new()),
        None,
    )
}

/// `GET /channels/{channel_id}/messages?before&after&limit`.
///
/// # Errors
/// Bad ids or a limit outside 1–100.
pub fn history(f: &FetchHistory) -> Result<Call, BuildError> {
    let channel_id = snowflake("channel_id", &f.channel_id)?;
    if !(1..=100).contains(&f.limit) {
        return Err(BuildError::BadLimit(f.limit));
    }
    let before = f
        .before
        .as_deref()
        .map(|b| snowflake("before", b))
        .transpose()?;
    let after = f
        .after
        .as_deref()
        .map(|a| snowflake("after", a))
        .transpose()?;
    bot_call(
        &Route::GetMessages {
            channel_id,
            after,
            around: None,
            before,
            limit: Some(f.limit),
        },
        (
            "GET /channels/{channel_id}/messages",
            channel_id.to_string(),
        ),
        None,
    )
}

/// The answer to an interaction: the callback (types 4–9), a followup, or an edit of
/// the original response, authorised by the interaction's token.
///
/// # Errors
/// A bad interaction or application id.
pub fn interaction(
    response: &InteractionResponse,
    interaction_id: &str,
    application_id: &str,
    token: &SecretString,
) -> Result<Call, BuildError> {
    let id = snowflake("interaction_id", interaction_id)?;
    let app = snowflake("application_id", application_id)?;
    let token = token.expose_secret();
    let (request, route) = match response {
        InteractionResponse::Followup(b) => (
            build(
                &Route::ExecuteWebhook {
                    thread_id: None,
                    token,
                    wait: Some(true),
                    with_components: None,
                    webhook_id: app,
                },
                Some(&body::message_body(b)),
                Auth::Interaction,
                None,
            )?,
            "POST /webhooks/{application_id}/{interaction_token}",
        ),
        InteractionResponse::EditOriginal(b) => (
            build(
                &Route::UpdateInteractionOriginal {
                    application_id: app,
                    interaction_token: token,
                },
                Some(&body::message_body(b)),
                Auth::Interaction,
                None,
            )?,
            "PATCH /webhooks/{application_id}/{interaction_token}/messages/@original",
        ),
        other => {
            let body = body::interaction_callback(other).unwrap_or(Value::Null);
            (
                build(
                    &Route::InteractionCallback {
                        interaction_id: id,
                        interaction_token: token,
                        with_response: false,
                    },
                    Some(&body),
                    Auth::Interaction,
                    None,
                )?,
                "POST /interactions/{interaction_id}/{interaction_token}/callback",
            )
        }
    };
    Ok(Call {
        request,
        key: RouteKey {
            route,
            major: interaction_id.to_owned(),
        },
        auth: Auth::Interaction,
        global: false,
    })
}

/// `DELETE /webhooks/{application_id}/{interaction_token}/messages/@original`: removes
/// the original response (e.g. a deferral's "thinking…" message).
///
/// # Errors
/// A bad interaction or application id.
pub fn delete_original(
    interaction_id: &str,
    application_id: &str,
    token: &SecretString,
) -> Result<Call, BuildError> {
    snowflake("interaction_id", interaction_id)?;
    let app = snowflake("application_id", application_id)?;
    let request = build(
        &Route::DeleteInteractionOriginal {
            application_id: app,
            interaction_token: token.expose_secret(),
        },
        None,
        Auth::Interaction,
        None,
    )?;
    Ok(Call {
        request,
        key: RouteKey {
            route: "DELETE /webhooks/{application_id}/{interaction_token}/messages/@original",
            major: interaction_id.to_owned(),
        },
        auth: Auth::Interaction,
        global: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MessageBody;

    #[test]
    fn interaction_routes_skip_the_bot_token() {
        let token = SecretString::from("s3cr3t-xyz");
        let c = interaction(
            &InteractionResponse::Followup(MessageBody::text("x")),
            "5",
            "6",
            &token,
        )
        .expect("builds");
        assert!(!c.request.use_authorization_token());
        assert!(!c.global);
        assert_eq!(c.key.major, "5");
        assert!(!format!("{c:?}").contains("s3cr3t"));
        let p = PostMessage {
            channel_id: "x".into(),
            content: String::new(),
            reply_to: None,
            embeds: vec![],
            allowed_mentions: None,
            nonce: None,
        };
        assert!(matches!(
            post_message(&p, "n"),
            Err(BuildError::BadId { .. })
        ));
    }
}
