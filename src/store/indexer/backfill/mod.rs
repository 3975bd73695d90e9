//! `backfill`: pages a channel's history into the store, resumable from a cursor,
//! one run per channel at a time.
//!
//! Started by a job (`Handler::on_job`: a schedule or a published `Job` event)
//! whose payload is `{"channel": "<id>", "limit": <n>}` (`limit` optional). Each
//! page (at most 100 messages, newest first) is fetched with `Ctx::fetch_history`
//! — through the tenant's REST actor, its buckets and backfill cap — every message
//! upserted, then the cursor `backfill:messages:<channel>` records the oldest id
//! seen and the count so far. A run that stops (handler timeout, a crash) is resumed
//! by the next job for the channel from the stored cursor; a finished one (`done`)
//! does nothing, so a redelivered job is harmless. A run never reaches the handler's
//! timeout: near it, it stores its cursor and enqueues its own continuation
//! (`Ctx::enqueue_job`), so a history of any length is paged in slices. A shutdown
//! (`Ctx::cancellation`) does the same at once, even while a page waits for its
//! rate-limit window: on the Redis bus the continuation is kept, so the backfill
//! goes on by itself when a node starts again.
//!
//! **One run per channel.** A run is named by its first job's envelope id, which its
//! continuations carry. Before it pages, a run takes the channel's lease in the
//! tenant's state (`lease.rs`), and takes it again after every page; a job of
//! another run while the lease is held acks without paging (counted in
//! `switchboard_backfill_skipped_total`). A run that ends (done, limit) releases
//! the lease; one that continues in a new job (deadline, shutdown) keeps it for its
//! continuation; one killed mid-page leaves it to expire (a handler timeout and
//! 10 s), except to its own redelivery, which takes it back at once. A state store
//! that cannot answer fails the job like any other error (retried, then recorded).
//!
//! **Failures are recorded.** A run whose job fails on its last delivery (it is
//! dead-lettered: `Ctx::is_last_attempt`) writes the error into the cursor
//! (`BackfillProgress::error`, state `failed`) and releases the lease; the next run
//! of the channel clears it as it takes the channel up again, resuming from the
//! cursor. A failure of the store itself cannot be recorded there; it is logged.
//!
//! # Layout
//! - `mod.rs`: the handler and its run.
//! - `request.rs`: [`BackfillRequest`] and the job payload (with the run it continues).
//! - `progress.rs`: [`BackfillProgress`], the cursor; [`BackfillFailure`],
//!   [`BackfillState`].
//! - `lease.rs`: the per-channel run lease; [`active_run`] for the admin API.

mod lease;
mod progress;
mod request;

use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument as _;

use self::lease::{LEASE_SLACK, RunLease, Take};
use self::request::JobRequest;
use crate::bus::BusError;
use crate::handler::{Ctx, CtxError, Handler, HandlerError, HandlerResult};
use crate::model::Job;
use crate::store::TenantStore;

pub use self::lease::{BackfillRun, active_run};
pub use self::progress::{BackfillFailure, BackfillProgress, BackfillState};
pub use self::request::BackfillRequest;

/// The page size the provider allows (Discord: 100).
const PAGE: u64 = 100;

/// A run stops when less than this (or three times its slowest page) is left
/// before the handler's timeout, and continues in a new job.
const MARGIN: Duration = Duration::from_secs(5);

/// Pages channel history into the store on a backfill job; see the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Backfill;

impl Handler for Backfill {
    fn name(&self) -> &'static str {
        "backfill"
    }

    async fn on_job(&self, ctx: &Ctx, job: &Job) -> HandlerResult {
        // Jobs for other handlers (sent to every handler) carry no channel.
        let Some(job) = JobRequest::parse(job) else {
            return Ok(());
        };
        let (request, run_id) = job.into_parts(ctx.envelope_id().to_string());
        let span = tracing::info_span!("backfill", channel = %request.channel, run = %run_id);
        run(ctx, &request, &run_id).instrument(span).await
    }
}

/// How a run's turn ended without an error.
enum Pause {
    /// The history's start or the limit: the lease is let go.
    Ended,
    /// Near the handler timeout, or at shutdown: a continuation of the run was
    /// queued, and keeps the lease.
    Continues,
    /// Another run took the lease over (this one's had expired).
    Lost,
}

/// Runs (or resumes) one channel's backfill as run `run_id`, holding the channel's
/// lease, until the end, the limit, cancellation or the handler's deadline.
async fn run(ctx: &Ctx, request: &BackfillRequest, run_id: &str) -> HandlerResult {
    let store = ctx.store()?;
    // The handler never runs past its deadline, so a live run renews its lease in
    // time; a dead one's lease expires soon after.
    let ttl = ctx.deadline().saturating_duration_since(Instant::now()) + LEASE_SLACK;
    let lease = match RunLease::take(ctx.state(), &request.channel, run_id, ttl).await {
        Ok(Take::Taken(lease)) => lease,
        Ok(Take::Held(holder)) => {
            metrics::counter!("switchboard_backfill_skipped_total").increment(1);
            tracing::debug!(holder = %holder.id, "another run is paging this channel; acked without paging");
            return Ok(());
        }
        Err(e) => {
            let e = HandlerError::from(e);
            if ctx.is_last_attempt() {
                record_failure(ctx, &store, request, run_id, &*e).await;
            }
            return Err(e);
        }
    };
    match page(ctx, &store, request, &lease).await {
        Ok(Pause::Ended) => {
            lease.release().await;
            Ok(())
        }
        Ok(Pause::Continues | Pause::Lost) => Ok(()),
        Err(e) => {
            // Retries are the same run: they keep the lease. The last attempt's
            // failure is recorded while the lease still keeps other runs out.
            if ctx.is_last_attempt() {
                record_failure(ctx, &store, request, run_id, &*e).await;
                lease.release().await;
            }
            Err(e)
        }
    }
}

