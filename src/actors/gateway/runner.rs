//! One shard's task: polls the twilight shard, normalizes and publishes dispatches,
//! keeps health and the stored session current, and closes resumably on shutdown.
//!
//! The task publishes straight to the bus (the actor's mailbox is for control only),
//! so events of one shard stay in order and the bus's backpressure reaches the socket.
//! It never polls a shard again after its close handshake: a polled shard reconnects.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use ractor::ActorRef;
use tokio_util::sync::CancellationToken;
use twilight_gateway::error::ReceiveMessageErrorType;
use twilight_gateway::queue::InMemoryQueue;
use twilight_gateway::{CloseFrame, EventTypeFlags, Message, Shard, ShardState};
use twilight_model::gateway::CloseCode;
use twilight_model::gateway::event::{DispatchEvent, GatewayEvent};
use twilight_model::id::Id;

use super::actor::GatewayMsg;
use super::error::GatewayError;
use super::filter::allowed;
use super::health::{ShardCounters, ShardStatus, bump};
use super::session::{SessionStore, StoredSession};
use crate::actors::access::Deferrals;
use crate::bus::{Bus, BusError};
use crate::config::AllowConfig;
use crate::handler::InterestCell;
use crate::model::{Envelope, Event, Payload, RawPayload, TenantId, now_ms};
use crate::providers::discord::gateway::{
    GatewayOrigin, Normalized, WANTED_EVENTS, event_id, normalize,
};
use crate::providers::discord::interactions::InteractionTokens;

/// Everything a shard task needs.
pub(super) struct ShardCtx {
    pub(super) tenant: TenantId,
    pub(super) namespace: Arc<str>,
    pub(super) bus: Bus,
    pub(super) tokens: InteractionTokens,
    /// Where interactions are armed for the REST actor's deferral clock.
    pub(super) deferrals: Deferrals,
    pub(super) allow: AllowConfig,
    pub(super) publish_raw: bool,
    /// What the tenant's handlers want published.
    pub(super) interest: InterestCell,
    pub(super) sessions: SessionStore,
    pub(super) counters: Arc<ShardCounters>,
    /// The bot's user id, shared by the tenant's shards (0: not known yet).
    pub(super) self_id: Arc<AtomicU64>,
    /// The gateway lease's fencing token (0: none, e.g. the memory vault); every
    /// publish and session save carries it.
    pub(super) fence: Arc<AtomicU64>,
    pub(super) actor: ActorRef<GatewayMsg>,
    pub(super) cancel: CancellationToken,
    pub(super) save_interval: Duration,
    pub(super) close_timeout: Duration,
}

/// How a shard task ended, as reported to the actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShardEnd {
    /// The gateway closed the shard for good with this code (or the stream ended).
    Fatal(Option<u16>),
}

/// Whether a close code ends the shard for good (twilight stops reconnecting).
pub(super) fn is_fatal(code: u16) -> bool {
    CloseCode::try_from(code).is_ok_and(|c| !c.can_reconnect())
}

