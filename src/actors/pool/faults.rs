//! Handler panics charged per tenant, and the quarantine past a tenant's budget.
//!
//! The pool actor owns the budgets ([`TenantBudgets`], in its state) and is the only
//! writer of the [`FaultTable`]; workers read the table before each delivery (a
//! relaxed flag skips the lookup until some tenant was ever quarantined).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};

use tokio::time::Instant;

use crate::actors::{RestartBudget, RestartPolicy};
use crate::model::TenantId;

/// One tenant's panics, as the pool charged them.
#[derive(Default)]
struct Faults {
    panics: u64,
    /// Why, and until when, its deliveries are dead-lettered.
    quarantine: Option<(String, Instant)>,
}

/// A tenant's handler panics as the pool sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TenantFaults {
    /// Handler panics charged to the tenant since the pool started.
    pub(crate) panics: u64,
    /// While its deliveries are dead-lettered: why, and for how much longer.
    pub(crate) quarantined: Option<String>,
}

/// Per-tenant panics and quarantines, shared by a pool's workers.
#[derive(Default)]
pub(crate) struct FaultTable {
    table: RwLock<HashMap<TenantId, Faults>>,
    /// Whether any tenant was ever quarantined.
    any_quarantine: AtomicBool,
}

impl FaultTable {
    /// Why `tenant` is quarantined, while it is.
    pub(crate) fn quarantined(&self, tenant: &TenantId) -> Option<String> {
        if !self.any_quarantine.load(Ordering::Relaxed) {
            return None;
        }
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        let (reason, until) = table.get(tenant)?.quarantine.as_ref()?;
        (*until > Instant::now()).then(|| reason.clone())
    }

    /// Every tenant that ever panicked.
    pub(crate) fn snapshot(&self) -> HashMap<TenantId, TenantFaults> {
        let now = Instant::now();
        self.table
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(id, f)| {
                let quarantined =
                    f.quarantine
                        .as_ref()
                        .filter(|(_, until)| *until > now)
                        .map(|(why, until)| {
                            format!(
                                "{why}; its deliveries are dead-lettered for another {} s",
                                until.duration_since(now).as_secs_f64().ceil() as u64
                            )
                        });
                let faults = TenantFaults {
                    panics: f.panics,
                    quarantined,
                };
                (id.clone(), faults)
            })
            .collect()
    }
}

/// The pool's per-tenant panic budgets (`WorkerPoolConfig::tenant_panics`).
pub(crate) struct TenantBudgets {
    policy: RestartPolicy,
    budgets: HashMap<TenantId, RestartBudget>,
}

impl TenantBudgets {
    pub(crate) fn new(policy: RestartPolicy) -> Self {
        Self {
            policy,
            budgets: HashMap::new(),
        }
    }

    /// Counts a handler panic (`reason`) against `tenant`; past its budget, quarantines
    /// the tenant in `table` for the budget's period. The panics that spent the budget
    /// are then all older than the period when the quarantine ends, so the tenant
    /// starts again with a fresh budget.
    pub(crate) fn charge(&mut self, table: &FaultTable, tenant: &TenantId, reason: &str) {
        let policy = self.policy;
        let spent = self
            .budgets
            .entry(tenant.clone())
            .or_insert_with(|| RestartBudget::new(policy))
            .on_failure()
            .is_none();
        metrics::counter!("switchboard_tenant_handler_panics_total").increment(1);
        let now = Instant::now();
        let mut faults = table.table.write().unwrap_or_else(PoisonError::into_inner);
        let f = faults.entry(tenant.clone()).or_default();
        f.panics += 1;
        let active = f.quarantine.as_ref().is_some_and(|(_, until)| *until > now);
        if spent && !active {
            let why = format!(
                "its handlers panicked more than {} times within {} s (last: {reason})",
                policy.max_restarts,
                policy.period.as_secs()
            );
            tracing::error!(provider = %tenant.provider, tenant = %tenant.tenant, reason = %why,
                quarantine_secs = policy.period.as_secs(), "tenant quarantined: its deliveries are dead-lettered");
            metrics::counter!("switchboard_tenant_quarantined_total").increment(1);
            f.quarantine = Some((why, now + policy.period));
            table.any_quarantine.store(true, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn past_its_budget_a_tenant_is_quarantined_for_the_period_then_starts_afresh() {
        let policy = RestartPolicy {
            max_restarts: 2,
            period: Duration::from_secs(60),
            ..RestartPolicy::default()
        };
        let (bad, good) = (
            TenantId::parse("discord", "goose").unwrap(),
            TenantId::parse("discord", "duck").unwrap(),
        );
        let table = FaultTable::default();
        let mut budgets = TenantBudgets::new(policy);
        budgets.charge(&table, &bad, "boom");
        budgets.charge(&table, &bad, "boom");
        assert_eq!(table.quarantined(&bad), None, "within its budget");
        budgets.charge(&table, &bad, "boom");
        let why = table.quarantined(&bad).expect("past its budget");
        assert!(why.contains("more than 2 times within 60 s"), "{why}");
        assert_eq!(
            table.quarantined(&good),
            None,
            "only the tenant that panicked"
        );
        let snap = table.snapshot();
        assert_eq!(snap[&bad].panics, 3);
        assert!(
            snap[&bad]
                .quarantined
                .as_deref()
                .unwrap()
                .contains("for another 60 s")
        );
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(table.quarantined(&bad), None, "the quarantine ended");
        budgets.charge(&table, &bad, "boom");
        assert_eq!(table.quarantined(&bad), None, "a fresh budget");
    }
}
