//! What `/v1/cluster` returns and `switchboardctl status --cluster` shows: the live
//! nodes of the cluster and, per tenant, the node that holds it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cluster::NodeRecord;
use crate::model::now_ms;

/// The cluster as one node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// The node that answered.
    pub node: String,
    /// Live nodes, by id.
    pub nodes: Vec<NodeStatus>,
    /// Every tenant some node holds, with its holder.
    pub tenants: Vec<TenantPlacement>,
}

/// One live node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Its heartbeat record.
    #[serde(flatten)]
    pub record: NodeRecord,
    /// Milliseconds since its last heartbeat, as this node read it.
    pub heartbeat_age_ms: u64,
}

/// Which node holds a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantPlacement {
    /// `provider/tenant`.
    pub id: String,
    /// The holder's node id.
    pub holder: String,
}

impl ClusterStatus {
    /// The status built from `node`'s view `nodes`.
    #[must_use]
    pub fn new(node: &str, nodes: Vec<NodeRecord>) -> Self {
        let now = now_ms();
        let mut tenants = BTreeMap::new();
        for n in &nodes {
            for t in &n.held {
                tenants.insert(t.clone(), n.id.clone());
            }
        }
        Self {
            node: node.to_owned(),
            nodes: nodes
                .into_iter()
                .map(|record| NodeStatus {
                    heartbeat_age_ms: now.saturating_sub(record.heartbeat_ms),
                    record,
                })
                .collect(),
            tenants: tenants
                .into_iter()
                .map(|(id, holder)| TenantPlacement { id, holder })
                .collect(),
        }
    }
}
