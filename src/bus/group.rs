//! Worker groups: several independent consumers of every tenant's inbox.
//!
//! A bus has one or more **worker groups**. The first is always the default group
//! ([`DEFAULT_GROUP`], the bot handlers' pool); `runtime.groups` adds others (an
//! indexer, say). Every group sees every inbox envelope once, independently:
//!
//! - **In process** a publish puts the envelope into each consumed group's own fair
//!   scheduler; acks, retries and dead letters are per delivery, and a delivery
//!   belongs to one group ([`Delivery::group`](super::Delivery)), so a retry goes back
//!   to its group's scheduler only.
//! - **On Redis** each group is a consumer group on every inbox stream (the default
//!   group keeps the name `workers`, the others are `workers:<name>`). Each group has
//!   its own fetcher, scheduler and in-flight caps; a retry or a replayed dead letter
//!   is a new entry carrying the field `g` (the consumer group it is for), which the
//!   other groups acknowledge without running it. With more than one group an ack
//!   deletes an entry only once no other group still needs it (`ACK_DEL`, Lua).
//!
//! The set of groups is cluster-wide configuration: every node on one Redis must
//! list the same `runtime.groups` (a node creates the consumer groups of all of them,
//! whichever it runs), so that acks never delete what another group has not read.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use super::delivery::Delivery;
use super::scheduler::{Scheduler, SchedulerConfig, SchedulerStats};

/// The default worker group's name (the pool of `runtime.workers`, serving the
/// tenants' own handlers). On Redis its consumer group is `workers`.
pub const DEFAULT_GROUP: &str = "default";

/// The Redis consumer group of the default worker group.
const DEFAULT_CONSUMER: &str = "workers";

/// A worker group of a bus, by position ([`Bus::group`](super::Bus::group) finds it
/// by name). The default group is `GroupId::default()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct GroupId(pub(crate) usize);

/// The Redis consumer group of worker group `name` on the inbox streams.
#[must_use]
pub fn consumer_group(name: &str) -> Cow<'static, str> {
    if name == DEFAULT_GROUP {
        Cow::Borrowed(DEFAULT_CONSUMER)
    } else {
        Cow::Owned(format!("{DEFAULT_CONSUMER}:{name}"))
    }
}

/// What a group's deliveries came to on this node.
#[derive(Default)]
pub(crate) struct GroupCounters {
    pub(crate) acked: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
}

/// One worker group on this node: its name, its consumer group, its scheduler.
pub(crate) struct Group {
    pub(crate) name: Arc<str>,
    /// The Redis consumer group on inbox streams.
    pub(crate) consumer: Cow<'static, str>,
    /// Whether this node takes this group's deliveries (else its scheduler stays
    /// empty: in process nothing is queued for it, on Redis nothing is fetched).
    pub(crate) consumed: bool,
    pub(crate) scheduler: Scheduler<Box<Delivery>>,
    pub(crate) counters: GroupCounters,
}

/// The groups of a bus configuration, default first: `extra` names (deduplicated,
/// in order, the default's name skipped) and, when `only` is set, only those
/// consumed.
pub(crate) fn groups(
    extra: &[String],
    only: Option<&[String]>,
    consume: bool,
    scheduler: SchedulerConfig,
) -> Vec<Group> {
    let mut names: Vec<&str> = vec![DEFAULT_GROUP];
    for n in extra {
        if !names.contains(&n.as_str()) {
            names.push(n);
        }
    }
    names
        .into_iter()
        .map(|name| Group {
            name: Arc::from(name),
            consumer: consumer_group(name),
            consumed: consume && only.is_none_or(|o| o.iter().any(|g| g == name)),
            scheduler: Scheduler::new(scheduler),
            counters: GroupCounters::default(),
        })
        .collect()
}

/// One worker group's figures on this node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// The group's name.
    pub name: String,
    /// Whether this node takes the group's deliveries.
    pub consumed: bool,
    /// Deliveries acknowledged after handling.
    pub acked: u64,
    /// Deliveries scheduled for a retry (in this group only).
    pub retried: u64,
    /// Deliveries dead-lettered by this group.
    pub dead_lettered: u64,
    /// The group's scheduler.
    pub scheduler: SchedulerStats,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_group_keeps_the_workers_consumer_group() {
        assert_eq!(consumer_group(DEFAULT_GROUP), "workers");
        assert_eq!(consumer_group("indexer"), "workers:indexer");
        let gs = groups(
            &["indexer".into(), "default".into(), "indexer".into()],
            Some(&["indexer".into()]),
            true,
            SchedulerConfig::default(),
        );
        let names: Vec<&str> = gs.iter().map(|g| &*g.name).collect();
        assert_eq!(names, ["default", "indexer"]);
        assert!(!gs[0].consumed && gs[1].consumed);
    }
}
