//! The fair scheduler between the bus and the workers, shared by both backends.
//!
//! Deliveries wait here, per priority class and per tenant, until a worker asks for
//! one. A worker always gets work of the most urgent class that has any; within a class
//! tenants are served by **deficit round-robin** (each visit grants a tenant its
//! quantum of deliveries), so one tenant's flood cannot starve another. A tenant at its
//! in-flight cap is skipped, not waited on: fairness is decided before dispatch, so a
//! capped tenant never blocks the tenants behind it.
//!
//! Each tenant's queue is bounded; [`Scheduler::push`] waits for room, which is how
//! backpressure reaches a tenant's publisher without slowing anyone else.
//!
//! The hot path is one lock per push (per chunk, for a batch) and one per pop; the
//! in-flight slot a pop hands out is a [`Ticket`] released without the lock when it
//! is dropped, so a delivery that is lost or unwinds can never leak its tenant's
//! capacity. Tenants are interned into slots on first sight, so taking the next
//! delivery hashes nothing. Wake-ups go only to whoever can act on them: a pusher only
//! when a full queue gets room, a worker on release only when the tenant was capped.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::model::{Priority, TenantId};

/// How the scheduler shares workers.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerConfig {
    /// Deliveries of one tenant being handled at once, across classes.
    pub max_in_flight_per_tenant: usize,
    /// Deliveries one tenant may have waiting per class before `push` waits.
    pub queue_bound_per_tenant: usize,
    /// Deliveries granted per round-robin visit.
    pub quantum: u32,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            max_in_flight_per_tenant: 4,
            queue_bound_per_tenant: 1024,
            quantum: 1,
        }
    }
}

const CLASSES: usize = 5;

/// Most items a batched push enqueues per lock, so workers are never kept waiting
/// behind a long batch.
const PUSH_CHUNK: usize = 64;

/// What a released [`Ticket`] needs: the scheduler-wide half of the in-flight count
/// and the workers' wake-up.
struct Release {
    cap: usize,
    in_flight: AtomicUsize,
    work: Notify,
}

/// One tenant's in-flight count, shared with the tickets it handed out.
struct InFlight {
    count: AtomicUsize,
    release: Arc<Release>,
}

/// A tenant's in-flight slot, held by one delivery from pop until it is acked,
/// failed or dropped. Dropping it releases the slot (and wakes a worker if the tenant
/// was at its cap).
pub(crate) struct Ticket(Arc<InFlight>);

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Ticket")
            .field(&self.0.count.load(Ordering::Relaxed))
            .finish()
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let release = &self.0.release;
        let before = self.0.count.fetch_sub(1, Ordering::AcqRel);
        release.in_flight.fetch_sub(1, Ordering::Relaxed);
        if before >= release.cap {
            // The tenant is eligible again: wake a worker for its waiting items.
            release.work.notify_one();
        }
    }
}

/// One tenant's queues and counters. Slots are never freed: their number is bounded
/// by the tenants this node serves (unknown tenants are dead-lettered upstream of any
/// flood, and an idle slot costs a few empty deques).
struct Slot<T> {
    id: TenantId,
    queues: [VecDeque<T>; CLASSES],
    deficit: [u32; CLASSES],
    in_flight: Arc<InFlight>,
}

struct State<T> {
    /// Tenant → slot. `foldhash` rather than `SipHash`: the key is ours (never
    /// attacker-chosen beyond configured tenant names) and this lookup is on every push.
    index: HashMap<TenantId, usize, foldhash::fast::RandomState>,
    slots: Vec<Slot<T>>,
    /// Per class, the slots with waiting items, in service order.
    rings: [VecDeque<usize>; CLASSES],
    waiting: usize,
    closed: bool,
    release: Arc<Release>,
}

impl<T> State<T> {
    fn slot(&mut self, tenant: &TenantId) -> usize {
        if let Some(&i) = self.index.get(tenant) {
            return i;
        }
        let i = self.slots.len();
        self.slots.push(Slot {
            id: tenant.clone(),
            queues: Default::default(),
            deficit: [0; CLASSES],
            in_flight: Arc::new(InFlight {
                count: AtomicUsize::new(0),
                release: self.release.clone(),
            }),
        });
        self.index.insert(tenant.clone(), i);
        i
    }

    fn enqueue(&mut self, slot: usize, class: usize, item: T) {
        let q = &mut self.slots[slot].queues[class];
        if q.is_empty() {
            self.rings[class].push_back(slot);
        }
        q.push_back(item);
        self.waiting += 1;
    }
}

