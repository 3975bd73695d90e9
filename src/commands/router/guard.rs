//! Who may run a route: member permissions, a role named in the tenant's settings,
//! and a cooldown — checked by the router before a route runs, or called in a
//! handler. Every refusal is a [`Denied`] whose text is the uniform ephemeral answer.

use std::time::Duration;

use serde_json::Value;

use crate::commands::Permissions;
use crate::handler::{Ctx, CtxError};
use crate::model::InteractionCreated;
use crate::state::{CooldownDecision, CooldownScope};

/// Why a user may not run a route. Its `Display` is the answer the user gets
/// (ephemerally), the same wording for every route and tenant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denied {
    /// The member lacks a permission in the channel.
    #[error("You need the {0} permission to use this.")]
    MissingPermission(Permissions),
    /// The member lacks the role the tenant's settings name.
    #[error("You need the <@&{role}> role to use this.")]
    MissingRole {
        /// The role's id.
        role: String,
    },
    /// The route needs a role, but the tenant's `settings` do not name one under
    /// this key: refused rather than open to everyone.
    #[error("This is limited to a role this bot is not configured with (`{setting}`).")]
    RoleNotConfigured {
        /// The settings key.
        setting: String,
    },
    /// A permission or role check outside a guild (there is no member in a DM).
    #[error("This only works in a server.")]
    GuildOnly,
    /// The route's cooldown: too many uses.
    #[error("Slow down: {}.", CooldownDecision::RetryAfter(*.0).message().unwrap_or_default())]
    CoolingDown(Duration),
}

/// Refuses unless the member has every permission of `perms` in the channel
/// (`ADMINISTRATOR` has them all); refuses in DMs.
///
/// ```
/// use switchboard::commands::{Denied, Permissions, require_permission};
/// # use switchboard::model::{InteractionCreated, InteractionKind, UserRef};
/// # let mut i: InteractionCreated = serde_json::from_value(serde_json::json!({
/// #     "interaction_id": "1", "kind": "command",
/// #     "user": {"id": "2", "name": "mallard"}, "guild_id": "3"})).unwrap();
/// i.member_permissions = Some(Permissions::SEND_MESSAGES);
/// assert_eq!(
///     require_permission(&i, Permissions::MANAGE_GUILD).unwrap_err().to_string(),
///     "You need the MANAGE_GUILD permission to use this."
/// );
/// i.member_permissions = Some(Permissions::ADMINISTRATOR);
/// assert!(require_permission(&i, Permissions::MANAGE_GUILD).is_ok());
/// ```
///
/// # Errors
/// [`Denied::GuildOnly`] in a DM, [`Denied::MissingPermission`] naming what is
/// missing.
pub fn require_permission(i: &InteractionCreated, perms: Permissions) -> Result<(), Denied> {
    let Some(has) = i.member_permissions.filter(|_| !i.is_dm()) else {
        return Err(Denied::GuildOnly);
    };
    if i.member_has(perms) {
        Ok(())
    } else {
        Err(Denied::MissingPermission(perms.difference(has)))
    }
}

/// Refuses unless the member has the role whose id the tenant's `settings` hold
/// under `setting` (e.g. `settings: { gm_role: "1234" }`); refuses in DMs and when
/// the setting is absent.
///
/// # Errors
/// [`Denied::GuildOnly`], [`Denied::RoleNotConfigured`], [`Denied::MissingRole`].
pub fn require_role(ctx: &Ctx, i: &InteractionCreated, setting: &str) -> Result<(), Denied> {
    check_role(ctx.settings(), i, setting)
}

/// The role id a tenant's settings hold under `key` (a string or a number; a key
/// starting with `/` is a JSON pointer, e.g. `/roles/gm`).
#[must_use]
pub fn role_setting(settings: &Value, key: &str) -> Option<String> {
    let v = if key.starts_with('/') {
        settings.pointer(key)
    } else {
        settings.get(key)
    }?;
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(super) fn check_role(
    settings: &Value,
    i: &InteractionCreated,
    setting: &str,
) -> Result<(), Denied> {
    if i.is_dm() {
        return Err(Denied::GuildOnly);
    }
    let Some(role) = role_setting(settings, setting) else {
        return Err(Denied::RoleNotConfigured {
            setting: setting.to_owned(),
        });
    };
    if i.member_has_role(&role) {
        Ok(())
    } else {
        Err(Denied::MissingRole { role })
    }
}

/// One check a route runs before its function.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Guard {
    Permission(Permissions),
    Role(String),
    Cooldown {
        scope: CooldownScope,
        rate: u32,
        window: Duration,
    },
}

