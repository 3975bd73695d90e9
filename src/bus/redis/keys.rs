//! The Redis key layout of the bus.
//!
//! Every per-tenant key is `<prefix>:{<provider>:<tenant>}:<rest>`: one `SCAN` of
//! `<prefix>:{<provider>:<tenant>}:*` finds a tenant's data, and the braces are a Redis
//! Cluster hash tag, so all of a tenant's keys share a slot. (The bus as a whole needs
//! one Redis, not a cluster: the global keys below, and the scripts that ring `P:ring`
//! or settle a batch over many tenants' streams, span slots.)
//!
//! | key | type | what |
//! | --- | --- | --- |
//! | `P:{p:t}:inbox:<class>` | stream, group `workers` (+ `workers:<group>` per worker group) | the tenant's inbox, one per priority class; an entry with field `g` is for that consumer group only; field `n` marks a first publish |
//! | `P:{p:t}:rest` | stream, group `rest` | commands for the tenant's `RestActor` |
//! | `P:{p:t}:rest:limits` | hash, PX 7 d | the `RestActor`'s bucket memory for its next holder: `layout` (routes' buckets, limits, windows), `state` (exact, after a clean stop) |
//! | `P:{p:t}:retry` | sorted set | retries by due time (member `<class>\|<id>\|<attempt>`, with worker groups `…\|<consumer group>`) |
//! | `P:{p:t}:retry:data` | hash | member → encoded envelope |
//! | `P:retry:due` | sorted set | the retry doorbell: `<provider>/<tenant>\|<retry member>` by due time |
//! | `P:{p:t}:gateway:fence` | string | the newest gateway owner's fence (fenced publishes, session saves) |
//! | `P:{p:t}:done:<id>:<handler>` | string, PX 1 h | handler finished envelope (idempotency); `<group>/<handler>` outside the default group |
//! | `P:{p:t}:job:<schedule>:slot:<ms>` | string, PX | a fired slot's claim (its envelope id) |
//! | `P:{p:t}:job:<schedule>:last` | string | the schedule's last fired slot, ms |
//! | `P:tenants` | set | tenants that ever published (what the sweeps read) |
//! | `P:ring` | stream, MAXLEN ~100k | the work doorbell: each entry names inbox or request streams just written to (field `k`, and `k1`, `k2`, … for a batch) |
//! | `P:node:<node>:replies` | stream | responses addressed to a node |
//! | `P:dlq` | stream | dead letters of every tenant (field `group`: the worker group that gave up) |

