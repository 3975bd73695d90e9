//! Built-in handlers, enabled by name in the registry: the examples `ping` and
//! `echo`, and the store's `message-indexer`, `attachment-indexer`,
//! `embedding-indexer` and `backfill`
//! (`crate::store::indexer`).

use std::sync::{Arc, LazyLock};

use super::dispatch::DynHandler;
use super::{Ctx, Handler, HandlerResult, Interest};
use crate::commands::{AppCommand, Router};
use crate::model::{InteractionCreated, SocialMessageCreated};
use crate::store::indexer::{AttachmentIndexer, Backfill, EmbeddingIndexer, MessageIndexer};

/// The routed `/ping`, shared by every `Ping`.
static PING_ROUTES: LazyLock<Router> = LazyLock::new(|| {
    Router::named("ping").command(
        AppCommand::slash("ping", "Check that the bot answers: pong"),
        |_ctx, _i| async { "pong" },
    )
});

/// `!ping` → replies `pong`; the slash command `/ping` answers `pong` (a
/// [`Router`] route).
#[derive(Debug, Clone, Copy, Default)]
pub struct Ping;

impl Handler for Ping {
    fn name(&self) -> &'static str {
        "ping"
    }

    fn commands(&self) -> Vec<AppCommand> {
        Handler::commands(&*PING_ROUTES)
    }

    fn interest(&self) -> Interest {
        Interest::ALL.without_own_messages()
    }

    async fn on_message(&self, ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
        if msg.author.bot || msg.from_self || msg.content != "!ping" {
            return Ok(());
        }
        ctx.reply(msg, "pong").await?;
        Ok(())
    }

    async fn on_interaction(&self, ctx: &Ctx, i: &InteractionCreated) -> HandlerResult {
        PING_ROUTES.dispatch(ctx, i).await
    }
}

/// `!echo <text>` → replies `<text>`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

impl Handler for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }

    fn interest(&self) -> Interest {
        Interest::ALL.without_own_messages()
    }

    async fn on_message(&self, ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
        if msg.author.bot || msg.from_self {
            return Ok(());
        }
        let Some(text) = msg.content.strip_prefix("!echo ") else {
            return Ok(());
        };
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        ctx.reply(msg, text).await?;
        Ok(())
    }
}

/// The names of the built-in handlers.
pub const BUILTIN_HANDLERS: &[&str] = &[
    "ping",
    "echo",
    "message-indexer",
    "attachment-indexer",
    "embedding-indexer",
    "backfill",
];

/// The built-in handlers that need `runtime.store`.
pub const STORE_HANDLERS: &[&str] = &[
    "message-indexer",
    "attachment-indexer",
    "embedding-indexer",
    "backfill",
];

/// The built-in handler called `name`, if there is one.
pub(crate) fn builtin(name: &str) -> Option<Arc<dyn DynHandler>> {
    match name {
        "ping" => Some(Arc::new(Ping)),
        "echo" => Some(Arc::new(Echo)),
        "message-indexer" => Some(Arc::new(MessageIndexer)),
        "attachment-indexer" => Some(Arc::new(AttachmentIndexer)),
        "embedding-indexer" => Some(Arc::new(EmbeddingIndexer)),
        "backfill" => Some(Arc::new(Backfill)),
        _ => None,
    }
}
