//! Every metric the runtime exports: its name, kind and HELP text, in one table.
//!
//! Names follow Prometheus conventions: a `switchboard_` prefix, counters end in
//! `_total`, durations are histograms in seconds (`_seconds`), and nothing that only
//! grows is a gauge. Labels and their cardinality:
//!
//! | label | values | cardinality |
//! |---|---|---|
//! | `tenant` | `provider/tenant` | one per configured tenant |
//! | `shard` | shard id | shards per tenant (1 below 2,500 guilds) |
//! | `handler` | handler name | handlers configured (built-in + embedded) |
//! | `group` | worker group name (`default`, `runtime.groups`) | groups configured |
//! | `route` | REST route (`post_message`, …) | ~20, fixed |
//! | `status` | HTTP status class (`2xx`, `4xx`, `429`, `5xx`) | 4 per tenant |
//! | `backend` | `memory`, `redis` | 1 |
//! | `schedule` | schedule name | schedules per tenant |
//! | `kind`, `reason` | interaction deferral kind, failure reason | fixed small sets |
//! | `event`, `write` | audit events, fenced writes | fixed small sets |
//! | `result` | http.fetch outcome | 7, fixed |

/// What kind of metric a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Only grows (`_total`).
    Counter,
    /// Goes up and down.
    Gauge,
    /// A distribution with buckets (`_seconds`).
    Histogram,
}

