//! [`Effect`]: a command the tenant's access layer has accepted. A handler's
//! `ctx.reply(..).await?` returns one as soon as the tenant's REST queue holds the
//! command (durably, on Redis), so the worker is free while the REST actor waits for
//! its rate-limit window; `.response().await` waits for the result when the handler
//! needs it. Dropping it is the normal case: the response is settled quietly.
//! At-least-once and idempotency hold as before: the command carries its nonce,
//! and the queue delivers it until the REST actor answers. (On Redis a command
//! for a `RestActor` on the handler's own node is queued there without a write:
//! the event's delivery stays unacknowledged until the command is answered, so a
//! crash redelivers the event and the handler sends the command again.)

use crate::bus::PendingReply;
use crate::model::{Envelope, Payload, RestErrorKind, RestResponse};

use super::ctx::CtxError;

/// A command the access layer has accepted; its response is yet to come.
#[derive(Debug)]
pub struct Effect {
    command: &'static str,
    reply: PendingReply,
}

impl Effect {
    pub(crate) fn new(command: &'static str, reply: PendingReply) -> Self {
        Self { command, reply }
    }

    /// The command's name, e.g. `post_message`.
    #[must_use]
    pub fn command(&self) -> &'static str {
        self.command
    }

    /// Waits for the access layer's answer (at most the handler's request timeout).
    ///
    /// # Errors
    /// [`CtxError::Bus`] on a timeout; [`CtxError::Rejected`] when the access layer
    /// reports a failure.
    pub async fn response(self) -> Result<RestResponse, CtxError> {
        let reply = self.reply.wait().await?;
        response_of(self.command, reply)
    }
}

/// The response a reply envelope carries, or the failure it reports.
pub(crate) fn response_of(
    command: &'static str,
    reply: Envelope,
) -> Result<RestResponse, CtxError> {
    let Payload::Response(response) = reply.payload else {
        return Err(CtxError::NoResponse { command });
    };
    if response.ok {
        Ok(response)
    } else {
        Err(CtxError::Rejected {
            command,
            kind: response.error_kind.unwrap_or(RestErrorKind::Other),
            status: response.status,
            message: response.error.clone().unwrap_or_default(),
            retry_after_ms: response.retry_after_ms,
        })
    }
}
