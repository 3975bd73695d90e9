//! Reload inside the root: the root diffs its tenants against the new registry and
//! takes the removed and changed ones out of its state at once (their exits are
//! then expected), lets a task stop them — stopping waits for gateways and REST
//! actors, and the root must keep handling supervision events meanwhile — and, when
//! the task reports back, starts the added and changed tenants itself. Applies run
//! one at a time; later ones wait in the root's state.

use std::sync::Arc;

use ractor::ActorRef;

use super::msg::RootMsg;
use super::state::{ApplyReply, Applying, RootState, TenantSlot};
use crate::actors::RestartBudget;
use crate::admin::{AdminError, ReloadReport};
use crate::config::{Registry, TenantConfig};
use crate::model::TenantId;
use crate::runtime::handlers::{group_handler_set, handler_set};
use crate::runtime::reload::{Retire, retire, same_tenant};
use crate::runtime::tenants::TenantEntry;

fn shutting_down() -> AdminError {
    AdminError::Unsupported("the runtime is shutting down".to_owned())
}

impl RootState {
    /// Queues an apply, or begins it when none is running.
    pub(super) fn apply(
        &mut self,
        myself: &ActorRef<RootMsg>,
        registry: Box<Registry>,
        reply: ApplyReply,
    ) {
        if self.shutting_down {
            let _ = reply.send(Err(shutting_down()));
        } else if self.applying.is_some() {
            self.queued.push_back((registry, reply));
        } else {
            self.begin_apply(myself, registry, reply);
        }
    }

    /// Begins the next queued apply, if any (skipping those that fail validation).
    fn next_apply(&mut self, myself: &ActorRef<RootMsg>) {
        while self.applying.is_none() {
            let Some((registry, reply)) = self.queued.pop_front() else {
                return;
            };
            if self.shutting_down {
                let _ = reply.send(Err(shutting_down()));
            } else {
                self.begin_apply(myself, registry, reply);
            }
        }
    }

    /// The first half of an apply: validate, diff, take the old tenants out and hand
    /// them to a task that stops them.
    fn begin_apply(
        &mut self,
        myself: &ActorRef<RootMsg>,
        registry: Box<Registry>,
        reply: ApplyReply,
    ) {
        // Validate everything that can fail before touching anything.
        let handlers = match handler_set(&registry, &self.app_handlers) {
            Ok(h) => h,
            Err(e) => {
                let _ = reply.send(Err(match e {
                    crate::runtime::RuntimeError::Config(p) => AdminError::InvalidConfig(p),
                    other => AdminError::Internal(other.to_string()),
                }));
                return;
            }
        };
        let plans = match crate::runtime::commands::plans(&registry, &handlers).and_then(|p| {
            crate::runtime::handlers::check_schedule_targets(&registry, &handlers).map(|()| p)
        }) {
            Ok(p) => p,
            Err(e) => {
                let _ = reply.send(Err(match e {
                    crate::runtime::RuntimeError::Config(p) => AdminError::InvalidConfig(p),
                    other => AdminError::Internal(other.to_string()),
                }));
                return;
            }
        };
        // Every other worker group this node runs gets its handlers for the new
        // tenants too (the set of groups is fixed at build).
        let mut group_sets = Vec::new();
        for p in &self.pools {
            let group = &p.config.group;
            if group == crate::bus::DEFAULT_GROUP {
                continue;
            }
            match group_handler_set(&registry, &self.app_handlers, &self.group_handlers, group) {
                Ok(set) => group_sets.push((group.clone(), set)),
                Err(e) => {
                    let _ = reply.send(Err(match e {
                        crate::runtime::RuntimeError::Config(p) => AdminError::InvalidConfig(p),
                        other => AdminError::Internal(other.to_string()),
                    }));
                    return;
                }
            }
        }
        let registry = Arc::new(*registry);
        let mut report = ReloadReport::default();
        let new_ids: Vec<TenantId> = registry.tenants.iter().map(TenantConfig::id).collect();
        let mut retiring = Vec::new();
        let removed: Vec<TenantId> = self
            .tenants
            .keys()
            .filter(|id| !new_ids.contains(id))
            .cloned()
            .collect();
        for id in removed {
            if let Some(slot) = self.tenants.remove(&id) {
                slot.entry.begin_stop();
                retiring.push(Retire::removed(id.clone(), slot.entry));
            }
            report.removed.push(id.to_string());
        }
        let mut start = Vec::new();
        if self.access.is_some() {
            for t in &registry.tenants {
                let id = t.id();
                let keep = self
                    .tenants
                    .get(&id)
                    .is_some_and(|s| same_tenant(&s.entry.config, &s.entry.fingerprint, t));
                if keep {
                    report.unchanged.push(id.to_string());
                    continue;
                }
                if let Some(old) = self.tenants.remove(&id) {
                    old.entry.begin_stop();
                    let next = plans.get(&id).map(|p| (**p).clone()).unwrap_or_default();
                    retiring.push(Retire::changed(id.clone(), old.entry, t, &next));
                    report.changed.push(id.to_string());
                } else {
                    report.added.push(id.to_string());
                }
                start.push(Arc::new(t.clone()));
            }
        } else {
            report.unchanged = new_ids.iter().map(ToString::to_string).collect();
        }
        self.applying = Some(Applying {
            registry: registry.clone(),
            handlers,
            group_sets,
            plans,
            start,
            report,
            reply,
        });
        let (bus, vault, access) = (self.bus.clone(), self.vault.clone(), self.access.clone());
        let root = myself.clone();
        self.tasks.spawn(async move {
            retire(&bus, &vault, access.as_deref(), &registry, retiring).await;
            // If the root is gone, so is the reply port: the caller hears of it.
            let _ = root.cast(RootMsg::Retired);
        });
    }

