//! Intent names as the configuration writes them (`guild_messages`), mapped onto
//! twilight's [`Intents`] bits; unknown names are an error, not silently dropped.

use twilight_model::gateway::Intents;

/// An intent name the gateway does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown gateway intent {name:?} (expected one of: {})", known_names().join(", "))]
pub struct UnknownIntent {
    /// The name as configured.
    pub name: String,
}

fn known_names() -> Vec<String> {
    Intents::all()
        .iter_names()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect()
}

/// Parses configured intent names (snake case, e.g. `guilds`, `guild_messages`,
/// `message_content`; case-insensitive) into twilight [`Intents`].
///
/// ```
/// use switchboard::providers::discord::gateway::parse_intents;
/// use twilight_model::gateway::Intents;
///
/// let i = parse_intents(&["guilds", "guild_messages"])?;
/// assert_eq!(i, Intents::GUILDS | Intents::GUILD_MESSAGES);
/// assert!(parse_intents(&["guild_mesages"]).is_err());
/// # Ok::<(), switchboard::providers::discord::gateway::UnknownIntent>(())
/// ```
///
/// # Errors
/// [`UnknownIntent`] naming the first unknown name.
pub fn parse_intents<S: AsRef<str>>(names: &[S]) -> Result<Intents, UnknownIntent> {
    names.iter().try_fold(Intents::empty(), |acc, name| {
        let name = name.as_ref().trim();
        Intents::from_name(&name.to_ascii_uppercase())
            .map(|i| acc | i)
            .ok_or_else(|| UnknownIntent {
                name: name.to_owned(),
            })
    })
}

/// The config names of `intents`, in bit order.
#[must_use]
pub fn intent_names(intents: Intents) -> Vec<String> {
    intents
        .iter_names()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect()
}

/// The privileged intents among `intents` (those a bot must have enabled in its
/// application settings, else the gateway closes with 4014), by config name.
#[must_use]
pub fn privileged_intents(intents: Intents) -> Vec<String> {
    let privileged = Intents::GUILD_MEMBERS | Intents::GUILD_PRESENCES | Intents::MESSAGE_CONTENT;
    intent_names(intents & privileged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_privileged_are_listed() {
        let all = intent_names(Intents::all());
        assert_eq!(parse_intents(&all), Ok(Intents::all()));
        let i = parse_intents(&["GUILDS", " message_content ", "guild_members"]).expect("known");
        assert_eq!(privileged_intents(i), ["guild_members", "message_content"]);
        let err = parse_intents(&["guilds", "nope"]).expect_err("unknown");
        assert_eq!(err.name, "nope");
        assert!(err.to_string().contains("guild_messages"));
    }
}
