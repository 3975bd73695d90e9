//! The envelope: the one shape every message on the bus has.
//!
//! An envelope names its provider, tenant and topic, so the bus can route it and a
//! worker can scope a handler's context to the tenant without looking at the payload.
//! `id` is a ULID (unique and sortable by creation time); `corr` ties a response to
//! its request; `causation` names the envelope that caused this one.
//!
//! An event from a provider gets an id *derived* from the provider's own ids
//! ([`EnvelopeId::derived`]): the first delivery, a redelivery and a replay of the
//! same event after a gateway RESUME (on this node or on the node that took the
//! tenant over) are then one envelope, so idempotency marks and reply nonces, which
//! are keyed by the envelope id, match.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use ulid::Ulid;

use super::command::Command;
use super::event::{Event, InteractionKind};
use super::name::{ProviderName, TenantId, TenantName};
use super::priority::Priority;
use super::rest::RestResponse;
use super::topic::{Topic, TopicError};

/// The wire contract version this build writes and reads.
pub const CONTRACT_VERSION: u16 = 1;

/// An envelope id: a ULID, unique and ordered by creation time.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EnvelopeId(pub Ulid);

impl EnvelopeId {
    /// A fresh id.
    #[must_use]
    pub fn new() -> Self {
        Self(Ulid::new())
    }
}

impl EnvelopeId {
    /// An id derived from a stable identity: the same `(ts_ms, key)` gives the same
    /// id on every node and in every process, different keys differ (80 bits of
    /// SHA-256). `ts_ms` becomes the ULID's time part, so derived ids still sort by
    /// the provider's event time.
    #[must_use]
    pub fn derived(ts_ms: u64, key: &[u8]) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(key);
        let mut random = [0_u8; 16];
        random[6..].copy_from_slice(&digest[..10]);
        // ULID time is 48 bits: a clock beyond year 10889 would not fit; clamp.
        let ts = ts_ms.min((1 << 48) - 1);
        Self(Ulid::from_parts(ts, u128::from_be_bytes(random)))
    }
}

impl Default for EnvelopeId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for EnvelopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for EnvelopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnvelopeId({})", self.0)
    }
}

/// A raw provider payload, published on `...raw.<kind>` when raw publishing is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawPayload {
    /// The provider's event name in snake case, e.g. `message_create`.
    pub kind: String,
    /// The payload's JSON text as the provider sent it.
    pub json: String,
}

/// What an envelope carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
// Events are most of the traffic and an envelope is built once and moved a few
// times: boxing the largest variant would cost an allocation per event to save a
// few hundred bytes on the rarer commands and responses.
#[allow(clippy::large_enum_variant)]
pub enum Payload {
    /// Something happened on the provider.
    Event(Event),
    /// A handler asks the access layer to do something.
    Command(Command),
    /// The access layer's answer to a command.
    Response(RestResponse),
    /// A raw provider payload.
    Raw(RawPayload),
}

impl Payload {
    /// The topic `(area, name)` this payload travels on.
    #[must_use]
    pub fn topic_parts(&self) -> (&'static str, &str) {
        match self {
            Self::Event(e) => ("events", e.name()),
            Self::Command(_) => ("rest", "request"),
            Self::Response(_) => ("rest", "response"),
            Self::Raw(r) => ("raw", r.kind.as_str()),
        }
    }

    /// The priority class a worker serves this payload in.
    #[must_use]
    pub fn priority(&self) -> Priority {
        match self {
            Self::Event(Event::InteractionCreated(i)) => match i.kind {
                InteractionKind::Component => Priority::Component,
                InteractionKind::Command
                | InteractionKind::ModalSubmit
                | InteractionKind::Autocomplete => Priority::Interaction,
            },
            Self::Event(
                Event::MemberJoined(_) | Event::MemberLeft(_) | Event::MemberUpdated(_),
            ) => Priority::Member,
            Self::Command(Command::RespondInteraction(_) | Command::InteractionFailed(_))
            | Self::Response(_) => Priority::Interaction,
            Self::Command(Command::FetchHistory(_)) | Self::Raw(_) => Priority::Backfill,
            Self::Event(_) | Self::Command(_) => Priority::Message,
        }
    }
}