/// Polls `shard` until cancelled or fatally closed.
pub(super) async fn run(mut shard: Shard<InMemoryQueue>, ctx: ShardCtx) {
    let id = ctx.counters.id;
    let mut last_saved: Option<(String, u64)> = None;
    let mut last_seq: Option<u64> = None;
    let mut session_id = SessionId::default();
    // Whether dispatches now are live, not replays: from READY or RESUMED until the
    // connection closes (what a RESUME replays arrives before RESUMED).
    let mut live = false;
    // The periodic save, armed only once the session moved past what was stored: an
    // idle shard (heartbeats only) sets no timer at all.
    let save_timer = tokio::time::sleep(ctx.save_interval);
    tokio::pin!(save_timer);
    let mut save_armed = false;
    loop {
        let item = tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => {
                close(&mut shard, &ctx, &mut last_seq, &mut session_id).await;
                save(snapshot(&shard, &ctx), &ctx, &mut last_saved).await;
                ctx.counters.set_status(ShardStatus::Stopped);
                return;
            }
            () = &mut save_timer, if save_armed => {
                save_armed = false;
                save(snapshot(&shard, &ctx), &ctx, &mut last_saved).await;
                continue;
            }
            item = shard.next() => item,
        };
        match item {
            None => {
                ctx.counters.set_status(ShardStatus::Failed);
                let _ = ctx.actor.cast(GatewayMsg::ShardEnded {
                    shard: id,
                    end: ShardEnd::Fatal(None),
                });
                return;
            }
            Some(Err(e)) => {
                // Never log the error itself: a parse error carries the payload, and
                // an INTERACTION_CREATE payload carries its token.
                let kind = match e.kind() {
                    ReceiveMessageErrorType::Deserializing { .. } => "deserializing",
                    ReceiveMessageErrorType::Reconnect => "reconnect",
                    _ => "other",
                };
                tracing::warn!(kind, "gateway receive error");
            }
            Some(Ok(Message::Close(frame))) => {
                live = false;
                let code = frame.map(|f| f.code);
                ctx.counters.closed(code);
                if code.is_some_and(is_fatal) {
                    ctx.counters.set_status(ShardStatus::Failed);
                    if let Err(e) = ctx.sessions.clear(&ctx.tenant, id).await {
                        tracing::warn!(error = %crate::Report(&e), "could not clear the stored session");
                    }
                    let _ = ctx.actor.cast(GatewayMsg::ShardEnded {
                        shard: id,
                        end: ShardEnd::Fatal(code),
                    });
                    return;
                }
                tracing::info!(code, "gateway connection closed; reconnecting");
            }
            Some(Ok(Message::Text(json))) => {
                // Store the session as soon as it starts or resumes.
                let origin = session_id.origin(&shard);
                match handle_text(origin, json, &ctx, &mut last_seq, live).await {
                    Frame::Session => {
                        live = true;
                        save(snapshot(&shard, &ctx), &ctx, &mut last_saved).await;
                    }
                    Frame::Hello => live = false,
                    Frame::Other => {}
                }
            }
        }
        ctx.counters.observe(&shard);
        if !save_armed && unsaved(&shard, last_saved.as_ref()) {
            save_timer
                .as_mut()
                .reset(tokio::time::Instant::now() + ctx.save_interval);
            save_armed = true;
        }
    }
}

/// Whether the shard's session moved past the one last stored.
fn unsaved(shard: &Shard<InMemoryQueue>, last_saved: Option<&(String, u64)>) -> bool {
    shard.session().is_some_and(|s| {
        last_saved.is_none_or(|(id, seq)| *seq != s.sequence() || id.as_str() != s.id())
    })
}

/// What a text frame meant for the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// Anything else.
    Other,
    /// HELLO: a new connection (the first, or a reconnect).
    Hello,
    /// READY or RESUMED: the session started or resumed.
    Session,
}

/// Processes one text frame; `origin` is the shard's session id and sequence after
/// it (a dispatch's own sequence number); `live`: a dispatch is not a replay.
async fn handle_text(
    origin: Option<(Arc<str>, u64)>,
    json: String,
    ctx: &ShardCtx,
    last_seq: &mut Option<u64>,
    live: bool,
) -> Frame {
    let seq = origin.as_ref().map(|(_, s)| *s);
    if seq.is_some() && seq != *last_seq {
        bump(&ctx.counters.events_in);
        *last_seq = seq;
    }
    let raw = ctx.publish_raw.then(|| json.clone());
    let event = match twilight_gateway::parse(json, WANTED_EVENTS | EventTypeFlags::GATEWAY_HELLO) {
        Ok(Some(GatewayEvent::Dispatch(_, event))) => event,
        Ok(Some(GatewayEvent::Hello(_))) => {
            bump(&ctx.counters.connections);
            return Frame::Hello;
        }
        Ok(_) => return Frame::Other,
        Err(_) => {
            bump(&ctx.counters.parse_errors);
            tracing::warn!(seq, "dispatch rejected by twilight-model");
            return Frame::Other;
        }
    };
    match event {
        DispatchEvent::Ready(ready) => {
            ctx.self_id.store(ready.user.id.get(), Ordering::Relaxed);
            bump(&ctx.counters.identifies);
            tracing::info!("session started (READY)");
            Frame::Session
        }
        DispatchEvent::Resumed => {
            bump(&ctx.counters.resumes);
            tracing::info!("session resumed");
            Frame::Session
        }
        event => {
            // Raw payloads are published for everything but interactions, whose
            // payload carries the interaction token.
            let raw_kind = match &event {
                DispatchEvent::InteractionCreate(_) => None,
                e => e.kind().name().map(str::to_ascii_lowercase),
            };
            let self_id = Id::new_checked(ctx.self_id.load(Ordering::Relaxed));
            if let Some(n) = normalize(event, self_id) {
                let raw = raw
                    .zip(raw_kind)
                    .map(|(json, kind)| RawPayload { kind, json });
                let origin = origin.as_ref().map(|(id, seq)| GatewayOrigin {
                    session_id: id,
                    sequence: *seq,
                });
                deliver(n, raw, origin, live, ctx).await;
            }
            Frame::Other
        }
    }
}

