//! Conformance tests: every payload the emulator builds parses with twilight-model
//! 0.18 (which is strict), both as gateway events and as REST models.

use serde_json::{Value, json};
use twilight_gateway::EventTypeFlags;

use super::config::{ChannelConfig, GuildConfig};
use super::messages::StoredMessage;
use super::payloads::{self, InteractionBase, Ready, SimUser};

fn user(id: u64, bot: bool) -> SimUser {
    SimUser {
        id,
        username: format!("u{id}"),
        bot,
    }
}

fn parse_event(t: &str, d: &Value) -> twilight_model::gateway::event::GatewayEvent {
    let frame = payloads::dispatch_frame(t, 1, &d.to_string());
    match twilight_gateway::parse(frame.clone(), EventTypeFlags::all()) {
        Ok(Some(e)) => e,
        other => panic!("{t} did not parse: {other:?}\n{frame}"),
    }
}

fn message() -> StoredMessage {
    StoredMessage {
        id: 334_385_199_974_967_042,
        channel_id: 21,
        guild_id: Some(1 << 22),
        tenant: None,
        author: user(5, false),
        content: "hello".into(),
        embeds: json!([]),
        components: json!([]),
        mentions: vec![user(7, true)],
        nonce: Some(json!("n1")),
        created: std::time::Instant::now(),
        edited_unix_ms: Some(1_499_794_027_299),
        kind: 19,
        message_reference: Some(json!({"type": 0, "message_id": "334385199974967041",
            "channel_id": "21"})),
        flags: 0,
        webhook_id: None,
        interaction_id: None,
        application_id: None,
        attachments: vec![super::cdn::StoredAttachment {
            id: 334_385_199_974_967_043,
            filename: "notes.txt".into(),
            content_type: Some("text/plain".into()),
            size: 5,
            url: "http://127.0.0.1:1/attachments/21/334385199974967043/notes.txt".into(),
        }],
    }
}

#[test]
fn gateway_payloads_parse() {
    let bot = user(7, true);
    let guild = GuildConfig {
        id: 1 << 22,
        name: "g".into(),
        channels: vec![ChannelConfig {
            id: 21,
            name: "general".into(),
        }],
        roles: Vec::new(),
        any_channel: false,
    };
    let ready = Ready {
        bot: &bot,
        guild_ids: &[1 << 22],
        session_id: "abc",
        resume_gateway_url: "ws://127.0.0.1:1/gateway",
        shard: Some([0, 1]),
        application_id: 11,
    };
    parse_event("READY", &ready.to_json());
    parse_event(
        "GUILD_CREATE",
        &payloads::guild_create(&guild, &bot, 1_499_794_027_299),
    );

    let mut m = message().to_json();
    m["member"] = payloads::partial_member(&[3], 1_499_794_027_299);
    match parse_event("MESSAGE_CREATE", &m) {
        twilight_model::gateway::event::GatewayEvent::Dispatch(
            _,
            twilight_model::gateway::event::DispatchEvent::MessageCreate(mc),
        ) => {
            assert_eq!(mc.attachments.len(), 1);
            assert_eq!(mc.attachments[0].filename, "notes.txt");
            assert_eq!(mc.attachments[0].size, 5);
        }
        other => panic!("not a message: {other:?}"),
    }
    parse_event("MESSAGE_UPDATE", &m);
    let mut redacted = message().view(99, false);
    assert_eq!(redacted["content"], "");
    redacted["member"] = payloads::partial_member(&[], 0);
    parse_event("MESSAGE_CREATE", &redacted);
    parse_event(
        "MESSAGE_DELETE",
        &json!({"id": "1", "channel_id": "21", "guild_id": "4194304"}),
    );

    let mut add = payloads::member(&user(5, false), &[3], 0);
    add["guild_id"] = json!("4194304");
    parse_event("GUILD_MEMBER_ADD", &add);
    parse_event("GUILD_MEMBER_UPDATE", &add);
    parse_event(
        "GUILD_MEMBER_REMOVE",
        &json!({"guild_id": "4194304", "user": payloads::user(&user(5, false))}),
    );
}

#[test]
fn interactions_parse() {
    let u = user(5, false);
    let datas = [
        (
            2,
            json!({"id": "9", "name": "ping", "type": 1,
            "options": [{"type": 3, "name": "q", "value": "x"}]}),
        ),
        (
            4,
            json!({"id": "9", "name": "ping", "type": 1,
            "options": [{"type": 3, "name": "q", "value": "x", "focused": true}]}),
        ),
        (3, json!({"component_type": 2, "custom_id": "b"})),
        (
            3,
            json!({"component_type": 3, "custom_id": "s", "values": ["a"]}),
        ),
        (5, json!({"custom_id": "m", "components": []})),
    ];
    for guild in [Some(1 << 22), None] {
        for (kind, data) in &datas {
            let d = InteractionBase {
                id: 12,
                application_id: 11,
                kind: *kind,
                token: "tok",
                guild_id: guild,
                channel_id: 21,
                user: &u,
                roles: &[3],
                guild: None,
                joined_unix_ms: 0,
                data: data.clone(),
                message: (*kind == 3).then(|| message().to_json()),
            }
            .to_json();
            parse_event("INTERACTION_CREATE", &d);
        }
    }
}

#[test]
fn rest_payloads_parse() {
    use twilight_model::channel::{Channel, Message};
    use twilight_model::user::CurrentUser;
    let m: Result<Message, _> = serde_json::from_value(message().to_json());
    assert!(m.is_ok(), "{m:?}");
    let c: Result<Channel, _> = serde_json::from_value(payloads::dm_channel(30, &user(5, false)));
    assert!(c.is_ok(), "{c:?}");
    let me: Result<CurrentUser, _> = serde_json::from_value(payloads::current_user(7, "bot"));
    assert!(me.is_ok(), "{me:?}");
}
