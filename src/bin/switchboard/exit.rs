//! The daemon's exit codes, and which failures are configuration errors.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | stopped cleanly |
//! | 1 | runtime failure (a backend or the admin address unavailable, ...) |
//! | 78 | configuration error (`EX_CONFIG`): retrying cannot help; systemd's `RestartPreventExitStatus=78` stops a restart loop |
//! | 130 | stopped by a second signal before the graceful shutdown finished |

use std::process::ExitCode;

use switchboard::demo::DemoError;
use switchboard::runtime::RuntimeError;

/// `EX_CONFIG` from sysexits(3).
pub(crate) const EXIT_CONFIG: u8 = 78;
/// A second SIGINT/SIGTERM (128 + SIGINT, as shells report an interrupt).
pub(crate) const EXIT_FORCED: u8 = 130;

/// A configuration the daemon cannot run with: a registry that does not load or
/// validate, or missing required options.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub(crate) struct ConfigError(pub(crate) String);

/// The exit code for a failure of `switchboard run`.
pub(crate) fn code_of(error: &anyhow::Error) -> ExitCode {
    let config = error.chain().any(|cause| {
        cause.is::<ConfigError>()
            || matches!(
                cause.downcast_ref::<RuntimeError>(),
                Some(
                    RuntimeError::Config(_)
                        | RuntimeError::NoConfig
                        | RuntimeError::MissingKey { .. }
                        | RuntimeError::BadKey { .. }
                )
            )
            || matches!(
                cause.downcast_ref::<DemoError>(),
                Some(
                    DemoError::Config(_)
                        | DemoError::Emulate(_)
                        | DemoError::Runtime(RuntimeError::Config(_))
                )
            )
    });
    if config {
        ExitCode::from(EXIT_CONFIG)
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use switchboard::sim::FromRegistryError;

    use super::*;

    #[test]
    fn configuration_errors_exit_78_and_the_rest_1() {
        let config = anyhow::Error::new(ConfigError("bad".into()));
        assert_eq!(code_of(&config), ExitCode::from(EXIT_CONFIG));
        let runtime = anyhow::Error::new(RuntimeError::Config(vec!["x".into()]));
        assert_eq!(code_of(&runtime), ExitCode::from(EXIT_CONFIG));
        let wrapped = anyhow::Error::new(DemoError::Runtime(RuntimeError::Config(vec![])));
        assert_eq!(code_of(&wrapped), ExitCode::from(EXIT_CONFIG));
        let emulate = anyhow::Error::new(DemoError::Emulate(FromRegistryError {
            tenant: "discord/duck".into(),
            reason: "no bot token".into(),
        }));
        assert_eq!(code_of(&emulate), ExitCode::from(EXIT_CONFIG));
        let bus = anyhow::Error::new(RuntimeError::Bus {
            what: "the bus",
            source: "redis down".into(),
        });
        assert_eq!(code_of(&bus), ExitCode::FAILURE);
    }
}
