//! `backfill`: pages a channel's history into the store, resumable from a cursor.
//!
//! Started by a job (`Handler::on_job`: a schedule or a published `Job` event)
//! whose payload is `{"channel": "<id>", "limit": <n>}` (`limit` optional). Each
//! page (at most 100 messages, newest first) is fetched with `Ctx::fetch_history`
//! — through the tenant's REST actor, its buckets and backfill cap — every message
//! upserted, then the cursor `backfill:messages:<channel>` records the oldest id
//! seen and the count so far. A run that stops (shutdown, handler timeout, a crash)
//! is resumed by the next job for the channel from the stored cursor; a finished
//! one (`done`) does nothing, so a redelivered job is harmless. A run never reaches
//! the handler's timeout: near it, it stores its cursor and enqueues the same job
//! again (`Ctx::enqueue_job`), so a history of any length is paged in slices.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::handler::{Ctx, Handler, HandlerResult};
use crate::model::{Job, JobPayload};

/// The page size the provider allows (Discord: 100).
const PAGE: u64 = 100;

/// A run stops when less than this (or three times its slowest page) is left
/// before the handler's timeout, and continues in a new job.
const MARGIN: Duration = Duration::from_secs(5);

/// What a backfill job asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillRequest {
    /// The channel to page.
    pub channel: String,
    /// At most this many messages (`None`: the whole history).
    #[serde(default)]
    pub limit: Option<u64>,
}

impl BackfillRequest {
    /// The job that starts (or resumes) this backfill: for the `backfill` handler
    /// only, with this request as its payload. Publish it on the tenant's inbox
    /// (`Envelope::new(ns, tenant, Payload::Event(Event::Job(job)))`) or fire it
    /// from a schedule with the same payload.
    #[must_use]
    pub fn job(&self) -> Job {
        Job {
            schedule: "backfill".to_owned(),
            slot_ms: 0,
            handler: Some("backfill".to_owned()),
            payload: JobPayload::Json(serde_json::json!({
                "channel": self.channel,
                "limit": self.limit,
            })),
            recovered: false,
        }
    }
}

/// A backfill's stored cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillProgress {
    /// The oldest message id fetched so far (the next page is before it).
    pub before: Option<String>,
    /// Messages fetched so far.
    pub fetched: u64,
    /// Pages fetched so far.
    pub pages: u64,
    /// The history's start (or the limit) was reached.
    pub done: bool,
}

impl BackfillProgress {
    /// The cursor name of a channel's backfill.
    #[must_use]
    pub fn cursor_name(channel: &str) -> String {
        format!("backfill:messages:{channel}")
    }
}

/// Pages channel history into the store on a backfill job; see the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Backfill;

impl Handler for Backfill {
    fn name(&self) -> &'static str {
        "backfill"
    }

    async fn on_job(&self, ctx: &Ctx, job: &Job) -> HandlerResult {
        let JobPayload::Json(payload) = &job.payload else {
            return Ok(());
        };
        // Jobs for other handlers (sent to every handler) carry no channel.
        let Ok(request) = serde_json::from_value::<BackfillRequest>(payload.clone()) else {
            return Ok(());
        };
        run(ctx, &request).await
    }
}

/// Runs (or resumes) one channel's backfill until the end, the limit, or
/// cancellation.
async fn run(ctx: &Ctx, request: &BackfillRequest) -> HandlerResult {
    let store = ctx.store()?;
    let cursor = BackfillProgress::cursor_name(&request.channel);
    let mut progress: BackfillProgress = match store.cursor(&cursor).await? {
        Some(text) => serde_json::from_str(&text)?,
        None => BackfillProgress::default(),
    };
    let limit = request.limit.unwrap_or(u64::MAX);
    let mut slowest = Duration::ZERO;
    while !progress.done && progress.fetched < limit && !ctx.cancellation().is_cancelled() {
        // Stop well before the handler's timeout (a timed-out run is retried, and a
        // long history would spend every retry): the rest goes on in a fresh job.
        let left = ctx.deadline().saturating_duration_since(Instant::now());
        if left < (slowest * 3).max(MARGIN) {
            ctx.enqueue_job(request.job(), &format!("continue/{}", progress.pages))
                .await?;
            tracing::debug!(
                channel = %request.channel,
                fetched = progress.fetched,
                "backfill continues in a new job"
            );
            return Ok(());
        }
        let page_started = Instant::now();
        let want = (limit - progress.fetched).min(PAGE);
        let page = ctx
            .fetch_history(&request.channel, progress.before.as_deref(), want as u16)
            .await?;
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
    }
    tracing::debug!(
        tenant = %ctx.tenant(),
        channel = %request.channel,
        fetched = progress.fetched,
        done = progress.done,
        "backfill paused or finished"
    );
    Ok(())
}
