//! Golden (snapshot) tests: the JSON shape and the MessagePack bytes of one envelope per
//! payload kind, and the topics they travel on. A change here is a wire-contract change.

use switchboard::commands::{InteractionContext, Permissions};
use switchboard::model::{
    Command, CommandOption, Envelope, EnvelopeId, Event, InteractionCreated, InteractionKind,
    InteractionResponse, MessageBody, OptionValue, Payload, PostMessage, RawPayload,
    RespondInteraction, RestResponse, RestResult, SocialMessageCreated, TenantId, Topic, UserRef,
    decode, encode,
};
use ulid::Ulid;

fn duck() -> TenantId {
    TenantId::parse("discord", "duck").unwrap()
}

/// An envelope with a fixed id and timestamp, so snapshots are stable.
fn fixed(payload: Payload, n: u128) -> Envelope {
    let mut env = Envelope::new("promethean", &duck(), payload).unwrap();
    env.id = EnvelopeId(Ulid(0x0192_0000_0000_0000_0000_0000_0000_0000 + n));
    env.ts = 1_700_000_000_000;
    env
}

fn message() -> SocialMessageCreated {
    SocialMessageCreated {
        message_id: "1100000000000000001".into(),
        channel_id: "222222222222222222".into(),
        guild_id: Some("111111111111111111".into()),
        author: UserRef {
            id: "333333333333333333".into(),
            name: "mallard".into(),
            display_name: Some("Mallard".into()),
            bot: false,
        },
        content: "!ping".into(),
        attachments: vec![],
        mentions: vec![],
        reply_to: None,
        timestamp_ms: 1_700_000_000_000,
        from_self: false,
    }
}

#[test]
fn topics_follow_the_grammar() {
    let topics: Vec<String> = [
        Payload::Event(Event::SocialMessageCreated(message())),
        Payload::Command(Command::PostMessage(PostMessage {
            channel_id: "1".into(),
            content: "x".into(),
            reply_to: None,
            embeds: vec![],
            allowed_mentions: None,
            nonce: None,
        })),
        Payload::Response(RestResponse::success(200, RestResult::Empty)),
        Payload::Raw(RawPayload {
            kind: "message_create".into(),
            json: "{}".into(),
        }),
    ]
    .into_iter()
    .map(|p| fixed(p, 0).topic.to_string())
    .collect();
    insta::assert_yaml_snapshot!(topics, @r"
    - promethean.p.discord.t.duck.events.social_message_created
    - promethean.p.discord.t.duck.rest.request
    - promethean.p.discord.t.duck.rest.response
    - promethean.p.discord.t.duck.raw.message_create
    ");
    assert_eq!(
        Topic::parse("promethean.p.discord.t.duck.rest.request")
            .unwrap()
            .tenant(),
        &duck()
    );
}

#[test]
fn message_event_envelope() {
    let env = fixed(Payload::Event(Event::SocialMessageCreated(message())), 1);
    insta::assert_json_snapshot!(env);
    insta::assert_snapshot!("message_event_msgpack", hex(&encode(&env).unwrap()));
    assert_eq!(decode(&encode(&env).unwrap()).unwrap(), env);
}

#[test]
fn interaction_event_envelope() {
    let env = fixed(
        Payload::Event(Event::InteractionCreated(InteractionCreated {
            interaction_id: "1200000000000000001".into(),
            kind: InteractionKind::Command,
            command_name: Some("ping".into()),
            options: vec![CommandOption {
                name: "loud".into(),
                value: OptionValue::Boolean(true),
                focused: false,
            }],
            custom_id: None,
            values: vec![],
            fields: vec![],
            target_id: None,
            message_id: None,
            user: UserRef {
                id: "333333333333333333".into(),
                name: "mallard".into(),
                display_name: None,
                bot: false,
            },
            channel_id: Some("222222222222222222".into()),
            guild_id: Some("111111111111111111".into()),
            locale: Some("en-US".into()),
            member_roles: vec!["444444444444444444".into()],
            member_permissions: Some(Permissions::MANAGE_GUILD | Permissions::SEND_MESSAGES),
            app_permissions: Some(Permissions::SEND_MESSAGES),
            context: Some(InteractionContext::Guild),
        })),
        2,
    );
    insta::assert_json_snapshot!(env);
    assert_eq!(decode(&encode(&env).unwrap()).unwrap(), env);
}

#[test]
fn command_request_and_response_envelopes() {
    let mut req = Envelope::request(
        "promethean",
        &duck(),
        Command::RespondInteraction(RespondInteraction {
            interaction_id: "1200000000000000001".into(),
            response: InteractionResponse::Message(MessageBody::text("pong")),
        }),
        "node-a",
    )
    .unwrap();
    req.id = EnvelopeId(Ulid(0x0192_0000_0000_0000_0000_0000_0000_0003));
    req.corr = Some(req.id);
    req.ts = 1_700_000_000_000;
    let mut resp = req.reply(RestResponse::success(
        200,
        RestResult::Message {
            message_id: "1300000000000000001".into(),
            channel_id: "222222222222222222".into(),
        },
    ));
    resp.id = EnvelopeId(Ulid(0x0192_0000_0000_0000_0000_0000_0000_0004));
    resp.ts = 1_700_000_000_001;
    assert_eq!(
        resp.corr,
        Some(req.id),
        "a response carries its request's correlation id"
    );
    assert_eq!(resp.causation, Some(req.id));
    insta::assert_json_snapshot!("request", req);
    insta::assert_json_snapshot!("response", resp);
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .chunks(32)
        .map(|c| {
            c.iter().fold(String::new(), |mut s, b| {
                use std::fmt::Write as _;
                let _ = write!(s, "{b:02x}");
                s
            })
        })
        .collect::<Vec<_>>()
        .join("\n")
}
