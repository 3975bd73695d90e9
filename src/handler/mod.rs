//! The API library users program against: the [`Handler`] trait and its [`Ctx`].
//!
//! A handler reacts to a tenant's events. It never sees a provider SDK or a token:
//! everything it may do goes through [`Ctx`], which is scoped to the tenant of the
//! envelope being handled and turns each effect into a [`Command`](crate::model::Command)
//! answered by that tenant's access layer. The same handler value serves every tenant.
//! A handler says which events it wants ([`Handler::interest`]); an event none of a
//! tenant's handlers wants is not published at all.
//!
//! ```
//! use switchboard::handler::{Ctx, Handler, HandlerResult};
//! use switchboard::model::SocialMessageCreated;
//!
//! struct Greeter;
//!
//! impl Handler for Greeter {
//!     fn name(&self) -> &str {
//!         "greeter"
//!     }
//!
//!     async fn on_message(&self, ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
//!         if msg.author.bot || msg.content != "!hello" {
//!             return Ok(());
//!         }
//!         ctx.reply(msg, format!("hello, {}", msg.author.name)).await?;
//!         Ok(())
//!     }
//! }
//! ```

mod builtin;
mod ctx;
mod dispatch;
mod effect;
mod fetch;
mod interest;

use std::future::{Future, ready};

pub(crate) use builtin::builtin;
pub use builtin::{BUILTIN_HANDLERS, Echo, Ping, STORE_HANDLERS};
pub(crate) use ctx::CtxShared;
pub use ctx::{Ctx, CtxError};
// What `CtxError::Bus` holds: why a request could not be sent or went unanswered.
pub use crate::bus::BusError;
pub(crate) use dispatch::DynHandler;
pub use dispatch::{HandlerSet, UnknownHandler};
pub use effect::Effect;
pub use fetch::{
    DEFAULT_FETCH_MAX_BYTES, DEFAULT_FETCH_TIMEOUT, FetchError, FetchLimits, Fetched, HttpFetcher,
};
pub use interest::{Interest, InterestCell};

use crate::commands::AppCommand;
use crate::model::{
    InteractionCreated, Job, MemberJoined, MemberLeft, MemberUpdated, SocialMessageCreated,
    SocialMessageDeleted, SocialMessageUpdated,
};

/// Any error a handler returns; it is recorded with the delivery and the envelope is
/// retried, then dead-lettered.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// What a handler method returns.
pub type HandlerResult = Result<(), HandlerError>;

/// Reacts to a tenant's events. Every method has a default that does nothing, so a
/// handler implements only what it cares about. Methods may be written as `async fn`.
///
/// A handler is retried when it fails (returns an error, panics or times out) and must
/// therefore tolerate running more than once for the same event; effects made through
/// [`Ctx`] carry idempotency keys, so a retried post does not post twice.
pub trait Handler: Send + Sync + 'static {
    /// A stable name: it keys the idempotency record of (envelope, handler), so
    /// renaming a handler re-runs it for envelopes being retried.
    fn name(&self) -> &str;

    /// The application commands (slash commands, context menus) this handler
    /// serves. Each tenant the handler serves registers them with its provider, in
    /// the scope its registry entry chooses (`commands:`); see
    /// [`commands`](crate::commands). Called when the handler table is built (at
    /// start and on every reload), not per event. Default: none.
    ///
    /// ```
    /// use switchboard::commands::AppCommand;
    /// use switchboard::handler::Handler;
    ///
    /// struct Dice;
    ///
    /// impl Handler for Dice {
    ///     fn name(&self) -> &str {
    ///         "dice"
    ///     }
    ///
    ///     fn commands(&self) -> Vec<AppCommand> {
    ///         vec![AppCommand::slash("roll", "Roll a die")]
    ///     }
    /// }
    /// assert_eq!(Dice.commands()[0].name, "roll");
    /// ```
    fn commands(&self) -> Vec<AppCommand> {
        Vec::new()
    }

    /// Whether this handler runs once per message across the tenants of a namespace
    /// rather than once per tenant (a passive consumer such as an indexer: when
    /// several tenants see the same message in a shared guild, only the first to
    /// claim it runs the handler, and a retry of that tenant's delivery runs it
    /// again). Applies to message events (created, updated, deleted), keyed by
    /// provider, event kind and message id; other events run per tenant. Default:
    /// `false`.
    ///
    /// ```
    /// use switchboard::handler::Handler;
    ///
    /// struct Indexer;
    ///
    /// impl Handler for Indexer {
    ///     fn name(&self) -> &str {
    ///         "indexer"
    ///     }
    ///
    ///     fn once_per_message(&self) -> bool {
    ///         true
    ///     }
    /// }
    /// assert!(Indexer.once_per_message());
    /// ```
    fn once_per_message(&self) -> bool {
        false
    }

    /// Which events this handler is given (see [`Interest`]). A runtime's gateway
    /// does not publish an event none of the tenant's handlers wants, so a handler
    /// that never acts on the bot's own messages saves a bus round trip and a
    /// worker turn per reply by saying so. Called for every event: return a
    /// constant. Default: [`Interest::ALL`].
    ///
    /// ```
    /// use switchboard::handler::{Handler, Interest};
    ///
    /// struct Greeter;
    ///
    /// impl Handler for Greeter {
    ///     fn name(&self) -> &str {
    ///         "greeter"
    ///     }
    ///
    ///     fn interest(&self) -> Interest {
    ///         Interest::ALL.without_own_messages()
    ///     }
    /// }
    /// assert!(!Greeter.interest().own_messages());
    /// ```
    fn interest(&self) -> Interest {
        Interest::ALL
    }

    /// A new message.
    fn on_message(
        &self,
        _ctx: &Ctx,
        _msg: &SocialMessageCreated,
    ) -> impl Future<Output = HandlerResult> + Send {
        ready(Ok(()))
    }

    /// An edited message.
    fn on_message_updated(
        &self,
        _ctx: &Ctx,
        _msg: &SocialMessageUpdated,
    ) -> impl Future<Output = HandlerResult> + Send {
        ready(Ok(()))
    }

    /// A deleted message.
    fn on_message_deleted(
        &self,
        _ctx: &Ctx,
        _msg: &SocialMessageDeleted,
    ) -> impl Future<Output = HandlerResult> + Send {
        ready(Ok(()))
    }

    /// A command, component click, modal submit or autocomplete request.
    fn on_interaction(
        &self,
        _ctx: &Ctx,
        _interaction: &InteractionCreated,
    ) -> impl Future<Output = HandlerResult> + Send {
        ready(Ok(()))
    }

    /// A member joined.
    fn on_member_joined(
        &self,
        _ctx: &Ctx,
        _member: &MemberJoined,
    ) -> impl Future<Output = HandlerResult> + Send {
        ready(Ok(()))
    }

    /// A member left.
    fn on_member_left(
        &self,
        _ctx: &Ctx,
        _member: &MemberLeft,
    ) -> impl Future<Output = HandlerResult> + Send {
        ready(Ok(()))
    }

    /// A member changed.
    fn on_member_updated(
        &self,
        _ctx: &Ctx,
        _member: &MemberUpdated,
    ) -> impl Future<Output = HandlerResult> + Send {
        ready(Ok(()))
    }

    /// One of the tenant's schedules came due (registry `schedules:` or
    /// `RuntimeBuilder::schedule`): once per slot across the cluster, retried and
    /// dead-lettered like any event. A job naming a `handler` reaches only the
    /// handler of that name.
    fn on_job(&self, _ctx: &Ctx, _job: &Job) -> impl Future<Output = HandlerResult> + Send {
        ready(Ok(()))
    }
}
