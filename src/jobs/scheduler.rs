//! [`JobScheduler`]: this node's schedules, one task per (tenant, schedule), kept in
//! step with the running registry (start-up, reload, tenants added through the
//! admin API) plus the schedules given in code.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::clock::WallClock;
use super::runner::{Runner, ScheduleCell};
use super::spec::Schedule;
use crate::admin::ScheduleStatus;
use crate::bus::Bus;
use crate::config::Registry;
use crate::model::TenantId;

/// Schedules given in code (`RuntimeBuilder::schedule`), by tenant.
pub(crate) type CodeSchedules = HashMap<TenantId, Vec<Schedule>>;

struct Running {
    schedule: Schedule,
    namespace: Arc<str>,
    cell: Arc<ScheduleCell>,
    cancel: CancellationToken,
}

struct Inner {
    bus: Bus,
    code: CodeSchedules,
    clock: WallClock,
    cancel: CancellationToken,
    tasks: TaskTracker,
    running: Mutex<BTreeMap<(TenantId, String), Running>>,
}

/// Runs this node's schedules. Every node with workers runs every schedule: the
/// bus's per-slot claim makes each slot fire once across the cluster, and any live
/// node fires it. Cheap to clone.
#[derive(Clone)]
pub(crate) struct JobScheduler {
    inner: Arc<Inner>,
}

impl JobScheduler {
    /// A scheduler publishing on `bus`, stopping when `cancel` is cancelled, with
    /// its tasks on `tasks`.
    pub(crate) fn new(
        bus: Bus,
        code: CodeSchedules,
        clock: WallClock,
        cancel: CancellationToken,
        tasks: TaskTracker,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                bus,
                code,
                clock,
                cancel,
                tasks,
                running: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// Every schedule `registry` and the code give its tenants: the registry's
    /// first, then the code's; a name used twice keeps the first.
    fn wanted(&self, registry: &Registry) -> BTreeMap<(TenantId, String), Schedule> {
        let mut out = BTreeMap::new();
        for t in &registry.tenants {
            let id = t.id();
            let from_registry = t.schedules.iter().filter_map(|c| {
                Schedule::from_config(c)
                    .inspect_err(|e| tracing::error!(tenant = %id, schedule = c.name, errors = ?e, "invalid schedule; not run"))
                    .ok()
            });
            let from_code = self.inner.code.get(&id).into_iter().flatten().cloned();
            for s in from_registry.chain(from_code) {
                let key = (id.clone(), s.name().to_owned());
                if out.contains_key(&key) {
                    tracing::error!(tenant = %id, schedule = s.name(), "two schedules of one tenant share a name; the first is run");
                    continue;
                }
                out.insert(key, s);
            }
        }
        out
    }

    /// Makes the running schedules those of `registry` (and the code): starts new
    /// ones, stops removed ones, restarts changed ones; the others keep running.
    pub(crate) fn apply(&self, registry: &Registry) {
        if self.inner.cancel.is_cancelled() {
            return;
        }
        let wanted = self.wanted(registry);
        let namespace: Arc<str> = Arc::from(registry.namespace.as_str());
        let mut running = self
            .inner
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        running.retain(|key, r| {
            let keep = wanted
                .get(key)
                .is_some_and(|s| s.same_as(&r.schedule) && r.namespace == namespace);
            if !keep {
                tracing::info!(tenant = %key.0, schedule = key.1, "schedule stopped");
                r.cancel.cancel();
            }
            keep
        });
        for (key, schedule) in wanted {
            if running.contains_key(&key) {
                continue;
            }
            let cell = Arc::new(ScheduleCell::new());
            let cancel = self.inner.cancel.child_token();
            let runner = Runner {
                bus: self.inner.bus.clone(),
                namespace: namespace.clone(),
                tenant: key.0.clone(),
                schedule: schedule.clone(),
                cell: cell.clone(),
                clock: self.inner.clock,
                cancel: cancel.clone(),
            };
            let span = tracing::info_span!(
                parent: None,
                "schedule",
                provider = %key.0.provider,
                tenant = %key.0.tenant,
                schedule = key.1,
            );
            span.in_scope(|| {
                tracing::info!(
                    cron = schedule.pattern(),
                    tz = schedule.tz_name(),
                    "schedule started"
                );
            });
            self.inner.tasks.spawn(runner.run().instrument(span));
            running.insert(
                key,
                Running {
                    schedule,
                    namespace: namespace.clone(),
                    cell,
                    cancel,
                },
            );
        }
    }

    /// Follows the registry the root publishes: every change (reload, tenants
    /// added or removed through the admin API or the shared tenant store) is
    /// applied.
    pub(crate) fn follow(
        &self,
        mut view: tokio::sync::watch::Receiver<Arc<crate::runtime::RootView>>,
    ) {
        let me = self.clone();
        let cancel = self.inner.cancel.clone();
        self.inner.tasks.spawn(async move {
            let mut current = view.borrow_and_update().registry.clone();
            me.apply(&current);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    changed = view.changed() => if changed.is_err() { return },
                }
                let registry = view.borrow_and_update().registry.clone();
                if !Arc::ptr_eq(&registry, &current) {
                    current = registry;
                    me.apply(&current);
                }
            }
        });
    }

    /// The status of `tenant`'s schedules (`provider/tenant`), by name.
    pub(crate) fn status(&self, tenant: &str) -> Vec<ScheduleStatus> {
        self.inner
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|((t, _), _)| t.to_string() == tenant)
            .map(|(_, r)| r.cell.status(&r.schedule))
            .collect()
    }
}
