//! How far behind the workers are: per tenant, the envelopes not yet handed to a
//! worker (*lag*) and those handed out but not yet settled (*pending*), plus the
//! dead-letter queue's depth. Read at scrape time for `/metrics` and `/v1/status`.
//!
//! On Redis the figures come from one pipelined round trip: per inbox stream of each
//! tenant this node knows, `XINFO GROUPS` (the `workers` group's `lag` and `pending`)
//! and `XLEN`, then `XLEN` of the dead-letter stream. Redis 7 answers `lag` as nil when
//! deleted entries make its counter unreliable (and Redis 6 has no `lag` at all); the
//! backlog then falls back to `XLEN − pending`, which is exact here because an ack
//! deletes its entry: what is left in a stream is either pending or not yet delivered.
//!
//! In process the scheduler is the inbox: lag is what waits in it, pending what
//! workers hold.
//!
//! Each worker group has its own backlog (`BusBacklog::groups`; `tenants` is the
//! default group's). With several groups, entries one group acked stay in the
//! stream until every group is done with them, so the `XLEN − pending` fallback
//! over-counts a fast group's lag while Redis cannot tell `lag`.

use fred::prelude::*;

use super::error::BusError;
use super::redis::RedisBackend;
use super::{Backend, Bus};
use crate::model::{Priority, TenantId};

/// One tenant's backlog, summed over its priority classes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantBacklog {
    /// The tenant.
    pub tenant: TenantId,
    /// Envelopes in its inbox not yet delivered to any worker (Redis: not yet read
    /// by the consumer group).
    pub lag: u64,
    /// Envelopes delivered and not yet acked, retried or dead-lettered.
    pub pending: u64,
}

/// The bus's backlog: per tenant, and the dead-letter queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusBacklog {
    /// Every tenant the bus knows, in tenant order (the default worker group).
    pub tenants: Vec<TenantBacklog>,
    /// Dead letters kept (all tenants, all groups).
    pub dead_letters: u64,
    /// Every worker group's backlog, the default first.
    pub groups: Vec<GroupBacklog>,
}

/// One worker group's backlog, per tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupBacklog {
    /// The group's name.
    pub group: String,
    /// Every tenant the bus knows, in tenant order.
    pub tenants: Vec<TenantBacklog>,
}

impl GroupBacklog {
    /// Envelopes not yet handed to this group, all tenants.
    #[must_use]
    pub fn lag(&self) -> u64 {
        self.tenants.iter().map(|t| t.lag).sum()
    }

    /// Envelopes this group holds unsettled, all tenants.
    #[must_use]
    pub fn pending(&self) -> u64 {
        self.tenants.iter().map(|t| t.pending).sum()
    }
}

impl BusBacklog {
    /// The backlog of one tenant, if the bus knows it.
    #[cfg(feature = "internals")]
    #[must_use]
    pub fn tenant(&self, tenant: &TenantId) -> Option<&TenantBacklog> {
        self.tenants.iter().find(|t| &t.tenant == tenant)
    }
}

impl Bus {
    /// Per tenant, the envelopes waiting for a worker (lag) and held by one
    /// (pending), and the dead-letter queue's depth. On Redis, one pipelined round
    /// trip covering every tenant this node has registered or published for.
    ///
    /// # Errors
    /// [`BusError::Redis`] if Redis cannot be read.
    pub async fn backlog(&self) -> Result<BusBacklog, BusError> {
        let mut out = match &self.inner.backend {
            Backend::Memory(m) => BusBacklog {
                groups: self
                    .inner
                    .groups
                    .iter()
                    .map(|g| GroupBacklog {
                        group: g.name.to_string(),
                        tenants: g
                            .scheduler
                            .per_tenant()
                            .into_iter()
                            .map(|(tenant, waiting, in_flight)| TenantBacklog {
                                tenant,
                                lag: waiting as u64,
                                pending: in_flight as u64,
                            })
                            .collect(),
                    })
                    .collect(),
                dead_letters: m.dead_len() as u64,
                tenants: Vec::new(),
            },
            Backend::Redis(r) => redis_backlog(r, &self.group_names()).await?,
        };
        out.tenants = out
            .groups
            .first()
            .map(|g| g.tenants.clone())
            .unwrap_or_default();
        Ok(out)
    }
}

