//! Gateway: identify, dispatch shapes, sharding, `MESSAGE_CONTENT`, compression and
//! the documented close codes.

use futures_util::SinkExt;
use serde_json::json;
use switchboard::sim::{InjectMessage, intents};
use twilight_gateway::{EventTypeFlags, Intents, StreamExt as _};
use twilight_model::gateway::event::Event;

use crate::util::{
    CHAN_A, CHAN_B, DUCK_BOT, DUCK_TOKEN, Frame, GOOSE_BOT, GOOSE_TOKEN, GUILD_A, GUILD_B, LONG,
    RawWs, config, eventually, message_intents, next_dispatch, next_payload, shard, start, user,
    within,
};

#[tokio::test]
async fn twilight_shard_identifies_and_receives_an_injected_message() {
    let sim = start(config()).await;
    let mut shard = shard(&sim, DUCK_TOKEN, message_intents(), 0, 1);
    let ready = next_dispatch(&mut shard, "READY").await;
    assert_eq!(ready["d"]["user"]["id"], DUCK_BOT.to_string());
    assert_eq!(ready["d"]["resume_gateway_url"], sim.gateway_url());
    let guild = next_dispatch(&mut shard, "GUILD_CREATE").await;
    assert!(
        [GUILD_A.to_string(), GUILD_B.to_string()]
            .contains(&guild["d"]["id"].as_str().unwrap_or_default().to_owned())
    );

    let id = sim
        .inject_message(InjectMessage::guild(
            GUILD_A,
            CHAN_A,
            user(42, "alice"),
            "hello duck",
        ))
        .expect("inject");
    let event = within(LONG, async {
        loop {
            match shard.next_event(EventTypeFlags::all()).await {
                Some(Ok(Event::MessageCreate(m))) => return m,
                Some(_) => {}
                None => panic!("shard ended"),
            }
        }
    })
    .await;
    assert_eq!(event.id.get(), id);
    assert_eq!(event.content, "hello duck");
    assert_eq!(event.author.id.get(), 42);
    assert_eq!(event.author.name, "alice");
    assert_eq!(
        event.guild_id.map(twilight_model::id::Id::get),
        Some(GUILD_A)
    );
    assert!(
        event.member.is_some(),
        "guild messages carry the author's member"
    );
    let stats = sim.stats().tenant("duck");
    assert_eq!((stats.identifies, stats.resumes), (1, 0));
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_token_closes_4004_and_other_tenant_is_unaffected() {
    let sim = start(config()).await;
    let mut bad = shard(&sim, "not-a-token", message_intents(), 0, 1);
    let mut good = shard(&sim, GOOSE_TOKEN, Intents::GUILD_MESSAGES, 0, 1);
    let code = loop {
        if let Err(code) = next_payload(&mut bad).await {
            break code;
        }
    };
    assert_eq!(code, Some(4004));
    next_dispatch(&mut good, "GUILD_CREATE").await;
    sim.inject_message(InjectMessage::guild(
        GUILD_A,
        CHAN_A,
        user(42, "alice"),
        "hi",
    ))
    .expect("inject");
    let m = next_dispatch(&mut good, "MESSAGE_CREATE").await;
    assert_eq!(m["d"]["author"]["id"], "42");
    assert_eq!(sim.stats().tenant("goose").identifies, 1);
    drop(bad);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_reset_token_refuses_the_old_one_and_accepts_the_new() {
    let sim = start(config()).await;
    assert!(
        sim.reset_token("duck", GOOSE_TOKEN).is_err(),
        "goose's token"
    );
    assert!(sim.reset_token("nobody", "x").is_err());
    sim.reset_token("duck", "duck-token.rotated").unwrap();
    let mut old = shard(&sim, DUCK_TOKEN, message_intents(), 0, 1);
    let code = loop {
        if let Err(code) = next_payload(&mut old).await {
            break code;
        }
    };
    assert_eq!(code, Some(4004), "the old token is refused");
    let mut new = shard(&sim, "duck-token.rotated", message_intents(), 0, 1);
    let ready = next_dispatch(&mut new, "READY").await;
    assert_eq!(ready["d"]["user"]["id"], DUCK_BOT.to_string());
    assert_eq!(sim.stats().tenant("duck").identifies, 1);
    drop(old);
    sim.shutdown().await;
}

#[tokio::test]
async fn two_shards_each_receive_only_their_guilds() {
    let sim = start(config()).await;
    let mut s0 = shard(&sim, DUCK_TOKEN, message_intents(), 0, 2);
    let mut s1 = shard(&sim, DUCK_TOKEN, message_intents(), 1, 2);
    let r0 = next_dispatch(&mut s0, "READY").await;
    let r1 = next_dispatch(&mut s1, "READY").await;
    assert_eq!(
        r0["d"]["guilds"],
        json!([{"id": GUILD_A.to_string(), "unavailable": true}])
    );
    assert_eq!(
        r1["d"]["guilds"],
        json!([{"id": GUILD_B.to_string(), "unavailable": true}])
    );
    assert_eq!(r1["d"]["shard"], json!([1, 2]));
    assert_eq!(
        next_dispatch(&mut s0, "GUILD_CREATE").await["d"]["id"],
        GUILD_A.to_string()
    );
    assert_eq!(
        next_dispatch(&mut s1, "GUILD_CREATE").await["d"]["id"],
        GUILD_B.to_string()
    );

    // B's message first, then A's: shard 0 must see A's without B's before it.
    let author = user(42, "alice");
    sim.inject_message(InjectMessage::guild(
        GUILD_B,
        CHAN_B,
        author.clone(),
        "to-b",
    ))
    .expect("inject b");
    sim.inject_message(InjectMessage::guild(
        GUILD_A,
        CHAN_A,
        author.clone(),
        "to-a",
    ))
    .expect("inject a");
    assert_eq!(
        next_dispatch(&mut s0, "MESSAGE_CREATE").await["d"]["content"],
        "to-a"
    );
    assert_eq!(
        next_dispatch(&mut s1, "MESSAGE_CREATE").await["d"]["content"],
        "to-b"
    );
    // And the other way round for shard 1.
    sim.inject_message(InjectMessage::guild(GUILD_A, CHAN_A, author.clone(), "a-2"))
        .expect("inject");
    sim.inject_message(InjectMessage::guild(GUILD_B, CHAN_B, author, "b-2"))
        .expect("inject");
    assert_eq!(
        next_dispatch(&mut s1, "MESSAGE_CREATE").await["d"]["content"],
        "b-2"
    );
    assert_eq!(
        next_dispatch(&mut s0, "MESSAGE_CREATE").await["d"]["content"],
        "a-2"
    );
    sim.shutdown().await;
}

async fn next_create(ws: &mut RawWs) -> serde_json::Value {
    loop {
        let p = ws.json().await;
        if p["t"] == "MESSAGE_CREATE" {
            return p["d"].clone();
        }
    }
}

#[tokio::test]
async fn message_content_intent_is_honoured() {
    let sim = start(config()).await;
    // goose has no privileged intents: asking for MESSAGE_CONTENT is refused.
    let mut raw = RawWs::connect(&sim, false).await;
    raw.json().await; // HELLO
    raw.identify(
        GOOSE_TOKEN,
        intents::GUILD_MESSAGES | intents::MESSAGE_CONTENT,
        None,
    )
    .await;
    assert_eq!(raw.close_code().await, Some(4014));

    let wanted = intents::GUILDS | intents::GUILD_MESSAGES | intents::DIRECT_MESSAGES;
    let mut goose = RawWs::connect(&sim, false).await;
    goose.json().await;
    goose.identify(GOOSE_TOKEN, wanted, None).await;
    // duck is entitled to MESSAGE_CONTENT but does not ask for it.
    let mut duck = RawWs::connect(&sim, false).await;
    duck.json().await;
    duck.identify(DUCK_TOKEN, wanted, None).await;
    for ws in [&mut goose, &mut duck] {
        while ws.json().await["t"] != "GUILD_CREATE" {}
    }

    let alice = user(42, "alice");
    sim.inject_message(InjectMessage::guild(
        GUILD_A,
        CHAN_A,
        alice.clone(),
        "secret",
    ))
    .expect("inject");
    let g = next_create(&mut goose).await;
    assert_eq!(g["content"], "", "no content without the intent");
    assert_eq!(next_create(&mut duck).await["content"], "");

    let mut mention = InjectMessage::guild(GUILD_A, CHAN_A, alice.clone(), "hey goose");
    mention.mentions = vec![GOOSE_BOT];
    sim.inject_message(mention).expect("inject");
    assert_eq!(
        next_create(&mut goose).await["content"],
        "hey goose",
        "mentioned bot sees it"
    );
    assert_eq!(
        next_create(&mut duck).await["content"],
        "",
        "others still do not"
    );

    sim.inject_message(InjectMessage::dm("goose", alice, "psst"))
        .expect("dm");
    let dm = next_create(&mut goose).await;
    assert_eq!(dm["content"], "psst", "DMs keep their content");
    assert!(dm.get("guild_id").is_none());

    // A bot always sees its own messages; the other bot does not.
    let resp = crate::util::http()
        .post(format!("{}/channels/{CHAN_A}/messages", sim.api_base()))
        .header("authorization", format!("Bot {DUCK_TOKEN}"))
        .json(&json!({"content": "duck speaks"}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200);
    assert_eq!(next_create(&mut duck).await["content"], "duck speaks");
    assert_eq!(next_create(&mut goose).await["content"], "");
    sim.shutdown().await;
}

#[tokio::test]
async fn plain_json_and_zstd_stream_both_work() {
    let sim = start(config()).await;
    for zstd in [false, true] {
        let mut ws = RawWs::connect(&sim, zstd).await;
        let hello = ws.json().await;
        assert_eq!(hello["op"], 10);
        assert_eq!(hello["d"]["heartbeat_interval"], 5000);
        ws.identify(
            DUCK_TOKEN,
            intents::GUILD_MESSAGES | intents::MESSAGE_CONTENT,
            None,
        )
        .await;
        let ready = ws.json().await;
        assert_eq!(
            (ready["t"].as_str(), ready["s"].as_u64()),
            (Some("READY"), Some(1))
        );
        ws.send(&json!({"op": 1, "d": 1})).await;
        loop {
            let p = ws.json().await;
            if p["op"] == 11 {
                break;
            }
        }
        sim.inject_message(InjectMessage::guild(GUILD_A, CHAN_A, user(42, "a"), "z"))
            .expect("inject");
        loop {
            let p = ws.json().await;
            if p["t"] == "MESSAGE_CREATE" {
                assert_eq!(p["d"]["content"], "z");
                break;
            }
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn protocol_errors_close_with_documented_codes() {
    let sim = start(config()).await;
    let cases: Vec<(serde_json::Value, u16)> = vec![
        (json!("not an object"), 4002),
        (json!({"op": 3, "d": {}}), 4003),
        (json!({"op": 99, "d": null}), 4001),
        (json!({"op": 2, "d": {"token": DUCK_TOKEN}}), 4002),
        (
            json!({"op": 2, "d": {"token": DUCK_TOKEN, "intents": 1u64 << 40,
            "properties": {}}}),
            4013,
        ),
        (
            json!({"op": 2, "d": {"token": DUCK_TOKEN, "intents": 1,
            "properties": {}, "shard": [2, 2]}}),
            4010,
        ),
    ];
    for (payload, code) in cases {
        let mut ws = RawWs::connect(&sim, false).await;
        ws.json().await;
        ws.send(&payload).await;
        assert_eq!(ws.close_code().await, Some(code), "for {payload}");
    }
    // Garbage text → 4002.
    let mut ws = RawWs::connect(&sim, false).await;
    ws.json().await;
    ws.ws
        .send(tokio_tungstenite::tungstenite::Message::Text(
            "{oops".into(),
        ))
        .await
        .expect("send");
    assert_eq!(ws.close_code().await, Some(4002));
    // Identifying twice → 4005.
    let mut ws = RawWs::connect(&sim, false).await;
    ws.json().await;
    ws.identify(DUCK_TOKEN, 1, None).await;
    ws.identify(DUCK_TOKEN, 1, None).await;
    assert_eq!(ws.close_code().await, Some(4005));
    // Unknown session on RESUME → op 9 d=false.
    let mut ws = RawWs::connect(&sim, false).await;
    ws.json().await;
    ws.send(&json!({"op": 6, "d": {"token": DUCK_TOKEN, "session_id": "nope", "seq": 3}}))
        .await;
    match ws.next().await {
        Frame::Json(p) => assert_eq!((p["op"].as_u64(), p["d"].as_bool()), (Some(9), Some(false))),
        Frame::Close(c) => panic!("closed instead of op 9: {c:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn too_many_gateway_commands_close_4008() {
    let mut cfg = config();
    cfg.gateway_commands_per_minute = 3;
    let sim = start(cfg).await;
    let mut ws = RawWs::connect(&sim, false).await;
    ws.json().await;
    for i in 0..4 {
        ws.send(&json!({"op": 1, "d": i})).await;
    }
    assert_eq!(ws.close_code().await, Some(4008));
    sim.shutdown().await;
}

/// RFC 6455: a client's close frame is answered with a close frame. Discord: closing
/// with 1000 or 1001 ends the session; any other code (4000 here) keeps it resumable.
#[tokio::test]
async fn a_client_close_is_echoed_and_only_1000_or_1001_end_the_session() {
    let sim = start(config()).await;
    for (code, resumable) in [(4000u16, true), (1000, false), (1001, false)] {
        let mut ws = RawWs::connect(&sim, false).await;
        ws.json().await;
        ws.identify(DUCK_TOKEN, message_intents().bits(), None)
            .await;
        let ready = loop {
            let p = ws.json().await;
            if p["t"] == "READY" {
                break p;
            }
        };
        let session = ready["d"]["session_id"]
            .as_str()
            .expect("session id")
            .to_owned();
        ws.ws
            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: code.into(),
                reason: "bye".into(),
            }))
            .await
            .expect("close");
        assert_eq!(ws.close_code().await, Some(code), "the close is echoed");

        let mut ws = RawWs::connect(&sim, false).await;
        ws.json().await;
        ws.send(
            &json!({"op": 6, "d": {"token": DUCK_TOKEN, "session_id": session,
            "seq": ready["s"]}}),
        )
        .await;
        let resumed = loop {
            let p = ws.json().await;
            if p["op"] == 9 {
                break false;
            }
            if p["t"] == "RESUMED" {
                break true;
            }
        };
        assert_eq!(resumed, resumable, "after a client close with {code}");
    }
    sim.shutdown().await;
}

/// `/__sim/stats` counts live authenticated sessions per token and their high-water
/// mark: two clients identified at once count two; a resume that takes a session over
/// from its connection, or one that follows a drop, does not add one.
#[tokio::test]
async fn live_sessions_per_token_have_a_high_water_mark() {
    let sim = start(config()).await;
    let mut a = RawWs::connect(&sim, false).await;
    a.json().await;
    a.identify(DUCK_TOKEN, message_intents().bits(), None).await;
    let ready_a = ready(&mut a).await;
    let stats = sim.stats().tenant("duck");
    assert_eq!((stats.live_sessions, stats.max_live_sessions), (1, 1));

    // A second client resumes the same session: it takes it over, still one.
    let mut b = RawWs::connect(&sim, false).await;
    b.json().await;
    b.send(&json!({"op": 6, "d": {"token": DUCK_TOKEN,
        "session_id": ready_a["d"]["session_id"], "seq": ready_a["s"]}}))
        .await;
    loop {
        if b.json().await["t"] == "RESUMED" {
            break;
        }
    }
    assert_eq!(
        a.close_code().await,
        Some(4000),
        "the old connection is closed"
    );
    let stats = sim.stats().tenant("duck");
    assert_eq!((stats.live_sessions, stats.max_live_sessions), (1, 1));

    // A second IDENTIFY beside it: two live sessions for one token.
    let mut c = RawWs::connect(&sim, false).await;
    c.json().await;
    c.identify(DUCK_TOKEN, message_intents().bits(), None).await;
    ready(&mut c).await;
    let stats = sim.stats().tenant("duck");
    assert_eq!((stats.live_sessions, stats.max_live_sessions), (2, 2));

    drop(c);
    eventually(LONG, || sim.stats().tenant("duck").live_sessions == 1).await;
    assert_eq!(sim.stats().tenant("duck").max_live_sessions, 2);
    sim.shutdown().await;
}

async fn ready(ws: &mut RawWs) -> serde_json::Value {
    loop {
        let p = ws.json().await;
        if p["t"] == "READY" {
            return p;
        }
    }
}
