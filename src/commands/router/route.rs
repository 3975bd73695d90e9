//! A route's function, type-erased: anything callable as `f(ctx, interaction)`
//! returning a future of an [`IntoReply`] — an `async fn` item or an `async move`
//! closure. Both arguments are owned (the context is a cheap clone), so closures may
//! capture what they like and keep it across awaits.

use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::guard::Guard;
use super::reply::{IntoReply, Reply};
use crate::handler::{Ctx, HandlerError};
use crate::model::InteractionCreated;

/// A route's function: `Fn(Ctx, InteractionCreated) -> impl Future<Output: IntoReply>`.
/// Implemented for every such function and closure; there is nothing to implement
/// by hand.
///
/// ```
/// use switchboard::commands::{Reply, UserError};
/// use switchboard::handler::{Ctx, HandlerError};
/// use switchboard::model::InteractionCreated;
///
/// async fn roll(_ctx: Ctx, i: InteractionCreated) -> Result<Reply, HandlerError> {
///     let sides: i64 = i.args().get("sides")?;
///     if sides < 2 {
///         return Err(UserError::new("a die has at least two sides").into());
///     }
///     Ok(Reply::text(format!("rolled a d{sides}")))
/// }
/// # fn takes(_: impl switchboard::commands::RouteFn) {}
/// # takes(roll);
/// # takes(|_ctx, _i| async { "pong" });
/// ```
pub trait RouteFn: Send + Sync + 'static {
    /// Runs the route.
    fn call(
        &self,
        ctx: Ctx,
        interaction: InteractionCreated,
    ) -> BoxFuture<'static, Result<Reply, HandlerError>>;
}

impl<F, Fut> RouteFn for F
where
    F: Fn(Ctx, InteractionCreated) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoReply,
{
    fn call(
        &self,
        ctx: Ctx,
        interaction: InteractionCreated,
    ) -> BoxFuture<'static, Result<Reply, HandlerError>> {
        let fut = self(ctx, interaction);
        Box::pin(async move { fut.await.into_reply() })
    }
}

/// A route: its function and the checks run before it.
#[derive(Clone)]
pub(super) struct Route {
    pub(super) run: Arc<dyn RouteFn>,
    pub(super) guards: Vec<Guard>,
}

impl Route {
    pub(super) fn new(f: impl RouteFn) -> Self {
        Self {
            run: Arc::new(f),
            guards: Vec::new(),
        }
    }
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("guards", &self.guards)
            .finish_non_exhaustive()
    }
}
