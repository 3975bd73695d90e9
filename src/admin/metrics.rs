//! The process's Prometheus recorder. `metrics` macros anywhere in the crate record
//! into it; `/metrics` renders it. One per process (a second runtime in the same
//! process shares it).

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
