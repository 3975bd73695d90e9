//! Configuration errors: every problem found in a registry, each naming the file, the
//! field path and what was expected.

use std::fmt;
use std::path::PathBuf;

/// One problem in a registry file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// The file it is in.
    pub file: PathBuf,
    /// The field path, e.g. `providers[1].credentials.bot_token`; empty for the file
    /// as a whole.
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}: {}: {}",
                self.file.display(),
                self.path,
                self.message
            )
        }
    }
}

/// A registry that could not be loaded, with every problem found (not just the first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The problems, in file order.
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.issues.len();
        write!(
            f,
            "invalid configuration ({n} problem{})",
            if n == 1 { "" } else { "s" }
        )?;
        for issue in &self.issues {
            write!(f, "\n  - {issue}")?;
        }
        Ok(())
    }
}

/// Collects issues while a registry is checked.
#[derive(Debug, Default)]
pub(crate) struct Issues {
    pub(crate) list: Vec<ConfigIssue>,
}

impl Issues {
    pub(crate) fn push(
        &mut self,
        file: impl Into<PathBuf>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.list.push(ConfigIssue {
            file: file.into(),
            path: path.into(),
            message: message.into(),
        });
    }

    pub(crate) fn into_result<T>(self, value: T) -> Result<T, ConfigError> {
        if self.list.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError { issues: self.list })
        }
    }
}
