//! Type erasure for handlers, and the table of which handlers serve which tenant.
//!
//! [`Handler`] uses `async fn`, which cannot be called through `dyn`; [`DynHandler`]
//! boxes each call's future so handlers of different types share one list.

use crate::state::Coordination;
use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::{Ctx, Handler, HandlerResult, Interest};
use crate::commands::{AppCommand, CommandSet};
use crate::model::{Event, TenantId};

/// An object-safe view of a [`Handler`].
pub(crate) trait DynHandler: Send + Sync {
    fn name(&self) -> &str;
    fn commands(&self) -> Vec<AppCommand>;
    fn once_per_message(&self) -> bool;
    fn interest(&self) -> Interest;
    fn handle<'a>(&'a self, ctx: &'a Ctx, event: &'a Event) -> BoxFuture<'a, HandlerResult>;
}

impl<H: Handler> DynHandler for H {
    fn name(&self) -> &str {
        Handler::name(self)
    }

    fn commands(&self) -> Vec<AppCommand> {
        Handler::commands(self)
    }

    fn once_per_message(&self) -> bool {
        Handler::once_per_message(self)
    }

    fn interest(&self) -> Interest {
        Handler::interest(self)
    }

    fn handle<'a>(&'a self, ctx: &'a Ctx, event: &'a Event) -> BoxFuture<'a, HandlerResult> {
        Box::pin(async move {
            match event {
                Event::SocialMessageCreated(m) => self.on_message(ctx, m).await,
                Event::SocialMessageUpdated(m) => self.on_message_updated(ctx, m).await,
                Event::SocialMessageDeleted(m) => self.on_message_deleted(ctx, m).await,
                Event::InteractionCreated(i) => self.on_interaction(ctx, i).await,
                Event::MemberJoined(m) => self.on_member_joined(ctx, m).await,
                Event::MemberLeft(m) => self.on_member_left(ctx, m).await,
                Event::MemberUpdated(m) => self.on_member_updated(ctx, m).await,
                Event::Job(j) => {
                    if j.handler
                        .as_deref()
                        .is_none_or(|h| h == Handler::name(self))
                    {
                        self.on_job(ctx, j).await
                    } else {
                        Ok(())
                    }
                }
            }
        })
    }
}

/// Everything a worker needs to serve one tenant.
#[derive(Clone)]
pub(crate) struct TenantHandlers {
    pub(crate) handlers: Vec<Arc<dyn DynHandler>>,
    pub(crate) settings: Arc<serde_json::Value>,
    pub(crate) coordination: Option<Coordination>,
}

/// Which handlers serve which tenant. Cheap to clone; replaced whole on reload.
///
/// ```
/// use std::sync::Arc;
/// use switchboard::handler::{HandlerSet, Ping};
/// use switchboard::model::TenantId;
///
/// let duck = TenantId::parse("discord", "duck")?;
/// let mut set = HandlerSet::new();
/// set.add(&duck, Arc::new(Ping));
/// set.add_builtin(&duck, "echo")?;
/// assert_eq!(set.handler_names(&duck), ["ping", "echo"]);
/// assert_eq!(set.commands(&duck).len(), 1, "ping declares /ping");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct HandlerSet {
    tenants: Arc<HashMap<TenantId, TenantHandlers>>,
}

/// A handler name that is not a built-in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown handler {0:?} (built-ins: ping, echo, message-indexer, attachment-indexer, backfill)"
)]
pub struct UnknownHandler(pub String);

impl HandlerSet {
    /// An empty set: no tenant has handlers.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn entry(&mut self, tenant: &TenantId) -> &mut TenantHandlers {
        Arc::make_mut(&mut self.tenants)
            .entry(tenant.clone())
            .or_insert_with(|| TenantHandlers {
                handlers: Vec::new(),
                settings: Arc::new(serde_json::Value::Null),
                coordination: None,
            })
    }

    /// Adds `handler` for `tenant`; handlers run in the order they were added.
    pub fn add<H: Handler>(&mut self, tenant: &TenantId, handler: Arc<H>) -> &mut Self {
        self.entry(tenant).handlers.push(handler);
        self
    }

    /// Adds the built-in handler called `name` for `tenant`.
    ///
    /// # Errors
    /// [`UnknownHandler`] if there is no such built-in.
    pub fn add_builtin(
        &mut self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<&mut Self, UnknownHandler> {
        let h = super::builtin(name).ok_or_else(|| UnknownHandler(name.to_owned()))?;
        self.entry(tenant).handlers.push(h);
        Ok(self)
    }

    /// Sets the `settings` handlers of `tenant` see in [`Ctx::settings`].
    pub fn set_settings(&mut self, tenant: &TenantId, settings: serde_json::Value) -> &mut Self {
        self.entry(tenant).settings = Arc::new(settings);
        self
    }

    /// Sets how `tenant`'s bot takes turns in shared channels
    /// ([`Ctx::claim_turn`](super::Ctx::claim_turn)); `None`: it answers everything.
    pub fn set_coordination(
        &mut self,
        tenant: &TenantId,
        policy: Option<Coordination>,
    ) -> &mut Self {
        self.entry(tenant).coordination = policy;
        self
    }

    /// The names of `tenant`'s handlers, in order.
    #[must_use]
    pub fn handler_names(&self, tenant: &TenantId) -> Vec<String> {
        self.tenants
            .get(tenant)
            .map(|t| t.handlers.iter().map(|h| h.name().to_owned()).collect())
            .unwrap_or_default()
    }

    /// What `tenant`'s handlers want, together ([`Handler::interest`]); `None` if it
    /// has no handlers here.
    #[must_use]
    pub fn interest(&self, tenant: &TenantId) -> Option<Interest> {
        self.tenants.get(tenant).and_then(|t| {
            t.handlers
                .iter()
                .map(|h| h.interest())
                .reduce(Interest::union)
        })
    }

    /// The application commands `tenant`'s handlers declare, together (each
    /// handler's [`Handler::commands`], in handler order; validation reports a name
    /// two handlers both declare).
    #[must_use]
    pub fn commands(&self, tenant: &TenantId) -> CommandSet {
        self.tenants
            .get(tenant)
            .map(|t| t.handlers.iter().flat_map(|h| h.commands()).collect())
            .unwrap_or_default()
    }

    /// Whether the set knows `tenant`.
    #[must_use]
    pub fn has_tenant(&self, tenant: &TenantId) -> bool {
        self.tenants.contains_key(tenant)
    }

    pub(crate) fn get(&self, tenant: &TenantId) -> Option<&TenantHandlers> {
        self.tenants.get(tenant)
    }
}