impl Guard {
    /// `Ok(Err(denied))` refuses; `Err` when the cooldown's store failed.
    pub(super) async fn check(
        &self,
        ctx: &Ctx,
        i: &InteractionCreated,
        route: &str,
    ) -> Result<Result<(), Denied>, CtxError> {
        Ok(match self {
            Self::Permission(p) => require_permission(i, *p),
            Self::Role(setting) => check_role(ctx.settings(), i, setting),
            Self::Cooldown {
                scope,
                rate,
                window,
            } => {
                let key = cooldown_key(*scope, i);
                let name = format!("route:{route}");
                match ctx.cooldown(*scope, &key, &name, *rate, *window).await? {
                    CooldownDecision::Allowed { .. } => Ok(()),
                    CooldownDecision::RetryAfter(d) => Err(Denied::CoolingDown(d)),
                }
            }
        })
    }
}

/// Whose uses a cooldown counts: the user, the channel, the guild (in a DM: the
/// user's DM channel), or the tenant.
fn cooldown_key(scope: CooldownScope, i: &InteractionCreated) -> String {
    let user = || i.user.id.clone();
    match scope {
        CooldownScope::User => user(),
        CooldownScope::Channel => i.channel_id.clone().unwrap_or_else(user),
        CooldownScope::Guild => i
            .guild_id
            .clone()
            .or_else(|| i.channel_id.clone())
            .unwrap_or_else(user),
        CooldownScope::Tenant => "tenant".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::commands::InteractionContext;

    fn interaction(guild: bool) -> InteractionCreated {
        let mut i: InteractionCreated = serde_json::from_value(json!({
            "interaction_id": "1", "kind": "command", "user": {"id": "7", "name": "mallard"},
            "channel_id": "5",
        }))
        .expect("parses");
        if guild {
            i.guild_id = Some("3".into());
            i.context = Some(InteractionContext::Guild);
            i.member_roles = vec!["42".into()];
            i.member_permissions = Some(Permissions::SEND_MESSAGES);
        } else {
            i.context = Some(InteractionContext::BotDm);
        }
        i
    }

    #[test]
    fn roles_come_from_the_settings() {
        let i = interaction(true);
        let settings = json!({"gm_role": "42", "mod_role": 43, "roles": {"admin": "44"}});
        assert_eq!(check_role(&settings, &i, "gm_role"), Ok(()));
        assert_eq!(
            check_role(&settings, &i, "mod_role").map_err(|e| e.to_string()),
            Err("You need the <@&43> role to use this.".into())
        );
        assert_eq!(
            check_role(&settings, &i, "/roles/admin"),
            Err(Denied::MissingRole { role: "44".into() })
        );
        assert_eq!(
            check_role(&settings, &i, "dj_role"),
            Err(Denied::RoleNotConfigured {
                setting: "dj_role".into()
            })
        );
        assert_eq!(
            check_role(&settings, &interaction(false), "gm_role"),
            Err(Denied::GuildOnly)
        );
    }

    #[test]
    fn permissions_and_refusal_texts() {
        let i = interaction(true);
        assert_eq!(require_permission(&i, Permissions::SEND_MESSAGES), Ok(()));
        assert_eq!(
            require_permission(&i, Permissions::SEND_MESSAGES | Permissions::BAN_MEMBERS),
            Err(Denied::MissingPermission(Permissions::BAN_MEMBERS))
        );
        assert_eq!(
            require_permission(&interaction(false), Permissions::SEND_MESSAGES),
            Err(Denied::GuildOnly)
        );
        assert_eq!(
            Denied::CoolingDown(Duration::from_millis(2100)).to_string(),
            "Slow down: try again in 3 s."
        );
        assert_eq!(cooldown_key(CooldownScope::Guild, &i), "3");
        assert_eq!(cooldown_key(CooldownScope::Guild, &interaction(false)), "5");
    }
}
