//! A node's heartbeat record and the Redis keys of the cluster registry.
//!
//! | key | type | what |
//! | --- | --- | --- |
//! | `<prefix>:cluster:nodes` | set | ids of nodes that have heartbeated |
//! | `<prefix>:cluster:node:<id>` | string, PX node TTL | the node's [`NodeRecord`] (JSON) |
//! | `<prefix>:cluster:released` | pub/sub channel | `<provider>/<tenant>` whose gateway lease was just released |
//!
//! A node that stops heartbeating disappears when its record's TTL runs out; the
//! next node to read the set removes its id.

use serde::{Deserialize, Serialize};

/// What a node tells the others about itself, every heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Node id (`--node-id`).
    pub id: String,
    /// `all`, `access` or `worker`.
    pub role: String,
    /// Its admin API (`http://host:port`), when it runs one.
    #[serde(default)]
    pub admin: Option<String>,
    /// The switchboard version it runs.
    pub version: String,
    /// When it started, Unix milliseconds.
    pub started_ms: u64,
    /// When it wrote this record, Unix milliseconds.
    pub heartbeat_ms: u64,
    /// Tenants whose gateway it holds (`provider/tenant`), sorted.
    #[serde(default)]
    pub held: Vec<String>,
    /// Tenants it keeps on standby.
    #[serde(default)]
    pub standby: usize,
}

impl NodeRecord {
    /// Whether the node can hold tenants (runs the access layer).
    #[must_use]
    pub fn runs_access(&self) -> bool {
        self.role != "worker"
    }
}

/// The cluster registry's key names.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(crate) fn nodes(&self) -> String {
        format!("{}:cluster:nodes", self.prefix)
    }

    pub(crate) fn node(&self, id: &str) -> String {
        format!("{}:cluster:node:{id}", self.prefix)
    }

    pub(crate) fn released(&self) -> String {
        format!("{}:cluster:released", self.prefix)
    }
}