/// `(name, kind, help)` of every metric.
pub(crate) const METRICS: &[(&str, Kind, &str)] = &[
    // Bus.
    (
        "switchboard_bus_published_total",
        Kind::Counter,
        "Envelopes published to tenant inboxes.",
    ),
    (
        "switchboard_bus_acked_total",
        Kind::Counter,
        "Deliveries acknowledged after their handlers ran.",
    ),
    (
        "switchboard_bus_retried_total",
        Kind::Counter,
        "Deliveries scheduled for another attempt.",
    ),
    (
        "switchboard_bus_dead_lettered_total",
        Kind::Counter,
        "Envelopes moved to the dead-letter queue.",
    ),
    (
        "switchboard_bus_decode_errors_total",
        Kind::Counter,
        "Stream entries that could not be decoded (dead-lettered raw).",
    ),
    (
        "switchboard_bus_claimed_total",
        Kind::Counter,
        "Entries claimed from a dead consumer (XAUTOCLAIM).",
    ),
    (
        "switchboard_bus_groups_recreated_total",
        Kind::Counter,
        "Consumer groups recreated after Redis lost them.",
    ),
    (
        "switchboard_bus_orphan_responses_total",
        Kind::Counter,
        "Command responses whose requester was gone.",
    ),
    (
        "switchboard_bus_broken_holds_total",
        Kind::Counter,
        "Commands held by their cause and dropped unanswered (the cause stays unacknowledged).",
    ),
    (
        "switchboard_bus_dead_letters_evicted_total",
        Kind::Counter,
        "In-process dead letters dropped to keep the cap.",
    ),
    (
        "switchboard_bus_waiting",
        Kind::Gauge,
        "Deliveries queued on this node, not yet handed to a worker.",
    ),
    (
        "switchboard_bus_in_flight",
        Kind::Gauge,
        "Deliveries being handled on this node.",
    ),
    (
        "switchboard_bus_lag",
        Kind::Gauge,
        "Entries in a tenant's inbox not yet read by the worker group.",
    ),
    (
        "switchboard_bus_pending",
        Kind::Gauge,
        "Entries of a tenant's inbox read but not yet acknowledged.",
    ),
    (
        "switchboard_bus_dead_letter_depth",
        Kind::Gauge,
        "Entries in the dead-letter queue.",
    ),
    // Worker groups (set from the status tree when `runtime.groups` is used).
    (
        "switchboard_group_lag",
        Kind::Gauge,
        "Inbox entries not yet read by a worker group, all tenants.",
    ),
    (
        "switchboard_group_pending",
        Kind::Gauge,
        "Inbox entries a worker group read but has not settled, all tenants.",
    ),
    (
        "switchboard_group_workers",
        Kind::Gauge,
        "Workers a worker group runs on this node.",
    ),
    (
        "switchboard_group_workers_busy",
        Kind::Gauge,
        "Workers of a worker group handling an event now.",
    ),
    (
        "switchboard_group_acked_total",
        Kind::Counter,
        "Deliveries of a worker group acknowledged on this node.",
    ),
    (
        "switchboard_group_retried_total",
        Kind::Counter,
        "Deliveries of a worker group scheduled for a retry on this node.",
    ),
    (
        "switchboard_group_dead_lettered_total",
        Kind::Counter,
        "Deliveries of a worker group dead-lettered on this node.",
    ),
    // Workers and handlers.
    (
        "switchboard_handler_seconds",
        Kind::Histogram,
        "Time a handler took for one event.",
    ),
    (
        "switchboard_ingest_to_handler_seconds",
        Kind::Histogram,
        "Time from an event's arrival at the gateway to the start of its first handling.",
    ),
    (
        "switchboard_workers_busy",
        Kind::Gauge,
        "Workers handling an event now.",
    ),
    (
        "switchboard_worker_restarts_total",
        Kind::Counter,
        "Worker actors restarted by the pool.",
    ),
    (
        "switchboard_worker_unknown_tenant_total",
        Kind::Counter,
        "Deliveries for a tenant this node does not know (dead-lettered).",
    ),
    (
        "switchboard_worker_quarantined_total",
        Kind::Counter,
        "Deliveries refused because their tenant is quarantined.",
    ),
    (
        "switchboard_tenant_handler_panics_total",
        Kind::Counter,
        "Handler panics charged to a tenant.",
    ),
    (
        "switchboard_tenant_quarantined_total",
        Kind::Counter,
        "Tenants quarantined after too many handler panics.",
    ),
    // Tenants and supervision.
    (
        "switchboard_tenant_up",
        Kind::Gauge,
        "1 while a tenant runs on this node.",
    ),
    (
        "switchboard_tenant_inbox",
        Kind::Gauge,
        "Events waiting in a tenant's inbox.",
    ),
    (
        "switchboard_tenant_restarts_total",
        Kind::Counter,
        "Restarts of a tenant's actors.",
    ),
    (
        "switchboard_tenant_failures_total",
        Kind::Counter,
        "Tenants that failed past their restart budget.",
    ),
    (
        "switchboard_tenant_standby_total",
        Kind::Counter,
        "Times a tenant went to standby (another node holds it).",
    ),
    (
        "switchboard_tenant_handoffs_total",
        Kind::Counter,
        "Tenants taken over from another node.",
    ),
    (
        "switchboard_actor_restarts_total",
        Kind::Counter,
        "Actors restarted by a supervisor.",
    ),
    (
        "switchboard_cluster_heartbeat_errors_total",
        Kind::Counter,
        "Node heartbeats that could not be written.",
    ),
    // Scheduled jobs.
    (
        "switchboard_jobs_fired_total",
        Kind::Counter,
        "Slots of a schedule this node fired.",
    ),
    (
        "switchboard_jobs_fired_elsewhere_total",
        Kind::Counter,
        "Slots of a schedule another node claimed first.",
    ),
    (
        "switchboard_jobs_skipped_total",
        Kind::Counter,
        "Slots of a schedule skipped (missed while no node ran, or given up).",
    ),
    (
        "switchboard_job_next_run_timestamp_seconds",
        Kind::Gauge,
        "When a schedule fires next, Unix seconds.",
    ),
    (
        "switchboard_job_last_run_timestamp_seconds",
        Kind::Gauge,
        "When a schedule last fired, Unix seconds.",
    ),
    // Gateway.
    (
        "switchboard_gateway_events_total",
        Kind::Counter,
        "Gateway dispatch events received by a shard.",
    ),
    (
        "switchboard_gateway_resumes_total",
        Kind::Counter,
        "Gateway sessions resumed by a shard.",
    ),
    (
        "switchboard_gateway_latency_seconds",
        Kind::Gauge,
        "A shard's last heartbeat round trip.",
    ),
    (
        "switchboard_gateway_fenced_writes_total",
        Kind::Counter,
        "Gateway writes refused because another node holds the lease.",
    ),
    // REST.
    (
        "switchboard_rest_request_seconds",
        Kind::Histogram,
        "Time a REST call took, rate-limit waits and retries included.",
    ),
    (
        "switchboard_rest_requests_total",
        Kind::Counter,
        "REST requests sent to the provider.",
    ),
    (
        "switchboard_rest_rate_limited_total",
        Kind::Counter,
        "REST responses with status 429.",
    ),
    (
        "switchboard_rest_responses_total",
        Kind::Counter,
        "REST responses by status class.",
    ),
    (
        "switchboard_invalid_request_budget_used",
        Kind::Gauge,
        "Invalid requests (401/403/429) in the current 10-minute window.",
    ),
    (
        "switchboard_invalid_request_budget_threshold",
        Kind::Gauge,
        "Invalid requests allowed per window before calls are refused.",
    ),
    (
        "switchboard_interaction_token_share_errors_total",
        Kind::Counter,
        "Interaction tokens that could not be shared with the REST actor.",
    ),
    (
        "switchboard_interaction_deferrals_total",
        Kind::Counter,
        "Interactions the access layer deferred because the handler had not answered in time.",
    ),
    (
        "switchboard_interaction_late_answers_total",
        Kind::Counter,
        "Handler answers that arrived after a deferral (sent as an edit or a followup).",
    ),
    (
        "switchboard_interaction_failures_total",
        Kind::Counter,
        "Interactions answered with the error message (handler failed, no answer, dead-lettered).",
    ),
    // The store's `backfill` handler (`store/indexer/backfill/`).
    (
        "switchboard_backfill_skipped_total",
        Kind::Counter,
        "Backfill jobs acked without paging because another run holds the channel's lease.",
    ),
    (
        "switchboard_backfill_failed_total",
        Kind::Counter,
        "Backfill runs that failed on their last delivery (recorded in the channel's cursor).",
    ),
    // Effects: http.fetch (`Ctx::fetch`) and embeddings (`embed::OpenAiEmbedder`).
    (
        "switchboard_fetch_total",
        Kind::Counter,
        "http.fetch calls by result (ok, too_large, timeout, status, error, refused, cancelled).",
    ),
    (
        "switchboard_fetch_bytes_total",
        Kind::Counter,
        "Body bytes downloaded by successful http.fetch calls.",
    ),
    (
        "switchboard_fetch_duration_seconds",
        Kind::Histogram,
        "Duration of http.fetch calls, whatever their result.",
    ),
    (
        "switchboard_embed_requests_total",
        Kind::Counter,
        "Requests to the embeddings service per tenant, by status class (2xx, 4xx, 429, 5xx, error).",
    ),
    (
        "switchboard_embed_retries_total",
        Kind::Counter,
        "Embeddings requests retried after a 429, 5xx or connection failure, per tenant.",
    ),
    (
        "switchboard_embed_texts_total",
        Kind::Counter,
        "Texts embedded per tenant.",
    ),
    // Vault.
    (
        "switchboard_vault_leases",
        Kind::Gauge,
        "Credential leases held.",
    ),
    (
        "switchboard_vault_backend_up",
        Kind::Gauge,
        "1 while the vault backend answers.",
    ),
    (
        "switchboard_vault_failures_total",
        Kind::Counter,
        "Vault actor failures.",
    ),
    (
        "switchboard_vault_publish_errors_total",
        Kind::Counter,
        "Credentials that could not be published to the vault.",
    ),
    (
        "switchboard_vault_audit_total",
        Kind::Counter,
        "Vault audit events by kind.",
    ),
    (
        "switchboard_vault_audit_dropped_total",
        Kind::Counter,
        "Vault audit events dropped (stream unavailable).",
    ),
    (
        "switchboard_vault_leases_restored_total",
        Kind::Counter,
        "Leases restored from Redis after a restart.",
    ),
    (
        "switchboard_vault_secrets_republished_total",
        Kind::Counter,
        "Secrets republished after Redis lost them.",
    ),
    (
        "switchboard_vault_renewal_batches_total",
        Kind::Counter,
        "Batched lease renewals sent.",
    ),
];

