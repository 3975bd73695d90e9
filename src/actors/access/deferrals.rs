//! [`Deferrals`]: the interactions a tenant's access layer watches until their
//! handler has answered, shared by the tenant's gateway (which arms a watch when
//! `INTERACTION_CREATE` arrives, right after keeping the token) and its REST actor
//! (whose clock defers, and whose `RespondInteraction` path consults the watch).
//!
//! Discord drops an interaction without a first answer within 3 seconds. A watch
//! is due `defer_after` after the interaction arrived: if the handler has not
//! answered by then the REST actor defers (callback type 5 for commands and modal
//! submits, 6 for components) and the watch is due again `answer_within` later,
//! when the REST actor answers with an ephemeral error itself if the handler still
//! has not. Each watch's [`Phase`] sits behind an async mutex that whoever sends an
//! answer holds across the call, so the handler's first answer and the deferral can
//! never both be sent (no 40060 "already acknowledged").
//!
//! Watches live in this process only: in a cluster the gateway and the REST actor of
//! a tenant run on the node that holds it. Interactions the gateway did not arm
//! (autocomplete, or a tenant whose gateway runs without this cell) pass through
//! untouched.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::InteractionsConfig;
use crate::model::InteractionKind;

/// How long a watch is kept at most: the interaction token's lifetime.
const WATCH_TTL: Duration = Duration::from_secs(15 * 60);

/// When to defer, and how long a deferred handler may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeferTiming {
    /// After this long without an answer, defer.
    pub defer_after: Duration,
    /// After a deferral, answer with an error when the handler has not answered
    /// within this long.
    pub answer_within: Duration,
}

impl Default for DeferTiming {
    fn default() -> Self {
        Self::from(InteractionsConfig::default())
    }
}

impl From<InteractionsConfig> for DeferTiming {
    fn from(c: InteractionsConfig) -> Self {
        Self {
            defer_after: Duration::from_millis(c.defer_after_ms),
            answer_within: Duration::from_millis(c.answer_within_ms),
        }
    }
}

/// Which deferral an interaction gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeferKind {
    /// Type 5, `DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE`: commands and modal submits.
    Message,
    /// Type 6, `DEFERRED_UPDATE_MESSAGE`: components.
    Update,
}

impl DeferKind {
    /// The deferral for an interaction kind (`None`: autocomplete cannot be deferred).
    pub(crate) fn of(kind: InteractionKind) -> Option<Self> {
        match kind {
            InteractionKind::Command | InteractionKind::ModalSubmit => Some(Self::Message),
            InteractionKind::Component => Some(Self::Update),
            InteractionKind::Autocomplete => None,
        }
    }
}

/// Where an interaction's answer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No first answer yet.
    Pending,
    /// The handler's own first answer went out; later answers pass through.
    Answered,
    /// A first answer that awaits the handler's: a deferral (the access layer's or
    /// the handler's own), or the access layer's error.
    Deferred(Deferred),
    /// The interaction is gone (10062, or the deferral failed for good).
    Gone,
}

/// What the access layer answered in the handler's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deferred {
    /// Type 5 or 6.
    pub(crate) kind: DeferKind,
    /// Whether the deferral (and so the original response) is ephemeral.
    pub(crate) ephemeral: bool,
    /// Type 5 only: the original still shows "thinking…" and awaits its edit.
    pub(crate) open: bool,
    /// The access layer deferred (rather than the handler itself, or an error).
    pub(crate) by_us: bool,
    /// Who has answered since.
    pub(crate) since: Since,
    /// When the access layer answers with an error if nobody has by then.
    pub(crate) error_at: Instant,
}

/// Who answered after the access layer's first answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Since {
    /// Nobody yet: the handler's answer is awaited.
    Nobody,
    /// The handler (its answer was translated).
    Handler,
    /// The access layer, with an error (a later handler answer still goes out).
    Error,
}

/// One watched interaction.
#[derive(Debug)]
pub(crate) struct Watch {
    pub(crate) id: String,
    pub(crate) kind: DeferKind,
    /// The command's name (commands only), for the ephemeral hint.
    pub(crate) command: Option<String>,
    pub(crate) created: Instant,
    pub(crate) phase: tokio::sync::Mutex<Phase>,
}

#[derive(Debug, Default)]
struct Table {
    watches: HashMap<String, Arc<Watch>>,
    /// `(due, interaction id)`.
    due: BTreeSet<(Instant, String)>,
    /// When watches past the token's lifetime were last dropped.
    swept: Option<Instant>,
}

/// How often the clock drops watches past the token's lifetime.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Inner {
    timing: DeferTiming,
    table: Mutex<Table>,
    wake: Notify,
}

/// One tenant's watched interactions. Cheap to clone; [`Deferrals::disabled`] (the
/// default) watches nothing.
#[derive(Debug, Clone, Default)]
pub struct Deferrals {
    inner: Option<Arc<Inner>>,
}

impl Deferrals {
    /// An empty cell deferring with `timing`.
    #[must_use]
    pub fn new(timing: DeferTiming) -> Self {
        Self {
            inner: Some(Arc::new(Inner {
                timing,
                table: Mutex::new(Table::default()),
                wake: Notify::new(),
            })),
        }
    }