use crate::model::{Priority, TenantId};

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

    fn tenant_base(&self, t: &TenantId) -> String {
        format!("{}:{{{}:{}}}", self.prefix, t.provider, t.tenant)
    }

    /// The newest gateway owner's fence (see [`fence_key`]).
    pub(crate) fn fence(&self, t: &TenantId) -> String {
        fence_key(&self.prefix, t)
    }

    pub(crate) fn inbox(&self, t: &TenantId, class: Priority) -> String {
        format!("{}:inbox:{}", self.tenant_base(t), class.as_str())
    }

    pub(crate) fn rest(&self, t: &TenantId) -> String {
        format!("{}:rest", self.tenant_base(t))
    }

    /// The tenant's REST bucket memory (`actors::rest::BucketMemory`).
    pub(crate) fn rest_limits(&self, t: &TenantId) -> String {
        format!("{}:rest:limits", self.tenant_base(t))
    }

    /// The retry doorbell: one member per scheduled retry, `<provider>/<tenant>|<retry
    /// member>`, scored by when it is due, so the mover reads only tenants with due
    /// work (one key for the whole bus).
    pub(crate) fn retry_due(&self) -> String {
        format!("{}:retry:due", self.prefix)
    }

    pub(crate) fn retry(&self, t: &TenantId) -> String {
        format!("{}:retry", self.tenant_base(t))
    }

    pub(crate) fn retry_data(&self, t: &TenantId) -> String {
        format!("{}:retry:data", self.tenant_base(t))
    }

    pub(crate) fn done(&self, t: &TenantId, id: &str, handler: &str) -> String {
        format!("{}:done:{id}:{handler}", self.tenant_base(t))
    }

    /// The claim of one slot of a tenant's schedule (`bus/jobs.rs`).
    pub(crate) fn job_slot(&self, t: &TenantId, schedule: &str, slot_ms: i64) -> String {
        format!("{}:job:{schedule}:slot:{slot_ms}", self.tenant_base(t))
    }

    /// The last fired slot of a tenant's schedule.
    pub(crate) fn job_last(&self, t: &TenantId, schedule: &str) -> String {
        format!("{}:job:{schedule}:last", self.tenant_base(t))
    }

    /// The tenant a per-tenant key (`P:{p:t}:...`) belongs to.
    pub(crate) fn tenant_of(&self, key: &str) -> Option<TenantId> {
        self.split(key).map(|(t, _)| t)
    }

    /// The tenant a per-tenant key belongs to, and what follows its tag
    /// (`inbox:message`, `rest`, …).
    pub(crate) fn split<'k>(&self, key: &'k str) -> Option<(TenantId, &'k str)> {
        let rest = key.strip_prefix(self.prefix.as_str())?.strip_prefix(":{")?;
        let (tag, after) = rest.split_once('}')?;
        let (provider, tenant) = tag.split_once(':')?;
        let t = TenantId::parse(provider, tenant).ok()?;
        Some((t, after.strip_prefix(':')?))
    }

    /// The work doorbell (`ring.rs`): one entry per write to an inbox or request
    /// stream, naming it.
    pub(crate) fn ring(&self) -> String {
        format!("{}:ring", self.prefix)
    }

    pub(crate) fn tenants(&self) -> String {
        format!("{}:tenants", self.prefix)
    }

    pub(crate) fn replies(&self, node: &str) -> String {
        format!("{}:node:{node}:replies", self.prefix)
    }

    pub(crate) fn dlq(&self) -> String {
        format!("{}:dlq", self.prefix)
    }
}

/// `<prefix>:{<provider>:<tenant>}:gateway:fence`: the fence of the newest owner of
/// the tenant's gateway lease that wrote. Every fenced write (inbox publishes,
/// gateway session saves) is refused when its fence is older.
#[must_use]
pub fn fence_key(prefix: &str, t: &TenantId) -> String {
    format!("{prefix}:{{{}:{}}}:gateway:fence", t.provider, t.tenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_keys_share_a_hash_tag() {
        let k = Keys::new("sb");
        let t = TenantId::parse("discord", "duck").unwrap();
        assert_eq!(
            k.inbox(&t, Priority::Message),
            "sb:{discord:duck}:inbox:message"
        );
        assert_eq!(k.rest(&t), "sb:{discord:duck}:rest");
        assert_eq!(k.retry(&t), "sb:{discord:duck}:retry");
        assert_eq!(k.done(&t, "01J", "ping"), "sb:{discord:duck}:done:01J:ping");
        assert_eq!(k.replies("node-a"), "sb:node:node-a:replies");
        assert_eq!(
            k.tenant_of(&k.inbox(&t, Priority::Message)),
            Some(t.clone())
        );
        assert_eq!(k.split(&k.rest(&t)), Some((t.clone(), "rest")));
        for c in Priority::ALL {
            let key = k.inbox(&t, c);
            let (owner, rest) = k.split(&key).unwrap();
            assert_eq!(owner, t);
            assert_eq!(rest.strip_prefix("inbox:"), Some(c.as_str()));
        }
        assert_eq!(k.tenant_of(&k.rest(&t)), Some(t));
        assert_eq!(k.tenant_of(&k.dlq()), None);
        assert_eq!(k.tenant_of("other:{discord:duck}:rest"), None);
    }
}
