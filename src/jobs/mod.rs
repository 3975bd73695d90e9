//! Scheduled jobs: per-tenant cron schedules whose slots reach the tenant's handlers
//! as [`Job`](crate::model::Job) events (`Handler::on_job`), through the same bus and
//! workers as provider events — so retries, dead letters, quarantine and fairness
//! apply to them unchanged.
//!
//! Schedules come from the registry (`schedules:` of a tenant) and from code
//! ([`RuntimeBuilder::schedule`](crate::runtime::RuntimeBuilder::schedule)).
//!
//! # Exactly once per slot
//! Every node that runs workers runs every schedule. When a slot comes due each
//! node asks the bus to fire it: the bus claims `(tenant, schedule, slot)` and
//! publishes the job envelope in one step (a Lua script on Redis, one lock in
//! process), so one node fires the slot and the others see the claim taken — at most
//! once. Because claim and publish cannot be separated, a node that dies right after
//! claiming has published too, and while any node runs it fires every slot — at
//! least once. The envelope id derives from tenant, schedule and slot, so even a
//! replayed publish would meet the workers' idempotency marks.
//!
//! # Missed slots
//! The bus keeps each schedule's last fired slot. A node starting a schedule after a
//! gap (no node ran it) fires the most recent missed slot once (`missed: once`, the
//! job has `recovered: true`) or skips them (`missed: skip`, the default).
//!
//! # Layout
//! - `spec.rs`: [`Schedule`] (checked pattern, time zone, handler, payload,
//!   [`Missed`]) and its slot arithmetic; [`ScheduleError`].
//! - `runner.rs`: one schedule's task (wait, fire, catch up, recover at start) and
//!   its status cell.
//! - `scheduler.rs`: `JobScheduler`, the node's set of running schedules, following
//!   the registry the root publishes.
//! - `clock.rs`: wall time over tokio's timers (paused-time tests).
//! - The claim and publish step itself is `bus/jobs.rs` (Redis: `bus/redis/jobs.rs`).

mod clock;
mod runner;
mod scheduler;
mod spec;

pub(crate) use clock::WallClock;
pub(crate) use scheduler::{CodeSchedules, JobScheduler};
pub use spec::{Missed, Schedule, ScheduleError};

#[cfg(test)]
mod tests;
