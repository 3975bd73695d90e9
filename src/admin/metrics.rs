//! The process's Prometheus recorder. `metrics` macros anywhere in the crate record
//! into it; `/metrics` renders it. One per process (a second runtime in the same
//! process shares it).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder on first use; `None` if another recorder was installed by
/// the embedding application (then `/metrics` says so).
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(error = %e, "a metrics recorder is already installed; /metrics is empty");
                None
            }
        })
        .as_ref()
}
