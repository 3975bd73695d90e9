//! proptest strategies for arbitrary envelopes.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use switchboard::commands::{InteractionContext, Permissions};
use switchboard::model::{
    Attachment, Command, CommandOption, Envelope, EnvelopeId, Event, FetchHistory,
    InteractionCreated, InteractionKind, InteractionResponse, MemberLeft, MessageBody, OptionValue,
    Payload, PostMessage, RawPayload, RespondInteraction, RestErrorKind, RestResponse,
    SocialMessageCreated, TenantId, UserRef,
};
use ulid::Ulid;

pub(crate) fn segment() -> impl Strategy<Value = String> {
    "[a-z0-9_-]{1,16}"
}

pub(crate) fn tenant() -> impl Strategy<Value = TenantId> {
    (segment(), segment()).prop_map(|(p, t)| TenantId::parse(&p, &t).unwrap())
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,40}"
}

fn user() -> impl Strategy<Value = UserRef> {
    ("[0-9]{1,20}", text(), option::of(text()), any::<bool>()).prop_map(
        |(id, name, display_name, bot)| UserRef {
            id,
            name,
            display_name,
            bot,
        },
    )
}

fn option_value() -> impl Strategy<Value = OptionValue> {
    let leaf = prop_oneof![
        text().prop_map(OptionValue::String),
        any::<i64>().prop_map(OptionValue::Integer),
        any::<f64>()
            .prop_filter("NaN never equals itself", |f| !f.is_nan())
            .prop_map(OptionValue::Number),
        any::<bool>().prop_map(OptionValue::Boolean),
        "[0-9]{1,20}".prop_map(OptionValue::User),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        vec((segment(), inner), 0..4).prop_map(|opts| {
            OptionValue::SubCommand(
                opts.into_iter()
                    .map(|(name, value)| CommandOption {
                        name,
                        value,
                        focused: false,
                    })
                    .collect(),
            )
        })
    })
}

#[allow(clippy::too_many_lines)] // one strategy per event kind, side by side
fn event() -> impl Strategy<Value = Event> {
    let message = (
        "[0-9]{1,20}",
        "[0-9]{1,20}",
        option::of("[0-9]{1,20}"),
        user(),
        text(),
        vec(
            (
                "[0-9]{1,5}",
                text(),
                text(),
                any::<u64>(),
                option::of(text()),
            )
                .prop_map(|(id, filename, url, size, content_type)| Attachment {
                    id,
                    filename,
                    url,
                    size,
                    content_type,
                }),
            0..3,
        ),
        vec(user(), 0..3),
        option::of("[0-9]{1,20}"),
        any::<i64>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                message_id,
                channel_id,
                guild_id,
                author,
                content,
                attachments,
                mentions,
                reply_to,
                timestamp_ms,
                from_self,
            )| {
                Event::SocialMessageCreated(SocialMessageCreated {
                    message_id,
                    channel_id,
                    guild_id,
                    author,
                    content,
                    attachments,
                    mentions,
                    reply_to,
                    timestamp_ms,
                    from_self,
                })
            },
        );
    let interaction = (
        "[0-9]{1,20}",
        prop_oneof![
            Just(InteractionKind::Command),
            Just(InteractionKind::Component),
            Just(InteractionKind::ModalSubmit),
            Just(InteractionKind::Autocomplete)
        ],
        option::of(segment()),
        vec((segment(), option_value(), any::<bool>()), 0..4),
        user(),
        vec(text(), 0..3),
        vec("[0-9]{1,20}", 0..3),
        option::of(any::<u64>()),
    )
        .prop_map(
            |(interaction_id, kind, command_name, options, user, values, roles, perms)| {
                Event::InteractionCreated(InteractionCreated {
                    interaction_id,
                    kind,
                    command_name,
                    options: options
                        .into_iter()
                        .map(|(name, value, focused)| CommandOption {
                            name,
                            value,
                            focused,
                        })
                        .collect(),
                    custom_id: None,
                    values,
                    fields: vec![],
                    target_id: None,
                    message_id: None,
                    user,
                    channel_id: None,
                    guild_id: None,
                    locale: None,
                    member_roles: roles,
                    member_permissions: perms.map(Permissions::from_bits_retain),
                    app_permissions: None,
                    context: Some(InteractionContext::BotDm),
                })
            },
        );
    let left = ("[0-9]{1,20}", user())
        .prop_map(|(guild_id, user)| Event::MemberLeft(MemberLeft { guild_id, user }));
    prop_oneof![message, interaction, left]
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (
            "[0-9]{1,20}",
            text(),
            option::of("[0-9]{1,20}"),
            option::of("[a-z0-9]{1,25}")
        )
            .prop_map(
                |(channel_id, content, reply_to, nonce)| Command::PostMessage(PostMessage {
                    channel_id,
                    content,
                    reply_to,
                    embeds: vec![],
                    allowed_mentions: None,
                    nonce,
                })
            ),
        ("[0-9]{1,20}", option::of(text()), any::<bool>()).prop_map(|(id, content, ephemeral)| {
            Command::RespondInteraction(RespondInteraction {
                interaction_id: id,
                response: InteractionResponse::Followup(MessageBody {
                    content,
                    ephemeral,
                    ..MessageBody::default()
                }),
            })
        }),
        ("[0-9]{1,20}", 1u16..=100).prop_map(|(channel_id, limit)| Command::FetchHistory(
            FetchHistory {
                channel_id,
                before: None,
                after: None,
                limit,
            }
        )),
    ]
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        event().prop_map(Payload::Event),
        command().prop_map(Payload::Command),
        (any::<u16>(), option::of(any::<u64>()), option::of(text())).prop_map(
            |(status, retry, error)| {
                let mut r = RestResponse::failure(status, RestErrorKind::RateLimited, "limited");
                r.retry_after_ms = retry;
                r.error = error;
                Payload::Response(r)
            }
        ),
        (segment(), text()).prop_map(|(kind, json)| Payload::Raw(RawPayload { kind, json })),
    ]
}

pub(crate) fn envelope() -> impl Strategy<Value = Envelope> {
    (
        segment(),
        tenant(),
        payload(),
        any::<u128>(),
        any::<u64>(),
        option::of(any::<u128>()),
        option::of(text()),
        any::<u32>(),
    )
        .prop_map(|(ns, tenant, payload, id, ts, corr, reply_to, attempt)| {
            let mut env = Envelope::new(&ns, &tenant, payload).unwrap();
            env.id = EnvelopeId(Ulid(id));
            env.ts = ts;
            env.corr = corr.map(|c| EnvelopeId(Ulid(c)));
            env.reply_to = reply_to;
            env.attempt = attempt;
            env
        })
}
