//! The process's Prometheus recorder. `metrics` macros anywhere in the crate record
//! into it; `/metrics` renders it. One per process (a second runtime in the same
//! process shares it). At scrape time the gauges that mirror the status tree are set
//! from it ([`export_status`]).

use std::sync::OnceLock;

use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder on first use; `None` if another recorder was installed by
/// the embedding application (then `/metrics` says so).
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new()
            // Every gauge is set from the status tree at scrape time, so one not set
            // for five minutes belongs to something gone (a removed tenant, a shard
            // that no longer runs): drop it rather than report it forever.
            .idle_timeout(MetricKindMask::GAUGE, Some(Duration::from_secs(300)))
            .install_recorder()
        {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(error = %e, "a metrics recorder is already installed; /metrics is empty");
                None
            }
        })
        .as_ref()
}

/// Sets the gauges that mirror the status tree, so one scrape sees current depths,
/// leases and per-tenant REST figures next to the counters recorded as things happen.
pub(super) fn export_status(st: &super::status::RuntimeStatus) {
    use metrics::gauge;
    let backend = st.bus.backend.clone();
    metrics::counter!("switchboard_bus_published_total", "backend" => backend.clone())
        .absolute(st.bus.published);
    metrics::counter!("switchboard_bus_acked_total", "backend" => backend).absolute(st.bus.acked);
    gauge!("switchboard_bus_waiting").set(st.bus.waiting as f64);
    gauge!("switchboard_bus_in_flight").set(st.bus.in_flight as f64);
    gauge!("switchboard_bus_dead_letters").set(st.bus.dead_lettered as f64);
    for b in &st.bus.backlog {
        gauge!("switchboard_bus_lag", "tenant" => b.tenant.clone()).set(b.lag as f64);
        gauge!("switchboard_bus_pending", "tenant" => b.tenant.clone()).set(b.pending as f64);
    }
    if let Some(depth) = st.bus.dead_letter_depth {
        gauge!("switchboard_bus_dead_letter_depth").set(depth as f64);
    }
    gauge!("switchboard_vault_leases").set(st.vault.leases as f64);
    gauge!("switchboard_vault_backend_up", "backend" => st.vault.backend.clone())
        .set(if st.vault.available { 1.0 } else { 0.0 });
    if let Some(w) = &st.workers {
        gauge!("switchboard_workers_busy").set(w.busy as f64);
        gauge!("switchboard_worker_restarts").set(w.restarts as f64);
    }
    for t in &st.tenants {
        let tenant = t.id.clone();
        gauge!("switchboard_tenant_up", "tenant" => tenant.clone()).set(
            if t.state == super::status::TenantState::Running {
                1.0
            } else {
                0.0
            },
        );
        gauge!("switchboard_tenant_restarts", "tenant" => tenant.clone()).set(t.restarts as f64);
        gauge!("switchboard_tenant_inbox", "tenant" => tenant.clone()).set(t.inbox as f64);
        if let Some(r) = &t.rest {
            gauge!("switchboard_rest_requests", "tenant" => tenant.clone()).set(r.requests as f64);
            gauge!("switchboard_rest_429s", "tenant" => tenant.clone()).set(r.rate_limited as f64);
            for (class, n) in &r.by_status {
                gauge!("switchboard_rest_responses", "tenant" => tenant.clone(), "status" => class.clone())
                    .set(*n as f64);
            }
            if let Some((used, threshold)) = r.invalid_budget {
                // One budget per process: every tenant reports the same figures.
                gauge!("switchboard_invalid_request_budget_used").set(used as f64);
                gauge!("switchboard_invalid_request_budget_threshold").set(threshold as f64);
            }
        }
        for sh in &t.shards {
            let shard = sh.id.to_string();
            gauge!("switchboard_gateway_events", "tenant" => tenant.clone(), "shard" => shard.clone()).set(sh.events as f64);
            gauge!("switchboard_gateway_resumes", "tenant" => tenant.clone(), "shard" => shard.clone()).set(sh.resumes as f64);
            if let Some(l) = sh.latency_ms {
                gauge!("switchboard_gateway_latency_ms", "tenant" => tenant.clone(), "shard" => shard).set(l as f64);
            }
        }
        for j in &t.schedules {
            let labels = [("tenant", tenant.clone()), ("schedule", j.name.clone())];
            metrics::counter!("switchboard_jobs_fired_total", &labels).absolute(j.fired);
            metrics::counter!("switchboard_jobs_fired_elsewhere_total", &labels)
                .absolute(j.fired_elsewhere);
            metrics::counter!("switchboard_jobs_skipped_total", &labels).absolute(j.skipped);
            if let Some(next) = j.next_run_unix_ms {
                gauge!("switchboard_job_next_run_timestamp_seconds", &labels)
                    .set(next as f64 / 1000.0);
            }
            if let Some(last) = j.last_run_unix_ms {
                gauge!("switchboard_job_last_run_timestamp_seconds", &labels)
                    .set(last as f64 / 1000.0);
            }
        }
    }
}