/// Applies `allow` and the handlers' interest, keeps the interaction token,
/// publishes the event (and raw) under
/// ids derived from Discord's ids, so a replayed dispatch is the same envelope. A
/// `live` dispatch (not a replay) of a fenced owner is a first publish
/// ([`Bus::publish_live`]).
async fn deliver(
    n: Normalized,
    raw: Option<RawPayload>,
    origin: Option<GatewayOrigin<'_>>,
    live: bool,
    ctx: &ShardCtx,
) {
    if !allowed(&ctx.allow, &n.event) {
        bump(&ctx.counters.filtered);
        return;
    }
    // An event no handler of the tenant wants (the bot's own message, for handlers
    // that ignore those) is not published; its raw payload still is.
    let wanted = ctx.interest.get().wants(&n.event);
    if !wanted {
        bump(&ctx.counters.filtered);
        if raw.is_none() {
            return;
        }
    }
    if let Some(t) = n.interaction {
        ctx.tokens
            .put(&t.interaction_id, &t.application_id, t.token)
            .await;
        // The 3-second window starts now: arm the deferral before publishing.
        if let Event::InteractionCreated(i) = &n.event {
            ctx.deferrals
                .arm(&i.interaction_id, i.kind, i.command_name.as_deref());
        }
    }
    let id = event_id(&ctx.tenant, &n.event, false, origin);
    let raw_id = raw
        .as_ref()
        .and_then(|_| event_id(&ctx.tenant, &n.event, true, origin));
    let mut payloads = Vec::with_capacity(2);
    if wanted {
        payloads.push((Payload::Event(n.event), id));
    }
    payloads.extend(raw.map(|r| (Payload::Raw(r), raw_id)));
    for (payload, id) in payloads {
        let published = match Envelope::new(&ctx.namespace, &ctx.tenant, payload) {
            Ok(env) => {
                let env = match id {
                    Some(id) => env.with_id(id),
                    None => env,
                };
                // Boxed: the bus's futures are large, and this task's stays small.
                Box::pin(async {
                    match ctx.fence.load(Ordering::Relaxed) {
                        0 => ctx.bus.publish(env).await,
                        fence if live => ctx.bus.publish_live(env, fence).await,
                        fence => ctx.bus.publish_fenced(env, fence).await,
                    }
                })
                .await
                .map_err(|e| match e {
                    BusError::Fenced { .. } => None,
                    e => Some(e.to_string()),
                })
            }
            Err(e) => Err(Some(e.to_string())),
        };
        match published {
            Ok(()) => bump(&ctx.counters.published),
            Err(None) => {
                stale(ctx, "publish");
                return;
            }
            Err(Some(error)) => {
                tracing::warn!(%error, "could not publish an event");
            }
        }
    }
}

