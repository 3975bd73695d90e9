//! One schedule of one tenant, running on this node: wait for the next slot, fire
//! it (the bus claims the slot across the cluster and publishes the job in one
//! step), repeat. At start, slots missed while no node ran are fired once or
//! skipped (`missed:`).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::clock::WallClock;
use super::spec::{Missed, Schedule};
use crate::admin::ScheduleStatus;
use crate::bus::Bus;
use crate::bus::jobs::JobSlot;
use crate::model::{Envelope, EnvelopeId, Event, Job, Payload, TenantId};

/// A node that wakes later than this after a slot skips it (with a warning) rather
/// than firing it late; well inside [`MIN_CLAIM_KEEP`], so no claim a node could
/// still race for has expired.
const CATCH_UP: Duration = Duration::from_secs(300);

/// Shortest time a slot's claim is kept.
const MIN_CLAIM_KEEP: Duration = Duration::from_secs(600);

/// Longest time a slot's claim is kept (schedules firing less often than every
/// fortnight rely on the last fired slot, which is kept for good).
const MAX_CLAIM_KEEP: Duration = Duration::from_secs(31 * 24 * 3600);

/// How long a slot is retried while the bus fails.
const FIRE_RETRY_FOR: Duration = Duration::from_secs(30);

/// What status shows of a running schedule; shared by its task and status readers.
#[derive(Debug, Default)]
pub(crate) struct ScheduleCell {
    /// The next slot, ms; `i64::MIN`: none.
    next: AtomicI64,
    /// The last slot fired by any node as far as this one knows; `i64::MIN`: none.
    last: AtomicI64,
    fired: AtomicU64,
    fired_elsewhere: AtomicU64,
    skipped: AtomicU64,
    error: Mutex<Option<String>>,
}

impl ScheduleCell {
    pub(crate) fn new() -> Self {
        Self {
            next: AtomicI64::new(i64::MIN),
            last: AtomicI64::new(i64::MIN),
            ..Self::default()
        }
    }

    fn saw_fired(&self, slot: i64) {
        self.last.fetch_max(slot, Ordering::Relaxed);
    }

    fn set_error(&self, e: Option<String>) {
        *self
            .error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = e;
    }

    pub(crate) fn status(&self, s: &Schedule) -> ScheduleStatus {
        let some = |v: i64| (v != i64::MIN).then_some(v);
        ScheduleStatus {
            name: s.name().to_owned(),
            cron: s.pattern().to_owned(),
            tz: s.tz_name().to_owned(),
            missed: s.missed_policy().as_str().to_owned(),
            next_run_unix_ms: some(self.next.load(Ordering::Relaxed)),
            last_run_unix_ms: some(self.last.load(Ordering::Relaxed)),
            fired: self.fired.load(Ordering::Relaxed),
            fired_elsewhere: self.fired_elsewhere.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            error: self
                .error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        }
    }
}

/// Everything one schedule's task needs.
pub(crate) struct Runner {
    pub(crate) bus: Bus,
    pub(crate) namespace: Arc<str>,
    pub(crate) tenant: TenantId,
    pub(crate) schedule: Schedule,
    pub(crate) cell: Arc<ScheduleCell>,
    pub(crate) clock: WallClock,
    pub(crate) cancel: CancellationToken,
}

/// How one attempt to fire a slot ended.
enum Fired {
    Here,
    Elsewhere,
    Failed,
}

impl Runner {
    /// Runs until cancelled (or the pattern has no further slot).
    pub(crate) async fn run(self) {
        let started = self.clock.now_ms();
        self.recover(started).await;
        let mut cursor = started;
        loop {
            let Some(next) = self.schedule.next_after(cursor) else {
                self.cell.next.store(i64::MIN, Ordering::Relaxed);
                tracing::info!("schedule has no further slot");
                return;
            };
            self.cell.next.store(next, Ordering::Relaxed);
            tokio::select! {
                () = self.cancel.cancelled() => return,
                () = self.clock.sleep_until(next) => {}
            }
            // Every slot that is due now, in order: a node that woke late (a busy
            // machine) still fires the slots it slept through, unless too late.
            let now = self.clock.now_ms();
            let mut slot = Some(next);
            while let Some(s) = slot.filter(|s| *s <= now) {
                if now - s > CATCH_UP.as_millis() as i64 {
                    self.cell.skipped.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(slot = s, "slot found too late; skipped");
                } else {
                    self.fire(s, false).await;
                }
                if self.cancel.is_cancelled() {
                    return;
                }
                cursor = s;
                slot = self.schedule.next_after(s);
            }
        }
    }

