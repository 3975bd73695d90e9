//! The process's Prometheus recorder. `metrics` macros anywhere in the crate record
//! into it; `/metrics` renders it. One per process (a second runtime in the same
//! process shares it). At scrape time the figures that mirror the status tree are set
//! from it ([`export_status`]). Names, kinds, HELP text and label cardinality are
//! listed in `names.rs`; histograms use explicit buckets (aggregatable across nodes).

mod names;

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
            .set_buckets(names::BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new())
            // Every gauge is set from the status tree at scrape time, so one not set
            // for five minutes belongs to something gone (a removed tenant, a shard
            // that no longer runs): drop it rather than report it forever.
            .idle_timeout(MetricKindMask::GAUGE, Some(Duration::from_secs(300)))
            .install_recorder()
        {
            Ok(h) => {
                names::describe_all();
                Some(h)
            }
            Err(e) => {
                tracing::warn!(error = %crate::Report(&e), "a metrics recorder is already installed; /metrics is empty");
                None
            }
        })
        .as_ref()
}

/// Sets the figures that mirror the status tree, so one scrape sees current depths,
/// leases and per-tenant REST figures next to the counters recorded as things happen.
/// Cumulative figures kept by the actors are exported as counters (`absolute`).
pub(super) fn export_status(st: &super::status::RuntimeStatus) {
    use metrics::{counter, gauge};
    let backend = st.bus.backend.clone();
    counter!("switchboard_bus_published_total", "backend" => backend.clone())
        .absolute(st.bus.published);
    counter!("switchboard_bus_acked_total", "backend" => backend).absolute(st.bus.acked);
    gauge!("switchboard_bus_waiting").set(st.bus.waiting as f64);
    gauge!("switchboard_bus_in_flight").set(st.bus.in_flight as f64);
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
    }
    for g in &st.groups {
        let group = g.name.clone();
        if let Some(lag) = g.lag {
            gauge!("switchboard_group_lag", "group" => group.clone()).set(lag as f64);
        }
        if let Some(pending) = g.pending {
            gauge!("switchboard_group_pending", "group" => group.clone()).set(pending as f64);
        }
        if let Some(w) = &g.workers {
            gauge!("switchboard_group_workers", "group" => group.clone()).set(w.workers as f64);
            gauge!("switchboard_group_workers_busy", "group" => group.clone()).set(w.busy as f64);
        }
        counter!("switchboard_group_acked_total", "group" => group.clone()).absolute(g.acked);
        counter!("switchboard_group_retried_total", "group" => group.clone()).absolute(g.retried);
        counter!("switchboard_group_dead_lettered_total", "group" => group)
            .absolute(g.dead_lettered);
    }
    for t in &st.tenants {
        let tenant = t.id.clone();
        let up = t.state == super::status::TenantState::Running;
        gauge!("switchboard_tenant_up", "tenant" => tenant.clone()).set(if up { 1.0 } else { 0.0 });
        counter!("switchboard_tenant_restarts_total", "tenant" => tenant.clone())
            .absolute(t.restarts);
        gauge!("switchboard_tenant_inbox", "tenant" => tenant.clone()).set(t.inbox as f64);
        if let Some(r) = &t.rest {
            counter!("switchboard_rest_requests_total", "tenant" => tenant.clone())
                .absolute(r.requests);
            counter!("switchboard_rest_rate_limited_total", "tenant" => tenant.clone())
                .absolute(r.rate_limited);
            for (class, n) in &r.by_status {
                counter!("switchboard_rest_responses_total", "tenant" => tenant.clone(), "status" => class.clone())
                    .absolute(*n);
            }
            if let Some((used, threshold)) = r.invalid_budget {
                // One budget per process: every tenant reports the same figures.
                gauge!("switchboard_invalid_request_budget_used").set(used as f64);
                gauge!("switchboard_invalid_request_budget_threshold").set(threshold as f64);
            }
        }
        for sh in &t.shards {
            let shard = sh.id.to_string();
            counter!("switchboard_gateway_events_total", "tenant" => tenant.clone(), "shard" => shard.clone())
                .absolute(sh.events);
            counter!("switchboard_gateway_resumes_total", "tenant" => tenant.clone(), "shard" => shard.clone())
                .absolute(sh.resumes);
            if let Some(l) = sh.latency_ms {
                gauge!("switchboard_gateway_latency_seconds", "tenant" => tenant.clone(), "shard" => shard)
                    .set(l as f64 / 1000.0);
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