/// What one attempt to enqueue did.
enum Push<T> {
    Added,
    Full(T),
    Closed(T),
}

/// A fair, bounded, priority-aware queue of `T` keyed by tenant.
pub(crate) struct Scheduler<T> {
    config: SchedulerConfig,
    state: Mutex<State<T>>,
    /// In-flight counts and the workers' wake-up (signalled when work arrives or a
    /// capped tenant's in-flight count drops).
    release: Arc<Release>,
    /// Signalled when a full tenant queue has room again.
    room: Notify,
}

/// The scheduler's counters, for status and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchedulerStats {
    /// Deliveries waiting, all tenants.
    pub waiting: usize,
    /// Deliveries being handled, all tenants.
    pub in_flight: usize,
    /// Waiting deliveries per tenant (`provider/tenant`).
    pub waiting_by_tenant: Vec<(String, usize)>,
}

impl<T> Scheduler<T> {
    pub(crate) fn new(config: SchedulerConfig) -> Self {
        let release = Arc::new(Release {
            cap: config.max_in_flight_per_tenant,
            in_flight: AtomicUsize::new(0),
            work: Notify::new(),
        });
        Self {
            config,
            state: Mutex::new(State {
                index: HashMap::default(),
                slots: Vec::new(),
                rings: Default::default(),
                waiting: 0,
                closed: false,
                release: release.clone(),
            }),
            release,
            room: Notify::new(),
        }
    }

    fn work(&self) -> &Notify {
        &self.release.work
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        // A panic while holding this lock can only come from a bug in this file; the
        // state is still consistent (every mutation is a single step), so carry on.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many items `tenant` has waiting in `class`.
    pub(crate) fn queued(&self, tenant: &TenantId, class: Priority) -> usize {
        let st = self.lock();
        st.index
            .get(tenant)
            .map_or(0, |&i| st.slots[i].queues[class.index()].len())
    }

    /// Adds an item without waiting for room (used for retries and redeliveries,
    /// which must never be dropped and were already admitted once).
    pub(crate) fn push_now(&self, tenant: &TenantId, class: Priority, item: T) {
        {
            let mut st = self.lock();
            let slot = st.slot(tenant);
            st.enqueue(slot, class.index(), item);
        }
        self.added(1);
    }

    /// [`Scheduler::push_now`] for many items under one lock (a fetcher's read).
    pub(crate) fn push_now_all(&self, items: Vec<(TenantId, Priority, T)>) {
        let n = items.len();
        {
            let mut st = self.lock();
            for (tenant, class, item) in items {
                let slot = st.slot(&tenant);
                st.enqueue(slot, class.index(), item);
            }
        }
        self.added(n);
    }

    /// Wakes workers for `n` newly queued items: one for one item, every waiting
    /// worker for more.
    fn added(&self, n: usize) {
        match n {
            0 => {}
            1 => self.work().notify_one(),
            _ => self.work().notify_waiters(),
        }
    }

    /// Enqueues `item` if its queue has room.
    fn try_push(&self, tenant: &TenantId, class: usize, item: T) -> Push<T> {
        let mut st = self.lock();
        if st.closed {
            return Push::Closed(item);
        }
        let slot = st.slot(tenant);
        if st.slots[slot].queues[class].len() >= self.config.queue_bound_per_tenant {
            return Push::Full(item);
        }
        st.enqueue(slot, class, item);
        drop(st);
        self.added(1);
        Push::Added
    }

    /// Adds an item, waiting while the tenant's queue for this class is full.
    /// Returns the item back if the scheduler closed meanwhile.
    pub(crate) async fn push(&self, tenant: TenantId, class: Priority, item: T) -> Result<(), T> {
        let class = class.index();
        // Fast path: room now, no waiter registered.
        let mut item = match self.try_push(&tenant, class, item) {
            Push::Added => return Ok(()),
            Push::Closed(item) => return Err(item),
            Push::Full(item) => item,
        };
        loop {
            // Register for the wake-up before looking again, so a pop in between
            // cannot be missed.
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            item = match self.try_push(&tenant, class, item) {
                Push::Added => return Ok(()),
                Push::Closed(item) => return Err(item),
                Push::Full(item) => item,
            };
            // Bounded wait: a missed wake-up costs at most this long.
            let _ = tokio::time::timeout(Duration::from_millis(250), room).await;
        }
    }

    /// Adds many items, taking the lock once per chunk rather than once per item;
    /// waits for room like [`Scheduler::push`] when a tenant's queue is full. Returns
    /// the first item not added if the scheduler closed meanwhile.
    pub(crate) async fn push_all(
        &self,
        items: impl IntoIterator<Item = (TenantId, Priority, T)>,
    ) -> Result<(), T> {
        let bound = self.config.queue_bound_per_tenant;
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let mut added = 0;
            let mut blocked = None;
            {
                let mut st = self.lock();
                for (tenant, class, item) in items.by_ref() {
                    if st.closed {
                        return Err(item);
                    }
                    let slot = st.slot(&tenant);
                    if st.slots[slot].queues[class.index()].len() < bound {
                        st.enqueue(slot, class.index(), item);
                        added += 1;
                        if added == PUSH_CHUNK {
                            break;
                        }
                    } else {
                        blocked = Some((tenant, class, item));
                        break;
                    }
                }
            }
            self.added(added);
            if let Some((tenant, class, item)) = blocked {
                self.push(tenant, class, item).await?;
            }
        }
        Ok(())
    }