async fn redis_backlog(r: &RedisBackend, names: &[String]) -> Result<BusBacklog, BusError> {
    let mut tenants: Vec<TenantId> = r.known.iter().map(|e| e.key().clone()).collect();
    tenants.sort();
    let p = r.client.pipeline();
    for t in &tenants {
        for class in Priority::ALL {
            let key = r.keys.inbox(t, class);
            let _: Value = p.xinfo_groups(key.as_str()).await?;
            let _: Value = p.xlen(key.as_str()).await?;
        }
    }
    let _: Value = p.xlen(r.keys.dlq()).await?;
    let mut replies = p.try_all::<Value>().await.into_iter();
    let mut next = || -> Result<Value, BusError> {
        match replies.next() {
            Some(Ok(v)) => Ok(v),
            // The stream does not exist (yet): nothing in it.
            Some(Err(e)) if e.details().contains("no such key") => Ok(Value::Null),
            Some(Err(e)) => Err(e.into()),
            None => Err(BusError::Redis(fred::error::Error::new(
                fred::error::ErrorKind::Protocol,
                "the backlog pipeline answered too few replies",
            ))),
        }
    };
    let mut out = BusBacklog {
        groups: names
            .iter()
            .map(|n| GroupBacklog {
                group: n.clone(),
                tenants: Vec::with_capacity(tenants.len()),
            })
            .collect(),
        ..BusBacklog::default()
    };
    for tenant in tenants {
        let mut backlogs: Vec<TenantBacklog> = names
            .iter()
            .map(|_| TenantBacklog {
                tenant: tenant.clone(),
                lag: 0,
                pending: 0,
            })
            .collect();
        for _ in Priority::ALL {
            let groups = next()?;
            let len = next()?.as_u64().unwrap_or(0);
            for (backlog, name) in backlogs.iter_mut().zip(names) {
                let consumer = super::consumer_group(name);
                let (lag, pending) = group_backlog(groups.clone(), &consumer, len);
                backlog.lag += lag;
                backlog.pending += pending;
            }
        }
        for (g, backlog) in out.groups.iter_mut().zip(backlogs) {
            g.tenants.push(backlog);
        }
    }
    out.dead_letters = next()?.as_u64().unwrap_or(0);
    Ok(out)
}

/// `group`'s (lag, pending) from an `XINFO GROUPS` reply (RESP2 flat pairs or RESP3
/// maps) on a stream of `len` entries. No such group: everything is lag.
fn group_backlog(reply: Value, group: &str, len: u64) -> (u64, u64) {
    let Value::Array(groups) = reply else {
        return (len, 0);
    };
    for g in groups {
        let Ok(map) = g.into_map() else { continue };
        let (mut name, mut lag, mut pending) = (None, None, 0);
        for (k, v) in map.inner() {
            match k.as_str() {
                Some("name") => name = v.as_string(),
                Some("pending") => pending = v.as_u64().unwrap_or(0),
                // Nil when Redis cannot tell; checked explicitly so a nil never
                // reads as zero.
                Some("lag") if !v.is_null() => lag = v.as_u64(),
                _ => {}
            }
        }
        if name.as_deref() == Some(group) {
            return (lag.unwrap_or_else(|| len.saturating_sub(pending)), pending);
        }
    }
    (len, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str, pending: i64, lag: Value) -> Value {
        Value::Array(vec![
            "name".into(),
            name.into(),
            "consumers".into(),
            Value::Integer(1),
            "pending".into(),
            Value::Integer(pending),
            "last-delivered-id".into(),
            "1-0".into(),
            "entries-read".into(),
            Value::Null,
            "lag".into(),
            lag,
        ])
    }

    #[test]
    fn reads_lag_and_pending_of_the_named_group() {
        let reply = Value::Array(vec![
            group("other", 9, Value::Integer(9)),
            group("workers", 2, Value::Integer(5)),
        ]);
        assert_eq!(group_backlog(reply, "workers", 7), (5, 2));
    }

    #[test]
    fn a_nil_lag_falls_back_to_length_minus_pending() {
        let reply = Value::Array(vec![group("workers", 3, Value::Null)]);
        assert_eq!(group_backlog(reply, "workers", 10), (7, 3));
    }

    #[test]
    fn no_group_or_no_stream_counts_everything_as_lag() {
        assert_eq!(group_backlog(Value::Array(vec![]), "workers", 4), (4, 0));
        assert_eq!(group_backlog(Value::Null, "workers", 0), (0, 0));
    }
}
