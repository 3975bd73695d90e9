//! The commands a tenant declares for one scope, as a value: validated together,
//! compared and fingerprinted independently of declaration order.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::command::{AppCommand, CommandKind};
use super::validate::{CommandSetError, validate};

/// A tenant's commands for one scope (global, or one guild).
///
/// ```
/// use switchboard::commands::{AppCommand, CommandSet};
///
/// let a = CommandSet::new([AppCommand::slash("ping", "Pong!"), AppCommand::user("Stats")]);
/// let b = CommandSet::new([AppCommand::user("Stats"), AppCommand::slash("ping", "Pong!")]);
/// a.validate()?;
/// assert_eq!(a, b, "order does not matter");
/// assert_eq!(a.fingerprint(), b.fingerprint());
/// # Ok::<(), switchboard::commands::CommandSetError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommandSet {
    /// Sorted by kind, then name, so equal sets are equal values.
    commands: Vec<AppCommand>,
}

impl CommandSet {
    /// A set of `commands` (in any order).
    #[must_use]
    pub fn new(commands: impl IntoIterator<Item = AppCommand>) -> Self {
        let mut set = Self {
            commands: commands.into_iter().collect(),
        };
        set.sort();
        set
    }

    fn sort(&mut self) {
        // Stable: duplicates (which validation reports) keep their declared order.
        self.commands
            .sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    }

    /// Adds a command.
    pub fn push(&mut self, command: AppCommand) {
        self.commands.push(command);
        self.sort();
    }

    /// The commands, by kind then name.
    #[must_use]
    pub fn commands(&self) -> &[AppCommand] {
        &self.commands
    }

    /// Iterates over the commands, by kind then name.
    pub fn iter(&self) -> std::slice::Iter<'_, AppCommand> {
        self.commands.iter()
    }

    /// The command of `kind` called `name`.
    #[must_use]
    pub fn get(&self, kind: CommandKind, name: &str) -> Option<&AppCommand> {
        self.commands
            .iter()
            .find(|c| c.kind == kind && c.name == name)
    }

    /// How many commands.
    #[must_use]
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Checks the set against the provider's limits.
    ///
    /// # Errors
    ///
    /// [`CommandSetError`] listing every problem.
    pub fn validate(&self) -> Result<(), CommandSetError> {
        validate(&self.commands)
    }

    /// A SHA-256 of the set's canonical JSON, in hex: equal sets (whatever their
    /// declaration order) have equal fingerprints, so "did this tenant's commands
    /// change since we last registered them" needs no round trip.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        // Serializing plain data (strings, numbers, ordered maps and sets) to a
        // Vec cannot fail; an error would hash as empty rather than panic.
        hasher.update(serde_json::to_vec(&self.commands).unwrap_or_default());
        hasher
            .finalize()
            .iter()
            .fold(String::with_capacity(64), |mut hex, b| {
                // Writing to a String cannot fail.
                let _ = write!(hex, "{b:02x}");
                hex
            })
    }
}

impl FromIterator<AppCommand> for CommandSet {
    fn from_iter<I: IntoIterator<Item = AppCommand>>(iter: I) -> Self {
        Self::new(iter)
    }
}

impl<'a> IntoIterator for &'a CommandSet {
    type Item = &'a AppCommand;
    type IntoIter = std::slice::Iter<'a, AppCommand>;

    fn into_iter(self) -> Self::IntoIter {
        self.commands.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::OptionDef;

    #[test]
    fn order_free_equality_and_fingerprint() {
        let ping = AppCommand::slash("ping", "Pong");
        let game = AppCommand::slash("game", "Play").option(OptionDef::string("mode", "Mode"));
        let stats = AppCommand::user("Stats");
        let a = CommandSet::new([ping.clone(), game.clone(), stats.clone()]);
        let b: CommandSet = [stats, game, ping].into_iter().collect();
        assert_eq!(a, b);
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 64);
        let names: Vec<_> = a.into_iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["game", "ping", "Stats"]);

        let mut c = a.clone();
        c.push(AppCommand::message("Bookmark"));
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert_eq!(c.len(), 4);
        assert!(c.get(CommandKind::Message, "Bookmark").is_some());
        assert!(c.get(CommandKind::User, "Bookmark").is_none());
    }

    #[test]
    fn any_change_changes_the_fingerprint() {
        let base = CommandSet::new([AppCommand::slash("ping", "Pong")]);
        let described = CommandSet::new([AppCommand::slash("ping", "Pong!")]);
        let localized =
            CommandSet::new([AppCommand::slash("ping", "Pong").name_localized("de", "ping")]);
        let dm = CommandSet::new([AppCommand::slash("ping", "Pong").guild_only()]);
        let fps = [&base, &described, &localized, &dm].map(CommandSet::fingerprint);
        for (i, a) in fps.iter().enumerate() {
            for b in &fps[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn validates_the_whole_set() {
        let set = CommandSet::new([
            AppCommand::slash("ping", "a"),
            AppCommand::slash("ping", "b"),
        ]);
        let err = set.validate().expect_err("duplicate name");
        assert_eq!(err.issues().len(), 1);
        assert!(CommandSet::default().validate().is_ok());
    }
}
