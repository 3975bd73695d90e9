//! What validation reports: every problem of a command set, each with its path.

use std::fmt;

/// One problem, e.g. `commands[game].options[2].choices: 26 choices, at most 25`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandIssue {
    /// Where: `commands[<name>]` (or `user_commands[…]`, `message_commands[…]`), then
    /// `.options[<index>]`, `.choices[<index>]`, `.name_localizations[<locale>]` and
    /// the field.
    pub path: String,
    /// What is wrong, in a sentence fragment.
    pub problem: String,
}

impl fmt::Display for CommandIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

/// A command set Discord would refuse, with every problem found (not only the
/// first), in the order of the declaration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CommandSetError {
    issues: Vec<CommandIssue>,
}

impl CommandSetError {
    /// The error for `issues`; `None` when there are none.
    pub(crate) fn from_issues(issues: Vec<CommandIssue>) -> Option<Self> {
        (!issues.is_empty()).then_some(Self { issues })
    }

    /// Every problem, in declaration order.
    #[must_use]
    pub fn issues(&self) -> &[CommandIssue] {
        &self.issues
    }
}

impl fmt::Display for CommandSetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.issues.len();
        write!(
            f,
            "{n} problem{} in the command set:",
            if n == 1 { "" } else { "s" }
        )?;
        for issue in &self.issues {
            write!(f, "\n  {issue}")?;
        }
        Ok(())
    }
}

/// Collects issues under a growing path.
#[derive(Default)]
pub(super) struct Issues(pub(super) Vec<CommandIssue>);

impl Issues {
    pub(super) fn push(&mut self, path: impl Into<String>, problem: impl Into<String>) {
        self.0.push(CommandIssue {
            path: path.into(),
            problem: problem.into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lists_every_issue() {
        let e = CommandSetError::from_issues(vec![
            CommandIssue {
                path: "commands[game].options[2].choices".into(),
                problem: "26 choices, at most 25".into(),
            },
            CommandIssue {
                path: "commands[Game].name".into(),
                problem: "uppercase".into(),
            },
        ])
        .expect("two issues");
        assert_eq!(
            e.to_string(),
            "2 problems in the command set:\n  commands[game].options[2].choices: 26 choices, \
             at most 25\n  commands[Game].name: uppercase"
        );
        assert!(CommandSetError::from_issues(Vec::new()).is_none());
    }
}