    /// The second half: the old tenants are stopped; start the new ones, switch the
    /// handlers and the registry, answer, and begin the next apply.
    pub(super) async fn finish_apply(&mut self, myself: &ActorRef<RootMsg>) {
        let Some(applying) = self.applying.take() else {
            return;
        };
        if self.shutting_down {
            let _ = applying.reply.send(Err(shutting_down()));
            self.next_apply(myself);
            return;
        }
        // Tenants that keep running get their new command plan (a no-op when it
        // did not change).
        for (id, slot) in &self.tenants {
            if let Some(plan) = applying.plans.get(id) {
                slot.entry.set_commands((**plan).clone());
            }
        }
        self.plans = applying.plans;
        // Running gateways see their tenant's new interest at once; new ones start
        // with it.
        self.set_interests(&applying.registry);
        if let Some(access) = self.access.clone() {
            for config in applying.start {
                let id = config.id();
                let plan = self.plan_of(&id);
                let entry = TenantEntry::start(
                    &access,
                    config,
                    &applying.registry,
                    plan,
                    myself.get_cell(),
                )
                .await;
                self.tenants.insert(
                    id,
                    TenantSlot {
                        entry: Arc::new(entry),
                        budget: RestartBudget::new(self.policy),
                    },
                );
            }
        }
        let mut sets = applying.group_sets;
        sets.push((crate::bus::DEFAULT_GROUP.to_owned(), applying.handlers));
        for (group, set) in sets {
            if let Some(pool) = self
                .pools
                .iter()
                .find(|p| p.config.group == group)
                .and_then(|p| p.view.handle.as_ref())
            {
                pool.set_handlers(set);
            }
        }
        if let Some(cluster) = &self.cluster {
            cluster.set_tenants(applying.registry.tenants.len());
        }
        self.registry = applying.registry;
        self.publish();
        tracing::info!(report = ?applying.report, "registry reloaded");
        let _ = applying.reply.send(Ok(applying.report));
        self.next_apply(myself);
    }
}