/// The stored cursor of `cursor` (a fresh one if none).
async fn read_progress(
    store: &TenantStore,
    cursor: &str,
) -> Result<BackfillProgress, HandlerError> {
    Ok(match store.cursor(cursor).await? {
        Some(text) => serde_json::from_str(&text)?,
        None => BackfillProgress::default(),
    })
}

/// Pages the channel under `lease` until the run pauses.
async fn page(
    ctx: &Ctx,
    store: &TenantStore,
    request: &BackfillRequest,
    lease: &RunLease,
) -> Result<Pause, HandlerError> {
    let cursor = BackfillProgress::cursor_name(&request.channel);
    let mut progress = read_progress(store, &cursor).await?;
    if progress.error.take().is_some() {
        // This run takes a failed backfill up again: no longer failed.
        store
            .set_cursor(&cursor, &serde_json::to_string(&progress)?)
            .await?;
    }
    let limit = request.limit.unwrap_or(u64::MAX);
    let mut slowest = Duration::ZERO;
    while !progress.done && progress.fetched < limit {
        // Stop well before the handler's timeout (a timed-out run is retried, and a
        // long history would spend every retry), or at shutdown: the rest goes on in
        // a fresh job, which takes the lease over as the same run (after a restart,
        // on the Redis bus).
        let left = ctx.deadline().saturating_duration_since(Instant::now());
        if left < (slowest * 3).max(MARGIN) || ctx.cancellation().is_cancelled() {
            return continue_later(ctx, request, lease, &progress).await;
        }
        let page_started = Instant::now();
        let want = (limit - progress.fetched).min(PAGE);
        // A page may wait for its rate-limit window; a shutdown does not wait with
        // it (the page is fetched again by the continuation).
        let page = tokio::select! {
            page = ctx.fetch_history(&request.channel, progress.before.as_deref(), want as u16) => page,
            () = ctx.cancellation().cancelled() => {
                return continue_later(ctx, request, lease, &progress).await;
            }
        };
        let page = match page {
            Ok(page) => page,
            // The page waited longer than a request may (a long rate-limit window,
            // or a window the tenant's last holder spent): not a failure, so no
            // retry is spent on it; the continuation asks again.
            Err(CtxError::Bus(BusError::Timeout { .. })) => {
                tracing::debug!("a history page is still waiting for its rate limit");
                return continue_later(ctx, request, lease, &progress).await;
            }
            Err(e) => return Err(e.into()),
        };
        for msg in &page {
            store.upsert_message(msg).await?;
        }
        progress.fetched += page.len() as u64;
        progress.pages += 1;
        // Newest first: the last is the oldest, where the next page starts.
        if let Some(oldest) = page.last() {
            progress.before = Some(oldest.message_id.clone());
        }
        progress.done = (page.len() as u64) < want || progress.fetched >= limit;
        store
            .set_cursor(&cursor, &serde_json::to_string(&progress)?)
            .await?;
        slowest = slowest.max(page_started.elapsed());
        if let Some(holder) = lease.renew().await? {
            return Ok(lost(&holder));
        }
    }
    tracing::debug!(
        tenant = %ctx.tenant(),
        fetched = progress.fetched,
        done = progress.done,
        "backfill paused or finished"
    );
    Ok(Pause::Ended)
}

/// Queues the run's continuation (it keeps the lease) and pauses. Its envelope id
/// derives from this job's and the page count, so a redelivered job queues the same
/// continuation.
async fn continue_later(
    ctx: &Ctx,
    request: &BackfillRequest,
    lease: &RunLease,
    progress: &BackfillProgress,
) -> Result<Pause, HandlerError> {
    if let Some(holder) = lease.renew().await? {
        return Ok(lost(&holder));
    }
    ctx.enqueue_job(
        request.continuation(lease.run()),
        &format!("continue/{}", progress.pages),
    )
    .await?;
    tracing::debug!(
        fetched = progress.fetched,
        shutdown = ctx.cancellation().is_cancelled(),
        "backfill continues in a new job"
    );
    Ok(Pause::Continues)
}

fn lost(holder: &BackfillRun) -> Pause {
    tracing::warn!(holder = %holder.id, "this backfill run's lease expired and another run took the channel over; this one stops");
    Pause::Lost
}

/// Writes the failure of run `run_id` into the channel's cursor (state `failed`).
/// A cursor that cannot be written (the store is what failed) is logged.
async fn record_failure(
    ctx: &Ctx,
    store: &TenantStore,
    request: &BackfillRequest,
    run_id: &str,
    error: &(dyn std::error::Error + Send + Sync + 'static),
) {
    metrics::counter!("switchboard_backfill_failed_total").increment(1);
    let message = crate::Report(error).to_string();
    let cursor = BackfillProgress::cursor_name(&request.channel);
    let recorded: Result<(), HandlerError> = async {
        let mut progress = read_progress(store, &cursor).await?;
        progress.error = Some(BackfillFailure {
            message: message.clone(),
            at_ms: crate::model::now_ms(),
            run: run_id.to_owned(),
            attempts: ctx.attempt().saturating_add(1),
        });
        store
            .set_cursor(&cursor, &serde_json::to_string(&progress)?)
            .await?;
        Ok(())
    }
    .await;
    match recorded {
        Ok(()) => {
            tracing::warn!(error = %message, "backfill failed on its last delivery; recorded in its cursor");
        }
        Err(e) => {
            tracing::warn!(error = %message, cursor_error = %crate::Report(&*e), "backfill failed on its last delivery, and the failure could not be recorded in its cursor");
        }
    }
}
