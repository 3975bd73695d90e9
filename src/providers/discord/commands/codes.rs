//! Discord's numeric codes for command types, option types, channel types,
//! interaction contexts and integration types.

use super::ParseCommandsError;
use crate::commands::{ChannelType, CommandKind, InstallContext, InteractionContext, OptionKind};

pub(super) fn command_kind_code(k: CommandKind) -> u8 {
    match k {
        CommandKind::ChatInput => 1,
        CommandKind::User => 2,
        CommandKind::Message => 3,
    }
}

pub(super) fn option_kind_code(k: OptionKind) -> u8 {
    match k {
        OptionKind::SubCommand => 1,
        OptionKind::SubCommandGroup => 2,
        OptionKind::String => 3,
        OptionKind::Integer => 4,
        OptionKind::Boolean => 5,
        OptionKind::User => 6,
        OptionKind::Channel => 7,
        OptionKind::Role => 8,
        OptionKind::Mentionable => 9,
        OptionKind::Number => 10,
        OptionKind::Attachment => 11,
    }
}

pub(super) fn option_kind_from_code(code: u8) -> Option<OptionKind> {
    Some(match code {
        1 => OptionKind::SubCommand,
        2 => OptionKind::SubCommandGroup,
        3 => OptionKind::String,
        4 => OptionKind::Integer,
        5 => OptionKind::Boolean,
        6 => OptionKind::User,
        7 => OptionKind::Channel,
        8 => OptionKind::Role,
        9 => OptionKind::Mentionable,
        10 => OptionKind::Number,
        11 => OptionKind::Attachment,
        _ => return None,
    })
}

const CHANNEL_TYPES: [(ChannelType, u16); 13] = [
    (ChannelType::GuildText, 0),
    (ChannelType::Dm, 1),
    (ChannelType::GuildVoice, 2),
    (ChannelType::GroupDm, 3),
    (ChannelType::GuildCategory, 4),
    (ChannelType::GuildAnnouncement, 5),
    (ChannelType::AnnouncementThread, 10),
    (ChannelType::PublicThread, 11),
    (ChannelType::PrivateThread, 12),
    (ChannelType::GuildStageVoice, 13),
    (ChannelType::GuildDirectory, 14),
    (ChannelType::GuildForum, 15),
    (ChannelType::GuildMedia, 16),
];

pub(super) fn channel_type_code(t: ChannelType) -> u16 {
    match t {
        ChannelType::Other(code) => code,
        known => CHANNEL_TYPES
            .iter()
            .find(|(k, _)| *k == known)
            .map_or(u16::MAX, |(_, code)| *code),
    }
}

pub(super) fn channel_type_from_code(code: u16) -> ChannelType {
    CHANNEL_TYPES
        .iter()
        .find(|(_, c)| *c == code)
        .map_or(ChannelType::Other(code), |(k, _)| *k)
}

pub(super) fn context_code(c: InteractionContext) -> u8 {
    match c {
        InteractionContext::Guild => 0,
        InteractionContext::BotDm => 1,
        InteractionContext::PrivateChannel => 2,
    }
}

pub(super) fn context_from_code(
    code: u8,
    path: &str,
) -> Result<InteractionContext, ParseCommandsError> {
    match code {
        0 => Ok(InteractionContext::Guild),
        1 => Ok(InteractionContext::BotDm),
        2 => Ok(InteractionContext::PrivateChannel),
        _ => Err(ParseCommandsError {
            path: path.to_owned(),
            problem: format!("unknown interaction context {code}"),
        }),
    }
}

pub(super) fn install_code(c: InstallContext) -> u8 {
    match c {
        InstallContext::Guild => 0,
        InstallContext::User => 1,
    }
}

pub(super) fn install_from_code(
    code: u8,
    path: &str,
) -> Result<InstallContext, ParseCommandsError> {
    match code {
        0 => Ok(InstallContext::Guild),
        1 => Ok(InstallContext::User),
        _ => Err(ParseCommandsError {
            path: path.to_owned(),
            problem: format!("unknown integration type {code}"),
        }),
    }
}
