//! `INTERACTION_CREATE` → [`InteractionCreated`]: slash and context-menu commands (with
//! options and subcommands), autocomplete (with the focused option), components
//! (buttons, selects with their values) and modal submissions (every input, however
//! deeply nested in rows and labels). The token goes beside the event, never in it.
//! The member's roles and channel permissions, the bot's permissions and the
//! interaction's context (guild or DM) come along, so handlers can check who may run
//! what without a provider SDK.

use secrecy::SecretString;
use twilight_model::application::interaction::application_command::{
    CommandDataOption, CommandOptionValue,
};
use twilight_model::application::interaction::modal::ModalInteractionComponent;
use twilight_model::application::interaction::{
    Interaction, InteractionContextType, InteractionData, InteractionType,
};

use super::normalize::{InteractionToken, Normalized, user_ref};
use crate::commands::{InteractionContext, Permissions};
use crate::model::{
    CommandOption, Event, InteractionCreated, InteractionKind, ModalField, OptionValue, UserRef,
};

/// Normalizes an interaction; `None` for pings and kinds the model does not know.
pub(super) fn interaction(mut i: Interaction) -> Option<Normalized> {
    let kind = match i.kind {
        InteractionType::ApplicationCommand => InteractionKind::Command,
        InteractionType::ApplicationCommandAutocomplete => InteractionKind::Autocomplete,
        InteractionType::MessageComponent => InteractionKind::Component,
        InteractionType::ModalSubmit => InteractionKind::ModalSubmit,
        _ => return None,
    };
    let token = InteractionToken {
        interaction_id: i.id.to_string(),
        application_id: i.application_id.to_string(),
        token: SecretString::from(std::mem::take(&mut i.token)),
    };
    #[allow(deprecated)] // `channel_id` is still sent; prefer the channel object.
    let channel_id = i.channel.as_ref().map(|c| c.id).or(i.channel_id);
    let member_roles = i
        .member
        .as_ref()
        .map(|m| m.roles.iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    let member_permissions = i
        .member
        .as_ref()
        .and_then(|m| m.permissions)
        .map(|p| Permissions::from_bits_retain(p.bits()));
    let context = match i.context {
        Some(InteractionContextType::Guild) => Some(InteractionContext::Guild),
        Some(InteractionContextType::BotDm) => Some(InteractionContext::BotDm),
        Some(InteractionContextType::PrivateChannel) => Some(InteractionContext::PrivateChannel),
        // Older payloads and unknown values: `is_dm` goes by the guild id.
        _ => None,
    };
    let mut event = InteractionCreated {
        interaction_id: token.interaction_id.clone(),
        kind,
        command_name: None,
        options: Vec::new(),
        custom_id: None,
        values: Vec::new(),
        fields: Vec::new(),
        target_id: None,
        message_id: i.message.as_ref().map(|m| m.id.to_string()),
        user: interaction_user(&mut i),
        channel_id: channel_id.map(|c| c.to_string()),
        guild_id: i.guild_id.map(|g| g.to_string()),
        locale: i.locale.take(),
        member_roles,
        member_permissions,
        app_permissions: i
            .app_permissions
            .map(|p| Permissions::from_bits_retain(p.bits())),
        context,
    };
    match i.data {
        Some(InteractionData::ApplicationCommand(c)) => {
            let c = *c;
            event.command_name = Some(c.name);
            event.options = c.options.into_iter().map(option).collect();
            event.target_id = c.target_id.map(|t| t.to_string());
        }
        Some(InteractionData::MessageComponent(c)) => {
            let c = *c;
            event.custom_id = Some(c.custom_id);
            event.values = c.values;
        }
        Some(InteractionData::ModalSubmit(m)) => {
            let m = *m;
            event.custom_id = Some(m.custom_id);
            for c in m.components {
                modal_fields(c, &mut event.fields);
            }
        }
        _ => {}
    }
    Some(Normalized {
        event: Event::InteractionCreated(event),
        interaction: Some(token),
    })
}

/// In a guild the user comes inside `member` (with the nickname); in DMs as `user`.
fn interaction_user(i: &mut Interaction) -> UserRef {
    let member = i.member.take();
    let nick = member.as_ref().and_then(|m| m.nick.clone());
    match member.and_then(|m| m.user).or_else(|| i.user.take()) {
        Some(user) => user_ref(user, nick),
        // Discord always sends one of them; an empty id is what a handler would see
        // for "unknown" rather than a dropped interaction.
        None => UserRef {
            id: String::new(),
            name: String::new(),
            display_name: None,
            bot: false,
        },
    }
}

fn option(o: CommandDataOption) -> CommandOption {
    let mut focused = false;
    let value = match o.value {
        CommandOptionValue::String(s) => OptionValue::String(s),
        CommandOptionValue::Integer(n) => OptionValue::Integer(n),
        CommandOptionValue::Number(n) => OptionValue::Number(n),
        CommandOptionValue::Boolean(b) => OptionValue::Boolean(b),
        CommandOptionValue::User(id) => OptionValue::User(id.to_string()),
        CommandOptionValue::Channel(id) => OptionValue::Channel(id.to_string()),
        CommandOptionValue::Role(id) => OptionValue::Role(id.to_string()),
        CommandOptionValue::Mentionable(id) => OptionValue::Mentionable(id.to_string()),
        CommandOptionValue::Attachment(id) => OptionValue::Attachment(id.to_string()),
        CommandOptionValue::SubCommand(opts) => {
            OptionValue::SubCommand(opts.into_iter().map(option).collect())
        }
        CommandOptionValue::SubCommandGroup(opts) => {
            OptionValue::SubCommandGroup(opts.into_iter().map(option).collect())
        }
        // What the user has typed so far, whatever the option's type: a half-typed
        // number is not a number yet.
        CommandOptionValue::Focused(text, _) => {
            focused = true;
            OptionValue::String(text)
        }
    };
    CommandOption {
        name: o.name,
        value,
        focused,
    }
}

/// Collects every input of a modal. Inputs with several values (selects, file
/// uploads, checkbox groups) are joined with `,`; a checkbox reads `true`/`false`.
fn modal_fields(c: ModalInteractionComponent, out: &mut Vec<ModalField>) {
    let mut push = |custom_id: String, value: String| out.push(ModalField { custom_id, value });
    let join = |v: Vec<String>| v.join(",");
    match c {
        ModalInteractionComponent::ActionRow(row) => {
            for c in row.components {
                modal_fields(c, out);
            }
        }
        ModalInteractionComponent::Label(label) => modal_fields(*label.component, out),
        ModalInteractionComponent::TextInput(t) => push(t.custom_id, t.value),
        ModalInteractionComponent::Checkbox(c) => push(c.custom_id, c.value.to_string()),
        ModalInteractionComponent::CheckboxGroup(c) => push(c.custom_id, join(c.values)),
        ModalInteractionComponent::StringSelect(s) => push(s.custom_id, join(s.values)),
        ModalInteractionComponent::FileUpload(f) => push(f.custom_id, join_ids(&f.values)),
        ModalInteractionComponent::UserSelect(s) => push(s.custom_id, join_ids(&s.values)),
        ModalInteractionComponent::RoleSelect(s) => push(s.custom_id, join_ids(&s.values)),
        ModalInteractionComponent::ChannelSelect(s) => push(s.custom_id, join_ids(&s.values)),
        ModalInteractionComponent::MentionableSelect(s) => {
            push(s.custom_id, join_ids(&s.values));
        }
        ModalInteractionComponent::TextDisplay(_) | ModalInteractionComponent::Unknown(_) => {}
    }
}

fn join_ids<T: std::fmt::Display>(ids: &[T]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}