/// One message on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Contract version, [`CONTRACT_VERSION`] when written by this build.
    pub v: u16,
    /// Unique, time-ordered id; derived from the provider's ids for events, so a
    /// replayed event keeps it.
    pub id: EnvelopeId,
    /// The provider, e.g. `discord`.
    pub provider: ProviderName,
    /// The tenant, e.g. `duck`.
    pub tenant: TenantName,
    /// Where it travels; its provider and tenant equal the fields above.
    pub topic: Topic,
    /// When it was created, Unix milliseconds.
    pub ts: u64,
    /// Correlation id: a response carries its request's.
    #[serde(default)]
    pub corr: Option<EnvelopeId>,
    /// The envelope that caused this one.
    #[serde(default)]
    pub causation: Option<EnvelopeId>,
    /// The inbox a response should go to (requests only).
    #[serde(default)]
    pub reply_to: Option<String>,
    /// How many times delivery was attempted before this copy (0 on first publish).
    #[serde(default)]
    pub attempt: u32,
    /// The content.
    pub payload: Payload,
}

/// Milliseconds since the Unix epoch, saturating (a clock before 1970 reads as 0).
#[must_use]
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Envelope {
    /// A new envelope for `tenant` in namespace `ns`, on the topic its payload implies.
    ///
    /// # Errors
    /// A [`TopicError`] if `ns` (or a raw payload's kind) is not a valid segment.
    pub fn new(ns: &str, tenant: &TenantId, payload: Payload) -> Result<Self, TopicError> {
        let (area, name) = payload.topic_parts();
        let topic = Topic::new(ns, tenant, area, name)?;
        Ok(Self {
            v: CONTRACT_VERSION,
            id: EnvelopeId::new(),
            provider: tenant.provider.clone(),
            tenant: tenant.tenant.clone(),
            topic,
            ts: now_ms(),
            corr: None,
            causation: None,
            reply_to: None,
            attempt: 0,
            payload,
        })
    }

    /// The same envelope with id `id` (see [`EnvelopeId::derived`]).
    #[must_use]
    pub fn with_id(mut self, id: EnvelopeId) -> Self {
        self.id = id;
        self
    }

    /// A request that expects an answer at `reply_to`; its correlation id is its own id.
    ///
    /// # Errors
    /// As [`Envelope::new`].
    pub fn request(
        ns: &str,
        tenant: &TenantId,
        command: Command,
        reply_to: impl Into<String>,
    ) -> Result<Self, TopicError> {
        let mut env = Self::new(ns, tenant, Payload::Command(command))?;
        env.corr = Some(env.id);
        env.reply_to = Some(reply_to.into());
        Ok(env)
    }

    /// The answer to this envelope: same tenant, `corr` copied (or this id), caused by
    /// this envelope.
    #[must_use]
    pub fn reply(&self, response: RestResponse) -> Self {
        let payload = Payload::Response(response);
        let (area, name) = payload.topic_parts();
        let topic = Topic::new(self.topic.ns(), self.topic.tenant(), area, name)
            // The namespace and names were valid in `self`, and `rest.response` is a
            // constant, so this only falls back if the grammar itself changed.
            .unwrap_or_else(|_| self.topic.clone());
        Self {
            v: CONTRACT_VERSION,
            id: EnvelopeId::new(),
            provider: self.provider.clone(),
            tenant: self.tenant.clone(),
            topic,
            ts: now_ms(),
            corr: Some(self.corr.unwrap_or(self.id)),
            causation: Some(self.id),
            reply_to: None,
            attempt: 0,
            payload,
        }
    }

    /// The envelope's provider and tenant.
    #[must_use]
    pub fn tenant_id(&self) -> TenantId {
        TenantId::new(self.provider.clone(), self.tenant.clone())
    }

    /// The priority class of its payload.
    #[must_use]
    pub fn priority(&self) -> Priority {
        self.payload.priority()
    }
}