    /// A cell that watches nothing: every answer passes through as the handler
    /// sends it.
    #[must_use]
    pub fn disabled() -> Self {
        Self::default()
    }

    /// The timing (`None` when disabled).
    #[must_use]
    pub fn timing(&self) -> Option<DeferTiming> {
        self.inner.as_ref().map(|i| i.timing)
    }

    /// How many interactions are watched.
    #[cfg(test)]
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner
            .as_ref()
            .map_or(0, |i| lock(&i.table).watches.len())
    }

    /// Whether none are.
    #[cfg(test)]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts watching an interaction that just arrived (a no-op for autocomplete,
    /// for an id already watched — a replayed dispatch — and when disabled).
    pub fn arm(&self, interaction_id: &str, kind: InteractionKind, command: Option<&str>) {
        let (Some(inner), Some(kind)) = (&self.inner, DeferKind::of(kind)) else {
            return;
        };
        let created = Instant::now();
        let mut t = lock(&inner.table);
        if t.watches.contains_key(interaction_id) {
            return;
        }
        t.watches.insert(
            interaction_id.to_owned(),
            Arc::new(Watch {
                id: interaction_id.to_owned(),
                kind,
                command: command.map(str::to_owned),
                created,
                phase: tokio::sync::Mutex::new(Phase::Pending),
            }),
        );
        t.due.insert((
            created + inner.timing.defer_after,
            interaction_id.to_owned(),
        ));
        drop(t);
        inner.wake.notify_one();
    }

    /// The watch of an interaction, if armed.
    pub(crate) fn get(&self, interaction_id: &str) -> Option<Arc<Watch>> {
        let inner = self.inner.as_ref()?;
        lock(&inner.table).watches.get(interaction_id).cloned()
    }

    /// Makes a watch due again at `at`.
    pub(crate) fn schedule(&self, interaction_id: &str, at: Instant) {
        if let Some(inner) = &self.inner {
            lock(&inner.table)
                .due
                .insert((at, interaction_id.to_owned()));
            inner.wake.notify_one();
        }
    }

    /// Stops watching an interaction (its answer is settled).
    pub(crate) fn forget(&self, interaction_id: &str) {
        if let Some(inner) = &self.inner {
            lock(&inner.table).watches.remove(interaction_id);
        }
    }

    /// Waits until watches are due and returns them (never, when disabled). Watches
    /// older than the token's lifetime are dropped on the way. Cancel-safe: nothing
    /// is taken before it returns.
    pub(crate) async fn next_due(&self) -> Vec<Arc<Watch>> {
        let Some(inner) = &self.inner else {
            return std::future::pending().await;
        };
        loop {
            let woken = inner.wake.notified();
            let first = {
                let mut t = lock(&inner.table);
                let now = Instant::now();
                let mut out = Vec::new();
                while let Some((at, _)) = t.due.first() {
                    if *at > now {
                        break;
                    }
                    if let Some((_, id)) = t.due.pop_first()
                        && let Some(w) = t.watches.get(&id)
                    {
                        out.push(Arc::clone(w));
                    }
                }
                if t.swept
                    .is_none_or(|at| now.duration_since(at) >= SWEEP_EVERY)
                {
                    t.watches
                        .retain(|_, w| now.duration_since(w.created) < WATCH_TTL);
                    t.swept = Some(now);
                }
                if !out.is_empty() {
                    return out;
                }
                t.due.first().map(|(at, _)| *at)
            };
            match first {
                Some(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = woken => {}
                    }
                }
                None => woken.await,
            }
        }
    }
}

fn lock(m: &Mutex<Table>) -> MutexGuard<'_, Table> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing() -> DeferTiming {
        DeferTiming {
            defer_after: Duration::from_millis(1500),
            answer_within: Duration::from_secs(10),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_watch_is_due_after_defer_after() {
        let d = Deferrals::new(timing());
        let start = Instant::now();
        d.arm("1", InteractionKind::Command, Some("slow"));
        d.arm("1", InteractionKind::Command, Some("slow"));
        d.arm("2", InteractionKind::Autocomplete, Some("slow"));
        assert_eq!(d.len(), 1, "replays and autocomplete are not watched");
        let due = d.next_due().await;
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].kind, DeferKind::Message);
        assert_eq!(start.elapsed(), Duration::from_millis(1500));
        d.schedule("1", Instant::now() + Duration::from_secs(10));
        let again = d.next_due().await;
        assert_eq!(again[0].id, "1");
        d.forget("1");
        assert!(d.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_watch_wakes_a_sleeping_clock() {
        let d = Deferrals::new(timing());
        d.schedule("late", Instant::now() + Duration::from_secs(60));
        let clock = d.clone();
        let waiter = tokio::spawn(async move { clock.next_due().await });
        tokio::task::yield_now().await;
        d.arm("soon", InteractionKind::Component, None);
        let due = waiter.await.expect("joined");
        assert_eq!(due[0].id, "soon");
        assert_eq!(due[0].kind, DeferKind::Update);
    }

    #[test]
    fn disabled_watches_nothing() {
        let d = Deferrals::disabled();
        d.arm("1", InteractionKind::Command, None);
        assert!(d.get("1").is_none());
        assert!(d.timing().is_none());
    }
}
