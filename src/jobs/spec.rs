//! [`Schedule`]: a checked schedule — name, cron pattern, time zone, target handler,
//! payload and missed-slot policy — and the slot arithmetic on it.

use std::str::FromStr as _;

use chrono::TimeZone as _;
use serde::{Deserialize, Serialize};

use crate::config::ScheduleConfig;
use crate::model::{JobPayload, validate_segment};

/// What happens at start-up to slots missed while no node ran the schedule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Missed {
    /// They are skipped: the schedule goes on with its next slot.
    #[default]
    Skip,
    /// The most recent missed slot fires once (with `Job::recovered` set).
    Once,
}

impl Missed {
    /// `skip` or `once`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Skip => "skip",
            Self::Once => "once",
        }
    }
}

/// Why a schedule is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// The name is not a valid segment (`[a-z0-9_-]{1,64}`).
    #[error("schedule name {name:?} {reason}")]
    Name {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The cron pattern does not parse, or never fires.
    #[error("cron pattern {pattern:?}: {reason}")]
    Cron {
        /// The pattern given.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The time zone is not an IANA name this build knows. The text is the name as
    /// given; chrono-tz's parse error is dropped on purpose, as it says nothing more
    /// ("failed to parse timezone").
    #[error("unknown time zone {0:?} (an IANA name such as Europe/Berlin or UTC)")]
    TimeZone(String),
    /// The handler name is not a valid segment.
    #[error("handler name {name:?} {reason}")]
    Handler {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl ScheduleError {
    /// The registry field the error is about (`name`, `cron`, `tz`, `handler`).
    #[must_use]
    pub fn field(&self) -> &'static str {
        match self {
            Self::Name { .. } => "name",
            Self::Cron { .. } => "cron",
            Self::TimeZone(_) => "tz",
            Self::Handler { .. } => "handler",
        }
    }
}

/// A tenant's schedule: when it fires and what its [`Job`](crate::model::Job)s
/// carry. Built from the registry (`schedules:`) or in code for
/// [`RuntimeBuilder::schedule`](crate::runtime::RuntimeBuilder::schedule).
///
/// ```
/// use switchboard::jobs::{Missed, Schedule};
/// use switchboard::model::JobPayload;
///
/// let nightly = Schedule::new("nightly", "0 3 * * *")?
///     .time_zone("Europe/Berlin")?
///     .handler("reports")?
///     .payload(JobPayload::Json(serde_json::json!({ "kind": "digest" })))
///     .missed(Missed::Once);
/// assert_eq!(nightly.name(), "nightly");
/// assert!(Schedule::new("bad", "61 * * * *").is_err());
/// # Ok::<(), switchboard::jobs::ScheduleError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Schedule {
    name: String,
    pattern: String,
    cron: croner::Cron,
    tz: chrono_tz::Tz,
    handler: Option<String>,
    payload: JobPayload,
    missed: Missed,
}

impl Schedule {
    /// A schedule called `name` firing on `pattern` (5 fields, 6 with seconds first,
    /// 7 with a year last), read in UTC, for every handler, without payload,
    /// skipping missed slots.
    ///
    /// # Errors
    /// [`ScheduleError::Name`] or [`ScheduleError::Cron`].
    pub fn new(name: &str, pattern: &str) -> Result<Self, ScheduleError> {
        validate_segment(name).map_err(|e| ScheduleError::Name {
            name: name.to_owned(),
            reason: e.to_string(),
        })?;
        let bad = |reason: String| ScheduleError::Cron {
            pattern: pattern.to_owned(),
            reason,
        };
        let cron = croner::Cron::from_str(pattern).map_err(|e| bad(e.to_string()))?;
        let schedule = Self {
            name: name.to_owned(),
            pattern: pattern.to_owned(),
            cron,
            tz: chrono_tz::UTC,
            handler: None,
            payload: JobPayload::None,
            missed: Missed::Skip,
        };
        // A pattern that parses but names no real time (`0 0 30 2 *`) would never
        // fire: say so now rather than run a schedule that does nothing.
        if schedule
            .next_after(crate::model::now_ms().cast_signed())
            .is_none()
        {
            return Err(bad("it never fires".to_owned()));
        }
        Ok(schedule)
    }

    /// The pattern is read in the IANA time zone `tz` (default UTC).
    ///
    /// # Errors
    /// [`ScheduleError::TimeZone`] for an unknown zone.
    pub fn time_zone(mut self, tz: &str) -> Result<Self, ScheduleError> {
        self.tz =
            chrono_tz::Tz::from_str(tz).map_err(|_| ScheduleError::TimeZone(tz.to_owned()))?;
        Ok(self)
    }

    /// Only the handler called `name` gets the jobs.
    ///
    /// # Errors
    /// [`ScheduleError::Handler`] if `name` is not a valid segment.
    pub fn handler(mut self, name: &str) -> Result<Self, ScheduleError> {
        validate_segment(name).map_err(|e| ScheduleError::Handler {
            name: name.to_owned(),
            reason: e.to_string(),
        })?;
        self.handler = Some(name.to_owned());
        Ok(self)
    }

    /// What every job carries.
    #[must_use]
    pub fn payload(mut self, payload: JobPayload) -> Self {
        self.payload = payload;
        self
    }

    /// What happens to slots missed while no node ran.
    #[must_use]
    pub fn missed(mut self, missed: Missed) -> Self {
        self.missed = missed;
        self
    }

    /// A registry entry as a schedule; every problem at once.
    ///
    /// # Errors
    /// Every [`ScheduleError`] of the entry.
    pub fn from_config(c: &ScheduleConfig) -> Result<Self, Vec<ScheduleError>> {
        let mut errors = Vec::new();
        let schedule = Self::new(&c.name, &c.cron).map_err(|e| errors.push(e)).ok();
        let tz = c.tz.as_deref().map_or(Ok(chrono_tz::UTC), |tz| {
            chrono_tz::Tz::from_str(tz).map_err(|_| ScheduleError::TimeZone(tz.to_owned()))
        });
        let tz = tz.map_err(|e| errors.push(e)).ok();
        if let Some(h) = &c.handler
            && let Err(e) = validate_segment(h)
        {
            errors.push(ScheduleError::Handler {
                name: h.clone(),
                reason: e.to_string(),
            });
        }
        match (schedule, tz) {
            (Some(mut s), Some(tz)) if errors.is_empty() => {
                s.tz = tz;
                s.handler.clone_from(&c.handler);
                s.payload = c.payload.clone().map_or(JobPayload::None, JobPayload::Json);
                s.missed = c.missed;
                Ok(s)
            }
            _ => Err(errors),
        }
    }

    /// The schedule's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cron pattern as given.
    #[must_use]
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The time zone's IANA name.
    #[must_use]
    pub fn tz_name(&self) -> &'static str {
        self.tz.name()
    }

    /// The handler the jobs are for, if only one.
    #[must_use]
    pub fn handler_name(&self) -> Option<&str> {
        self.handler.as_deref()
    }

    /// The payload every job carries.
    #[must_use]
    pub fn job_payload(&self) -> &JobPayload {
        &self.payload
    }

    /// The missed-slot policy.
    #[must_use]
    pub fn missed_policy(&self) -> Missed {
        self.missed
    }

    /// Whether `other` fires the same jobs at the same times (a reload keeps the
    /// running schedule then).
    #[must_use]
    pub fn same_as(&self, other: &Self) -> bool {
        self.name == other.name
            && self.pattern == other.pattern
            && self.tz == other.tz
            && self.handler == other.handler
            && self.payload == other.payload
            && self.missed == other.missed
    }

    /// The first slot strictly after `ms` (Unix milliseconds), if the pattern has one.
    #[must_use]
    pub fn next_after(&self, ms: i64) -> Option<i64> {
        // Slots are whole seconds: searching from the second `ms` falls in finds the
        // first slot after it.
        let from = self.tz.timestamp_opt(ms.div_euclid(1000), 0).single()?;
        self.cron
            .find_next_occurrence(&from, false)
            .ok()
            .map(|t| t.timestamp_millis())
    }

    /// The last slot at or before `ms`, if the pattern has one.
    #[must_use]
    pub fn last_at_or_before(&self, ms: i64) -> Option<i64> {
        let from = self.tz.timestamp_opt(ms.div_euclid(1000), 0).single()?;
        self.cron
            .find_previous_occurrence(&from, true)
            .ok()
            .map(|t| t.timestamp_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    #[test]
    fn every_second_and_every_minute() -> Result<(), ScheduleError> {
        let s = Schedule::new("tick", "* * * * * *")?;
        assert_eq!(s.next_after(T0), Some(T0 + 1000));
        assert_eq!(s.next_after(T0 + 400), Some(T0 + 1000));
        assert_eq!(s.last_at_or_before(T0 + 1500), Some(T0 + 1000));
        assert_eq!(s.last_at_or_before(T0), Some(T0));
        let m = Schedule::new("minutely", "* * * * *")?;
        assert_eq!(m.next_after(T0 + 1), Some(T0 + 60_000));
        Ok(())
    }

    #[test]
    fn time_zones_move_the_slots() -> Result<(), ScheduleError> {
        let utc = Schedule::new("nightly", "0 3 * * *")?;
        let berlin = utc.clone().time_zone("Europe/Berlin")?;
        // 03:00 in Berlin is 02:00 UTC in winter.
        assert_eq!(utc.next_after(T0), Some(T0 + 3 * 3_600_000));
        assert_eq!(berlin.next_after(T0), Some(T0 + 2 * 3_600_000));
        assert_eq!(berlin.tz_name(), "Europe/Berlin");
        Ok(())
    }

    #[test]
    fn every_problem_of_an_entry_is_reported_with_its_field() {
        let c = ScheduleConfig {
            name: "Bad Name".into(),
            cron: "61 * * * *".into(),
            handler: Some("no.dots".into()),
            payload: None,
            tz: Some("Mars/Olympus".into()),
            missed: Missed::Skip,
        };
        let Err(errors) = Schedule::from_config(&c) else {
            panic!("accepted {c:?}");
        };
        let fields: Vec<_> = errors.iter().map(ScheduleError::field).collect();
        assert_eq!(fields, ["name", "tz", "handler"], "{errors:?}");
        let c = ScheduleConfig {
            name: "ok".into(),
            ..c
        };
        let Err(errors) = Schedule::from_config(&c) else {
            panic!("accepted");
        };
        let fields: Vec<_> = errors.iter().map(ScheduleError::field).collect();
        assert_eq!(fields, ["cron", "tz", "handler"], "{errors:?}");
        assert!(
            Schedule::new("feb", "0 0 30 2 *").is_err(),
            "a pattern that never fires is refused"
        );
    }
}
