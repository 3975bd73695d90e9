//! The `/__sim/` control API over HTTP: inject messages, interactions and member
//! events, inflict faults, read posted messages and stats — and the typed handle's
//! condition poller.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard::commands::{AppCommand, OptionDef};
use switchboard::sim::{SimError, SimStats, intents};

use crate::util::{
    CHAN_A, DUCK_APP, DUCK_TOKEN, GOOSE_TOKEN, GUILD_A, LONG, RawWs, config, http, start,
};

async fn next_dispatch(ws: &mut RawWs, t: &str) -> Value {
    loop {
        let p = ws.json().await;
        if p["t"] == t {
            return p["d"].clone();
        }
    }
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one end-to-end scenario reads best in one piece
async fn control_api_drives_the_emulator_over_http() {
    let sim = start(config()).await;
    let base = format!("http://{}/__sim", sim.addr());
    let mut ws = RawWs::connect(&sim, false).await;
    ws.json().await;
    let wanted = intents::GUILDS
        | intents::GUILD_MESSAGES
        | intents::GUILD_MEMBERS
        | intents::MESSAGE_CONTENT;
    ws.identify(DUCK_TOKEN, wanted, None).await;
    next_dispatch(&mut ws, "GUILD_CREATE").await;

    let r: Value = http()
        .post(format!("{base}/messages"))
        .json(
            &json!({"guild_id": GUILD_A.to_string(), "channel_id": CHAN_A,
            "author": {"id": "42", "username": "alice", "bot": false}, "content": "hi"}),
        )
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let id = r["id"].as_str().expect("id").to_owned();
    let m = next_dispatch(&mut ws, "MESSAGE_CREATE").await;
    assert_eq!(
        (m["id"].as_str(), m["content"].as_str()),
        (Some(id.as_str()), Some("hi"))
    );

    let r = http()
        .patch(format!("{base}/channels/{CHAN_A}/messages/{id}"))
        .json(&json!({"content": "edited"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 204);
    assert_eq!(
        next_dispatch(&mut ws, "MESSAGE_UPDATE").await["content"],
        "edited"
    );
    let r = http()
        .delete(format!("{base}/channels/{CHAN_A}/messages/{id}"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    assert_eq!(
        next_dispatch(&mut ws, "MESSAGE_DELETE").await["id"],
        id.as_str()
    );

    for body in [
        json!({"kind": "add", "guild_id": GUILD_A, "user": {"id": 43, "username": "bob"}}),
        json!({"kind": "update", "guild_id": GUILD_A, "user_id": 43, "roles": ["77"]}),
        json!({"kind": "remove", "guild_id": GUILD_A, "user_id": 43}),
    ] {
        let r = http()
            .post(format!("{base}/members"))
            .json(&body)
            .send()
            .await
            .expect("member");
        assert_eq!(r.status(), 204, "{body}");
    }
    assert_eq!(
        next_dispatch(&mut ws, "GUILD_MEMBER_ADD").await["user"]["id"],
        "43"
    );
    assert_eq!(
        next_dispatch(&mut ws, "GUILD_MEMBER_UPDATE").await["roles"],
        json!(["77"])
    );
    assert_eq!(
        next_dispatch(&mut ws, "GUILD_MEMBER_REMOVE").await["user"]["id"],
        "43"
    );

    let ping = json!({"tenant": "duck", "guild_id": GUILD_A, "channel_id": CHAN_A,
        "user": {"id": 42, "username": "alice"}, "kind": "slash_command", "name": "ping",
        "options": [{"type": 3, "name": "q", "value": "x"}]});
    // A command the application has not registered is refused, saying so.
    let refused = http()
        .post(format!("{base}/interactions"))
        .json(&ping)
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), 400);
    let why: Value = refused.json().await.expect("json");
    let why = why["message"].as_str().unwrap_or_default();
    assert!(why.contains("/ping is not registered"), "{why}");
    sim.register_commands(
        DUCK_APP,
        Some(GUILD_A),
        &[AppCommand::slash("ping", "Ping").option(OptionDef::string("q", "Query"))],
    )
    .expect("registered");
    let r: Value = http()
        .post(format!("{base}/interactions"))
        .json(&ping)
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let token = r["token"].as_str().expect("token").to_owned();
    let i = next_dispatch(&mut ws, "INTERACTION_CREATE").await;
    assert_eq!(
        (i["token"].as_str(), i["data"]["name"].as_str()),
        (Some(token.as_str()), Some("ping"))
    );
    let cb = http()
        .post(format!(
            "{}/interactions/{}/{token}/callback",
            sim.api_base(),
            r["id"].as_str().unwrap_or("0")
        ))
        .json(&json!({"type": 4, "data": {"content": "pong"}}))
        .send()
        .await
        .expect("callback");
    assert_eq!(cb.status(), 204);
    let log: Value = http()
        .get(format!(
            "{base}/interactions/{}",
            r["id"].as_str().unwrap_or("0")
        ))
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    assert_eq!(log["initial_type"], 4, "{log}");
    assert!(
        log["initial_after_ms"]
            .as_u64()
            .is_some_and(|ms| ms < 3_000),
        "{log}"
    );
    let posted: Value = http()
        .get(format!("{base}/channels/{CHAN_A}/messages"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(posted[0]["tenant"], "duck");
    assert_eq!(posted[0]["content"], "pong");
    assert_eq!(posted[0]["interaction_id"], r["id"]);

    let r: Value = http()
        .post(format!("{base}/faults"))
        .json(&json!({"tenant": "duck", "kind": "close", "code": 4000}))
        .send()
        .await
        .expect("fault")
        .json()
        .await
        .expect("json");
    assert_eq!(r["affected"], 1);
    assert_eq!(ws.close_code().await, Some(4000));

    let bad = http()
        .post(format!("{base}/faults"))
        .json(&json!({"tenant": "nobody", "kind": "reconnect"}))
        .send()
        .await
        .expect("fault");
    assert_eq!(bad.status(), 404);
    let bad = http()
        .post(format!("{base}/messages"))
        .body("{")
        .send()
        .await
        .expect("post");
    assert_eq!(bad.status(), 400);

    let stats: SimStats = http()
        .get(format!("{base}/stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    let duck = stats.tenant("duck");
    assert_eq!(duck.identifies, 1);
    assert!(duck.dispatches >= 8, "{duck:?}");
    assert_eq!(stats.tenant("goose").identifies, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn wait_until_sees_changes_and_times_out() {
    let sim = start(config()).await;
    let mut ws = RawWs::connect(&sim, false).await;
    ws.json().await;
    ws.identify(GOOSE_TOKEN, intents::GUILDS, None).await;
    sim.wait_until(LONG, |s| s.connected_sessions("goose") == 1)
        .await
        .expect("connected");
    let r = sim
        .wait_until(Duration::from_millis(100), |s| s.stats().bans > 0)
        .await;
    assert!(matches!(r, Err(SimError::Timeout(_))));
    sim.shutdown().await;
}