/// Closes resumably and reads what is left until the close handshake ends.
///
/// A server that drops the connection without answering the close frame makes
/// twilight reconnect at once; its HELLO is the sign to stop: the shard has not sent
/// RESUME yet (it would on the next poll), so the session stays where it was.
async fn close(
    shard: &mut Shard<InMemoryQueue>,
    ctx: &ShardCtx,
    last_seq: &mut Option<u64>,
    session_id: &mut SessionId,
) {
    // Disconnected (between connections) or closed for good: polling would open a new
    // connection only to close it.
    if matches!(
        shard.state(),
        ShardState::Disconnected { .. } | ShardState::FatallyClosed
    ) {
        return;
    }
    shard.close(CloseFrame::RESUME);
    let drain = async {
        while let Some(item) = shard.next().await {
            match item {
                Ok(Message::Close(_)) => break,
                Ok(Message::Text(json)) => {
                    let origin = session_id.origin(shard);
                    // Not live: closing, whatever comes now is no first publish.
                    if handle_text(origin, json, ctx, last_seq, false).await == Frame::Hello {
                        break;
                    }
                }
                Err(_) => {}
            }
        }
    };
    if tokio::time::timeout(ctx.close_timeout, drain)
        .await
        .is_err()
    {
        tracing::warn!("close handshake timed out");
    }
    ctx.counters.observe(shard);
}

/// The shard's session id, kept so each frame shares it instead of copying it.
#[derive(Default)]
struct SessionId(Option<Arc<str>>);

impl SessionId {
    /// The shard's session id and last sequence number, owned (`Shard` is not
    /// `Sync`); the id is copied only when the session changes.
    fn origin(&mut self, shard: &Shard<InMemoryQueue>) -> Option<(Arc<str>, u64)> {
        let s = shard.session()?;
        if self.0.as_deref() != Some(s.id()) {
            self.0 = Some(Arc::from(s.id()));
        }
        self.0.clone().map(|id| (id, s.sequence()))
    }
}

/// The shard's session as it would be stored (`Shard` is not `Sync`: take what is
/// needed before awaiting).
fn snapshot(shard: &Shard<InMemoryQueue>, ctx: &ShardCtx) -> Option<StoredSession> {
    let s = shard.session()?;
    Some(StoredSession {
        session_id: s.id().to_owned(),
        sequence: s.sequence(),
        resume_url: shard.resume_url().map(str::to_owned),
        shard_total: ctx.counters.total,
        user_id: Some(ctx.self_id.load(Ordering::Relaxed)).filter(|id| *id != 0),
        saved_ms: now_ms(),
    })
}

/// A fenced write was refused: a newer owner holds the tenant. Stand down (the actor
/// stops the shards; its supervisor stands by).
fn stale(ctx: &ShardCtx, what: &'static str) {
    metrics::counter!("switchboard_gateway_fenced_writes_total", "write" => what).increment(1);
    tracing::warn!(
        write = what,
        "write refused: a newer owner holds the tenant; standing down"
    );
    let _ = ctx.actor.cast(GatewayMsg::LeaseLost {
        reason: format!("stale owner ({what} refused by a newer owner's fence)"),
    });
}

/// Stores the shard's session if it changed since the last save.
async fn save(stored: Option<StoredSession>, ctx: &ShardCtx, last: &mut Option<(String, u64)>) {
    let Some(stored) = stored else {
        return;
    };
    let key = (stored.session_id.clone(), stored.sequence);
    if last.as_ref() == Some(&key) {
        return;
    }
    let saved = match ctx.fence.load(Ordering::Relaxed) {
        0 => {
            ctx.sessions
                .save(&ctx.tenant, ctx.counters.id, &stored)
                .await
        }
        fence => {
            ctx.sessions
                .save_fenced(&ctx.tenant, ctx.counters.id, &stored, fence)
                .await
        }
    };
    match saved {
        Ok(()) => *last = Some(key),
        Err(GatewayError::Stale { .. }) => stale(ctx, "session"),
        Err(e) => {
            tracing::warn!(error = %crate::Report(&e), "could not store the gateway session");
        }
    }
}