    /// Takes the next item fairly, or `None` if nothing is eligible now.
    /// The item's tenant holds one in-flight slot until the [`Ticket`] is dropped.
    pub(crate) fn try_pop(&self) -> Option<(T, Ticket)> {
        let cap = self.config.max_in_flight_per_tenant;
        let quantum = self.config.quantum.max(1);
        let bound = self.config.queue_bound_per_tenant;
        let mut st = self.lock();
        let State {
            slots,
            rings,
            waiting,
            ..
        } = &mut *st;
        for (class, ring) in rings.iter_mut().enumerate() {
            for _ in 0..ring.len() {
                let Some(i) = ring.pop_front() else {
                    break;
                };
                let slot = &mut slots[i];
                // Releases only lower the count, so a stale read is conservative.
                if slot.in_flight.count.load(Ordering::Acquire) >= cap {
                    // Capped: keep its place for the next round, serve the next tenant.
                    ring.push_back(i);
                    continue;
                }
                let queue = &mut slot.queues[class];
                let was_full = queue.len() >= bound;
                let Some(item) = queue.pop_front() else {
                    slot.deficit[class] = 0;
                    continue;
                };
                let deficit = &mut slot.deficit[class];
                if *deficit == 0 {
                    *deficit = quantum;
                }
                *deficit -= 1;
                if queue.is_empty() {
                    *deficit = 0;
                } else if *deficit > 0 {
                    // Still within its quantum: it stays at the head.
                    ring.push_front(i);
                } else {
                    ring.push_back(i);
                }
                slot.in_flight.count.fetch_add(1, Ordering::AcqRel);
                self.release.in_flight.fetch_add(1, Ordering::Relaxed);
                let ticket = Ticket(slot.in_flight.clone());
                *waiting -= 1;
                drop(st);
                if was_full {
                    self.room.notify_waiters();
                }
                return Some((item, ticket));
            }
        }
        None
    }

    /// Waits for the next item; `None` once closed and drained.
    pub(crate) async fn pop(&self) -> Option<(T, Ticket)> {
        if let Some(item) = self.try_pop() {
            return Some(item);
        }
        loop {
            let work = self.work().notified();
            tokio::pin!(work);
            work.as_mut().enable();
            if let Some(item) = self.try_pop() {
                return Some(item);
            }
            {
                let st = self.lock();
                if st.closed && st.waiting == 0 {
                    return None;
                }
            }
            // Bounded wait: a missed wake-up costs at most this long.
            let _ = tokio::time::timeout(Duration::from_millis(250), work).await;
        }
    }

    /// Takes every waiting item out (for a closing node to hand back), oldest
    /// first per tenant and class.
    pub(crate) fn drain(&self) -> Vec<T> {
        let mut st = self.lock();
        let State {
            slots,
            rings,
            waiting,
            ..
        } = &mut *st;
        let mut out = Vec::with_capacity(*waiting);
        for slot in slots.iter_mut() {
            for (queue, deficit) in slot.queues.iter_mut().zip(slot.deficit.iter_mut()) {
                out.extend(queue.drain(..));
                *deficit = 0;
            }
        }
        for ring in rings.iter_mut() {
            ring.clear();
        }
        *waiting = 0;
        drop(st);
        self.room.notify_waiters();
        out
    }