    /// At start: slots after the last one any node fired and up to now were missed
    /// while no node ran; fire the most recent once, or skip them.
    async fn recover(&self, now: i64) {
        let last = match self
            .bus
            .last_job_slot(&self.tenant, self.schedule.name())
            .await
        {
            Ok(last) => last,
            Err(e) => {
                // Without the record nothing can be called missed; the schedule
                // goes on with its next slot.
                tracing::warn!(error = %crate::Report(&e), "cannot read the last fired slot");
                None
            }
        };
        let Some(last) = last else {
            return;
        };
        self.cell.saw_fired(last);
        let Some(latest) = self.schedule.last_at_or_before(now).filter(|l| *l > last) else {
            return;
        };
        match self.schedule.missed_policy() {
            Missed::Once => {
                tracing::info!(
                    slot = latest,
                    last,
                    "firing the most recent missed slot once"
                );
                self.fire(latest, true).await;
            }
            Missed::Skip => {
                self.cell.skipped.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    slot = latest,
                    last,
                    "skipping slots missed while no node ran"
                );
            }
        }
    }

    /// The job envelope of `slot`: its id derives from tenant, schedule and slot, so
    /// every node builds the same envelope for the same slot.
    fn envelope(&self, slot: i64, recovered: bool) -> Option<Envelope> {
        let job = Job {
            schedule: self.schedule.name().to_owned(),
            slot_ms: slot,
            handler: self.schedule.handler_name().map(str::to_owned),
            payload: self.schedule.job_payload().clone(),
            recovered,
        };
        let env = Envelope::new(
            &self.namespace,
            &self.tenant,
            Payload::Event(Event::Job(job)),
        )
        .inspect_err(|e| tracing::error!(error = %crate::Report(e), "cannot build a job envelope"))
        .ok()?;
        let key = format!(
            "job\0{}\0{}\0{}\0{slot}",
            self.tenant.provider,
            self.tenant.tenant,
            self.schedule.name()
        );
        Some(env.with_id(EnvelopeId::derived(slot.max(0) as u64, key.as_bytes())))
    }

    /// How long `slot`'s claim is kept: twice the gap to the next slot, within
    /// bounds.
    fn claim_keep(&self, slot: i64) -> Duration {
        let gap = self.schedule.next_after(slot).map_or(MAX_CLAIM_KEEP, |n| {
            Duration::from_millis((n - slot).max(0) as u64 * 2)
        });
        gap.clamp(MIN_CLAIM_KEEP, MAX_CLAIM_KEEP)
    }

    /// Fires `slot`, retrying while the bus fails (bounded).
    async fn fire(&self, slot: i64, recovered: bool) {
        // Counted here and exported from status at scrape time (`admin/metrics.rs`).
        match self.try_fire(slot, recovered).await {
            Fired::Here => {
                self.cell.fired.fetch_add(1, Ordering::Relaxed);
                self.cell.saw_fired(slot);
                self.cell.set_error(None);
            }
            Fired::Elsewhere => {
                self.cell.fired_elsewhere.fetch_add(1, Ordering::Relaxed);
                self.cell.saw_fired(slot);
                self.cell.set_error(None);
            }
            // The error is in the cell; the schedule goes on with its next slot.
            Fired::Failed => {}
        }
    }

    async fn try_fire(&self, slot: i64, recovered: bool) -> Fired {
        let Some(env) = self.envelope(slot, recovered) else {
            return Fired::Failed;
        };
        let claim = JobSlot {
            schedule: self.schedule.name(),
            slot_ms: slot,
            keep: self.claim_keep(slot),
        };
        let deadline = tokio::time::Instant::now() + FIRE_RETRY_FOR;
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.bus.publish_job(env.clone(), claim).await {
                Ok(true) => {
                    tracing::debug!(slot, "job fired");
                    return Fired::Here;
                }
                Ok(false) => return Fired::Elsewhere,
                Err(e) => {
                    tracing::warn!(slot, error = %crate::Report(&e), "firing a job failed");
                    self.cell
                        .set_error(Some(format!("slot {slot}: {}", crate::Report(&e))));
                    if tokio::time::Instant::now() + backoff > deadline {
                        return Fired::Failed;
                    }
                }
            }
            tokio::select! {
                () = self.cancel.cancelled() => return Fired::Failed,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}
