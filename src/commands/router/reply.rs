//! What a route returns: a [`Reply`] the router sends as the interaction's answer,
//! nothing (the route answered itself), or an error — a [`UserError`], an
//! [`ArgError`](crate::commands::ArgError) or a [`Denied`](super::Denied) becomes an
//! ephemeral answer to the user; any other error fails the delivery (retried).

use crate::handler::HandlerError;
use crate::model::{Choice, ChoiceValue, InteractionResponse, MessageBody, TextInput};

/// The answer a route gives its interaction. The router sends it with
/// [`Ctx::respond_interaction`](crate::handler::Ctx::respond_interaction).
///
/// ```
/// use switchboard::commands::Reply;
/// use switchboard::model::InteractionResponse;
///
/// let r = Reply::ephemeral("only you see this");
/// assert!(matches!(r.into_response(), Some(InteractionResponse::Message(b)) if b.ephemeral));
/// assert!(Reply::none().into_response().is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[must_use]
pub struct Reply(Option<InteractionResponse>);

impl Reply {
    /// No answer from the router: the route answered (or deliberately did not).
    pub fn none() -> Self {
        Self(None)
    }

    /// A message everyone in the channel sees.
    pub fn text(content: impl Into<String>) -> Self {
        Self::message(MessageBody::text(content))
    }

    /// A message only the invoking user sees.
    pub fn ephemeral(content: impl Into<String>) -> Self {
        Self::message(MessageBody {
            ephemeral: true,
            ..MessageBody::text(content)
        })
    }

    /// A fully specified message.
    pub fn message(body: MessageBody) -> Self {
        Self(Some(InteractionResponse::Message(body)))
    }

    /// Edits the message a clicked component is on (components only).
    pub fn update(body: MessageBody) -> Self {
        Self(Some(InteractionResponse::UpdateMessage(body)))
    }

    /// Opens a modal form; its submission reaches the [`modal`](super::Router::modal)
    /// route whose prefix `custom_id` starts with.
    pub fn modal(
        custom_id: impl Into<String>,
        title: impl Into<String>,
        inputs: impl IntoIterator<Item = TextInput>,
    ) -> Self {
        Self(Some(InteractionResponse::Modal {
            custom_id: custom_id.into(),
            title: title.into(),
            inputs: inputs.into_iter().collect(),
        }))
    }

    /// Autocomplete suggestions (autocomplete routes; at most 25 are sent).
    pub fn choices(choices: impl IntoIterator<Item = Choice>) -> Self {
        Self(Some(InteractionResponse::Autocomplete(
            choices.into_iter().take(25).collect(),
        )))
    }

    /// Text suggestions whose name is their value.
    pub fn string_choices<S: Into<String>>(values: impl IntoIterator<Item = S>) -> Self {
        Self::choices(values.into_iter().map(|v| {
            let v = v.into();
            Choice {
                name: v.clone(),
                value: ChoiceValue::String(v),
            }
        }))
    }

    /// Acknowledges now; the route answers later with a followup or an edit of the
    /// original (`Ctx::respond_interaction`).
    pub fn defer(ephemeral: bool) -> Self {
        Self(Some(InteractionResponse::DeferredMessage { ephemeral }))
    }

    /// The response to send, if any.
    #[must_use]
    pub fn into_response(self) -> Option<InteractionResponse> {
        self.0
    }
}

impl From<InteractionResponse> for Reply {
    fn from(r: InteractionResponse) -> Self {
        Self(Some(r))
    }
}

/// A message for the user who ran the command, answered ephemerally by the router
/// ("no session is running in this server"). Return it with `?` from a route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

impl UserError {
    /// A user-facing error with this text.
    #[must_use]
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }
}

/// What a route may return: `()`, a [`Reply`], an [`InteractionResponse`], text (a
/// visible message), or a `Result` of those whose error converts into a
/// [`HandlerError`].
pub trait IntoReply {
    /// The reply, or the route's error.
    ///
    /// # Errors
    /// The route's error.
    fn into_reply(self) -> Result<Reply, HandlerError>;
}

impl IntoReply for () {
    fn into_reply(self) -> Result<Reply, HandlerError> {
        Ok(Reply::none())
    }
}

impl IntoReply for Reply {
    fn into_reply(self) -> Result<Reply, HandlerError> {
        Ok(self)
    }
}

impl IntoReply for InteractionResponse {
    fn into_reply(self) -> Result<Reply, HandlerError> {
        Ok(self.into())
    }
}

impl IntoReply for String {
    fn into_reply(self) -> Result<Reply, HandlerError> {
        Ok(Reply::text(self))
    }
}

impl IntoReply for &'static str {
    fn into_reply(self) -> Result<Reply, HandlerError> {
        Ok(Reply::text(self))
    }
}

impl<T: IntoReply, E: Into<HandlerError>> IntoReply for Result<T, E> {
    fn into_reply(self) -> Result<Reply, HandlerError> {
        self.map_err(Into::into)?.into_reply()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_convert() {
        assert_eq!(().into_reply().ok(), Some(Reply::none()));
        assert_eq!("pong".into_reply().ok(), Some(Reply::text("pong")));
        let r: Result<Reply, UserError> = Err(UserError::new("no"));
        let err = r.into_reply().expect_err("an error");
        assert_eq!(err.to_string(), "no");
        assert!(err.downcast_ref::<UserError>().is_some());
        let many = Reply::string_choices((0..40).map(|n| n.to_string()));
        assert!(
            matches!(many.into_response(), Some(InteractionResponse::Autocomplete(c)) if c.len() == 25)
        );
    }
}
