//! Provider-neutral model: envelopes, topics, URNs, events and commands.
//!
//! Everything that crosses the bus is defined here, independent of any provider SDK:
//! the access layer translates provider payloads into these types, and workers only
//! ever see these types.

mod codec;
mod command;
mod envelope;
mod event;
mod name;
mod priority;
mod rest;
mod topic;
mod urn;

pub use codec::{CodecError, MAX_ENVELOPE_BYTES, decode, encode};
pub use command::{
    AllowedMentions, Choice, ChoiceValue, Command, Embed, EmbedField, FetchHistory,
    InteractionFailed, InteractionResponse, MentionKind, MessageBody, PostMessage,
    RespondInteraction, RoleChange, SendDirectMessage, TextInput,
};
pub use envelope::{CONTRACT_VERSION, Envelope, EnvelopeId, Payload, RawPayload, now_ms};
pub use event::{
    Attachment, CommandOption, Event, InteractionCreated, InteractionKind, Job, JobPayload,
    MemberJoined, MemberLeft, MemberUpdated, ModalField, OptionValue, SocialMessageCreated,
    SocialMessageDeleted, SocialMessageUpdated, UserRef,
};
pub use name::{
    MAX_SEGMENT_LEN, NameError, ProviderName, SegmentError, TenantId, TenantName, validate_segment,
};
pub use priority::Priority;
pub use rest::{RestErrorKind, RestResponse, RestResult};
pub use topic::{DEFAULT_NAMESPACE, Topic, TopicError, TopicPart};
pub use urn::{Urn, UrnError, UrnPart, from_urn, to_urn};
