//! The runtime's side of scheduled jobs: checking the schedules given in code
//! against the registry, and this node's scheduler (`crate::jobs`).

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::RuntimeError;
use crate::bus::Bus;
use crate::config::Registry;
use crate::jobs::{CodeSchedules, JobScheduler, WallClock};

/// Schedules given in code are for tenants of the registry, and their names are
/// not used by the tenant's registry `schedules:`.
pub(super) fn check_code_schedules(
    registry: &Registry,
    code: &CodeSchedules,
) -> Result<(), RuntimeError> {
    let mut issues = Vec::new();
    for (tenant, schedules) in code {
        let config = registry.tenants.iter().find(|t| &t.id() == tenant);
        for (i, s) in schedules.iter().enumerate() {
            let twice = schedules.iter().take(i).any(|o| o.name() == s.name())
                || config.is_some_and(|c| c.schedules.iter().any(|o| o.name == s.name()));
            if twice {
                issues.push(format!(
                    "schedule {:?} of {tenant} is given twice (in code, or in code and the registry)",
                    s.name()
                ));
            }
        }
    }
    if issues.is_empty() {
        Ok(())
    } else {
        Err(RuntimeError::Config(issues))
    }
}

/// This node's job scheduler on the system clock; it follows the registry once the
/// root has started.
pub(super) fn job_scheduler(
    bus: &Bus,
    code: CodeSchedules,
    cancel: &CancellationToken,
    tasks: &TaskTracker,
) -> JobScheduler {
    JobScheduler::new(
        bus.clone(),
        code,
        WallClock::System,
        cancel.child_token(),
        tasks.clone(),
    )
}
