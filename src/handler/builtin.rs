//! Built-in example handlers, enabled by name in the registry (`ping`, `echo`).

use std::sync::Arc;

use super::dispatch::DynHandler;
use super::{Ctx, Handler, HandlerResult};
use crate::commands::AppCommand;
use crate::model::{
    InteractionCreated, InteractionKind, InteractionResponse, MessageBody, SocialMessageCreated,
};

/// `!ping` → replies `pong`; the slash command `/ping` answers `pong`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ping;

impl Handler for Ping {
    fn name(&self) -> &'static str {
        "ping"
    }

    fn commands(&self) -> Vec<AppCommand> {
        vec![AppCommand::slash(
            "ping",
            "Check that the bot answers: pong",
        )]
    }

    async fn on_message(&self, ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
        if msg.author.bot || msg.from_self || msg.content != "!ping" {
            return Ok(());
        }
        ctx.reply(msg, "pong").await?;
        Ok(())
    }

    async fn on_interaction(&self, ctx: &Ctx, i: &InteractionCreated) -> HandlerResult {
        if i.kind != InteractionKind::Command || i.command_name.as_deref() != Some("ping") {
            return Ok(());
        }
        ctx.respond_interaction(i, InteractionResponse::Message(MessageBody::text("pong")))
            .await?;
        Ok(())
    }
}

/// `!echo <text>` → replies `<text>`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo;

impl Handler for Echo {
    fn name(&self) -> &'static str {
        "echo"
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
pub const BUILTIN_HANDLERS: &[&str] = &["ping", "echo"];

/// The built-in handler called `name`, if there is one.
pub(crate) fn builtin(name: &str) -> Option<Arc<dyn DynHandler>> {
    match name {
        "ping" => Some(Arc::new(Ping)),
        "echo" => Some(Arc::new(Echo)),
        _ => None,
    }
}