    /// Stops accepting pushes and wakes everyone; waiting items can still be popped.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.work().notify_waiters();
        self.room.notify_waiters();
    }

    pub(crate) fn stats(&self) -> SchedulerStats {
        let st = self.lock();
        let mut waiting_by_tenant: Vec<(String, usize)> = st
            .slots
            .iter()
            .filter_map(|s| {
                let n: usize = s.queues.iter().map(VecDeque::len).sum();
                (n > 0).then(|| (s.id.to_string(), n))
            })
            .collect();
        waiting_by_tenant.sort();
        SchedulerStats {
            waiting: st.waiting,
            in_flight: self.release.in_flight.load(Ordering::Relaxed),
            waiting_by_tenant,
        }
    }

    /// Per tenant ever seen: (tenant, waiting, in flight), in tenant order.
    pub(crate) fn per_tenant(&self) -> Vec<(TenantId, usize, usize)> {
        let st = self.lock();
        let mut out: Vec<(TenantId, usize, usize)> = st
            .slots
            .iter()
            .map(|s| {
                let waiting = s.queues.iter().map(VecDeque::len).sum();
                (
                    s.id.clone(),
                    waiting,
                    s.in_flight.count.load(Ordering::Relaxed),
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str) -> TenantId {
        TenantId::parse("discord", name).unwrap()
    }

    /// Items carry their tenant's name so tests can see who was served.
    fn sched(cap: usize, bound: usize) -> Scheduler<(&'static str, u32)> {
        Scheduler::new(SchedulerConfig {
            max_in_flight_per_tenant: cap,
            queue_bound_per_tenant: bound,
            quantum: 1,
        })
    }

    fn push(s: &Scheduler<(&'static str, u32)>, who: &'static str, class: Priority, n: u32) {
        s.push_now(&t(who), class, (who, n));
    }

    /// Pops and releases at once (for tests where in-flight counts do not matter).
    fn take<T>(s: &Scheduler<T>) -> Option<T> {
        s.try_pop().map(|(item, _ticket)| item)
    }

    #[test]
    fn higher_priority_first() {
        let s = sched(10, 10);
        push(&s, "a", Priority::Backfill, 1);
        push(&s, "a", Priority::Message, 2);
        push(&s, "a", Priority::Interaction, 3);
        let order: Vec<u32> = std::iter::from_fn(|| take(&s).map(|x| x.1)).collect();
        assert_eq!(order, [3, 2, 1]);
    }

    #[test]
    fn a_late_tenant_is_served_within_one_round() {
        let s = sched(1000, 100_000);
        for i in 0..10_000 {
            push(&s, "a", Priority::Message, i);
        }
        push(&s, "b", Priority::Message, 999_999);
        let first_two: Vec<&str> = (0..2).map(|_| take(&s).unwrap().0).collect();
        assert!(first_two.contains(&"b"), "{first_two:?}");
    }

    #[test]
    fn capped_tenant_does_not_block_others() {
        let s = sched(2, 100);
        for i in 0..5 {
            push(&s, "a", Priority::Message, i);
        }
        push(&s, "b", Priority::Message, 100);
        let mut held: Vec<((&str, u32), Ticket)> = (0..3).map(|_| s.try_pop().unwrap()).collect();
        let served: Vec<&str> = held.iter().map(|(x, _)| x.0).collect();
        assert_eq!(served[0], "a");
        assert!(served.contains(&"b"));
        // a now has 2 in flight: nothing more of a until one is released.
        assert!(s.try_pop().is_none());
        let first_a = held.iter().position(|(x, _)| x.0 == "a").unwrap();
        drop(held.remove(first_a));
        assert_eq!(take(&s).unwrap().0, "a");
    }

    #[test]
    fn quantum_serves_bursts_per_visit() {
        let s = Scheduler::new(SchedulerConfig {
            max_in_flight_per_tenant: 100,
            queue_bound_per_tenant: 100,
            quantum: 3,
        });
        for i in 0..6 {
            s.push_now(&t("a"), Priority::Message, i);
            s.push_now(&t("b"), Priority::Message, 100 + i);
        }
        let order: Vec<u32> = std::iter::from_fn(|| take(&s)).collect();
        assert_eq!(order, [0, 1, 2, 100, 101, 102, 3, 4, 5, 103, 104, 105]);
    }

    #[test]
    fn drain_takes_everything_waiting() {
        let s = sched(10, 10);
        for n in 1..=3 {
            push(&s, "a", Priority::Message, n);
        }
        for n in 4..=5 {
            push(&s, "b", Priority::Interaction, n);
        }
        let (first, _ticket) = s.try_pop().expect("one popped");
        assert_eq!(first, ("b", 4), "interactions first");
        let mut drained: Vec<u32> = s.drain().into_iter().map(|x| x.1).collect();
        drained.sort_unstable();
        assert_eq!(drained, [1, 2, 3, 5]);
        assert_eq!(s.stats().waiting, 0);
        assert!(s.try_pop().is_none());
        // Pushes after a drain are served as usual.
        push(&s, "a", Priority::Message, 6);
        assert_eq!(take(&s), Some(("a", 6)));
    }

    #[tokio::test]
    async fn push_waits_for_room() {
        let s = std::sync::Arc::new(sched(10, 2));
        s.push(t("a"), Priority::Message, ("a", 1)).await.unwrap();
        s.push(t("a"), Priority::Message, ("a", 2)).await.unwrap();
        let s2 = s.clone();
        let blocked =
            tokio::spawn(async move { s2.push(t("a"), Priority::Message, ("a", 3)).await });
        tokio::task::yield_now().await;
        assert!(!blocked.is_finished());
        // Another tenant is not blocked by a's full queue.
        s.push(t("b"), Priority::Message, ("b", 9)).await.unwrap();
        let _ = take(&*s).unwrap();
        tokio::time::timeout(Duration::from_secs(5), blocked)
            .await
            .expect("push resumes once there is room")
            .unwrap()
            .unwrap();
    }

    /// With the clock paused, the only timers are the test's 100 ms and the
    /// scheduler's 250 ms fallback: the waiter finishes first only if it was woken.
    #[tokio::test(start_paused = true)]
    async fn releasing_a_capped_tenant_wakes_a_waiting_worker() {
        let s = std::sync::Arc::new(sched(1, 10));
        push(&s, "a", Priority::Message, 1);
        push(&s, "a", Priority::Message, 2);
        let (first, ticket) = s.try_pop().unwrap();
        assert_eq!(first.1, 1);
        let s2 = s.clone();
        let waiter = tokio::spawn(async move { s2.pop().await.map(|(item, _)| item) });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "a is capped: nothing to take yet");
        drop(ticket);
        let got = tokio::time::timeout(Duration::from_millis(100), waiter)
            .await
            .expect("woken by the release, not by the fallback timer")
            .unwrap();
        assert_eq!(got.map(|x| x.1), Some(2));
    }

    /// As above: a pusher blocked on a full queue is woken by the pop that makes room.
    #[tokio::test(start_paused = true)]
    async fn a_pop_from_a_full_queue_wakes_the_blocked_pusher() {
        let s = std::sync::Arc::new(sched(10, 1));
        s.push(t("a"), Priority::Message, ("a", 1)).await.unwrap();
        let s2 = s.clone();
        let blocked =
            tokio::spawn(async move { s2.push(t("a"), Priority::Message, ("a", 2)).await });
        tokio::task::yield_now().await;
        assert!(!blocked.is_finished());
        assert_eq!(take(&*s).unwrap().1, 1);
        tokio::time::timeout(Duration::from_millis(100), blocked)
            .await
            .expect("woken by the pop, not by the fallback timer")
            .unwrap()
            .unwrap();
        assert_eq!(s.stats().waiting, 1);
    }

    #[test]
    fn stats_count_waiting_and_in_flight_per_tenant() {
        let s = sched(10, 10);
        push(&s, "a", Priority::Message, 1);
        push(&s, "a", Priority::Backfill, 2);
        push(&s, "b", Priority::Message, 3);
        let held = s.try_pop().unwrap();
        let st = s.stats();
        assert_eq!((st.waiting, st.in_flight), (2, 1));
        assert_eq!(st.waiting_by_tenant.len(), 2);
        drop(held);
        assert_eq!(s.stats().in_flight, 0);
    }

    #[tokio::test]
    async fn push_all_keeps_order_and_waits_for_room() {
        let s = std::sync::Arc::new(sched(1000, 100));
        let items: Vec<_> = (0..250)
            .map(|i| (t("a"), Priority::Message, ("a", i)))
            .collect();
        let s2 = s.clone();
        let pusher = tokio::spawn(async move { s2.push_all(items).await });
        let mut got = Vec::new();
        while got.len() < 250 {
            let (item, _) = tokio::time::timeout(Duration::from_secs(5), s.pop())
                .await
                .expect("the batch keeps coming")
                .unwrap();
            got.push(item.1);
        }
        pusher.await.unwrap().unwrap();
        assert_eq!(got, (0..250).collect::<Vec<_>>());
    }
}