/// Histogram buckets, seconds: 0.5 ms to 30 s, about three per decade.
pub(crate) const BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Registers the HELP text of every metric with the installed recorder.
pub(crate) fn describe_all() {
    for &(name, kind, help) in METRICS {
        match kind {
            Kind::Counter => metrics::describe_counter!(name, help),
            Kind::Gauge => metrics::describe_gauge!(name, help),
            Kind::Histogram => metrics::describe_histogram!(name, help),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let mut seen = std::collections::HashSet::new();
        for &(name, kind, help) in METRICS {
            assert!(seen.insert(name), "{name} listed twice");
            assert!(name.starts_with("switchboard_"), "{name}");
            assert!(!help.is_empty(), "{name} has no HELP");
            match kind {
                Kind::Counter => assert!(name.ends_with("_total"), "counter {name}"),
                Kind::Gauge => assert!(
                    !name.ends_with("_total") && !name.ends_with("_ms"),
                    "gauge {name}"
                ),
                Kind::Histogram => assert!(name.ends_with("_seconds"), "histogram {name}"),
            }
        }
    }

    #[test]
    fn the_dashboard_uses_only_exported_metrics() {
        let dashboard = include_str!("../../../deploy/grafana-dashboard.json");
        let mut used = 0;
        for (i, _) in dashboard.match_indices("switchboard_") {
            let name: String = dashboard[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let family = name.strip_suffix("_bucket").unwrap_or(&name);
            assert!(
                METRICS.iter().any(|(n, _, _)| *n == family),
                "the dashboard uses {name}, which is not exported"
            );
            used += 1;
        }
        assert!(used > 10, "the dashboard queries the metrics");
    }

    #[test]
    fn every_metric_the_code_records_is_listed() {
        fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && let Ok(text) = std::fs::read_to_string(&path)
                {
                    for (i, _) in text.match_indices("\"switchboard_") {
                        let name: String = text[i + 1..]
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        // Longer than the bare prefix (this test's own pattern).
                        if name.len() > "switchboard_".len() {
                            out.push(name);
                        }
                    }
                }
            }
        }
        let mut used = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut used,
        );
        assert!(used.len() > 40, "the walk finds the metrics");
        for name in used {
            assert!(
                METRICS.iter().any(|(n, _, _)| *n == name),
                "{name} is recorded but not listed in METRICS (no HELP, no kind)"
            );
        }
    }
}
