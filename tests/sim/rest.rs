//! REST: the real twilight-http client against the emulator, `enforce_nonce`,
//! paging, interactions answered through their token, and Discord-shaped errors.

use serde_json::{Value, json};
use switchboard::commands::AppCommand;
use switchboard::sim::{InjectInteraction, InjectMessage, InteractionKind, MemberEvent};
use twilight_http::request::Request;
use twilight_http::routing::Route;
use twilight_model::channel::Message;
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};
use twilight_model::id::Id;

use crate::util::{
    CHAN_A, CHAN_B, DUCK_APP, DUCK_BOT, DUCK_TOKEN, GOOSE_TOKEN, GUILD_A, GUILD_B, config, http,
    start, twilight_http, user,
};

fn bot(token: &str) -> String {
    format!("Bot {token}")
}

#[tokio::test]
async fn twilight_http_basics_work_unchanged() {
    let sim = start(config()).await;
    let client = twilight_http(&sim, DUCK_TOKEN);
    let me = client
        .current_user()
        .await
        .expect("current user")
        .model()
        .await
        .expect("model");
    assert_eq!(me.id.get(), DUCK_BOT);
    assert!(me.bot);
    let info = client
        .gateway()
        .authed()
        .await
        .expect("gateway/bot")
        .model()
        .await
        .expect("model");
    assert_eq!(info.url, sim.gateway_url());
    assert_eq!(info.session_start_limit.max_concurrency, 1);
    let m = client
        .create_message(Id::new(CHAN_A))
        .content("hello from twilight")
        .await
        .expect("create")
        .model()
        .await
        .expect("model");
    assert_eq!(m.author.id.get(), DUCK_BOT);
    let posted = sim.channel_messages(CHAN_A);
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].tenant.as_deref(), Some("duck"));
    assert_eq!(posted[0].content, "hello from twilight");
    client
        .update_message(Id::new(CHAN_A), m.id)
        .content(Some("edited"))
        .await
        .expect("edit");
    assert_eq!(sim.channel_messages(CHAN_A)[0].content, "edited");
    client
        .delete_message(Id::new(CHAN_A), m.id)
        .await
        .expect("delete");
    assert!(sim.channel_messages(CHAN_A).is_empty());

    let dm = client
        .create_private_channel(Id::new(42))
        .await
        .expect("dm")
        .model()
        .await
        .expect("model");
    client
        .create_message(dm.id)
        .content("psst")
        .await
        .expect("dm message");
    assert_eq!(sim.channel_messages(dm.id.get()).len(), 1);

    sim.member_event(MemberEvent::Add {
        guild_id: GUILD_A,
        user: user(42, "alice"),
    })
    .expect("member");
    client
        .add_guild_member_role(Id::new(GUILD_A), Id::new(42), Id::new(77))
        .await
        .expect("add role");
    client
        .remove_guild_member_role(Id::new(GUILD_A), Id::new(42), Id::new(77))
        .await
        .expect("remove role");
    let missing = client
        .add_guild_member_role(Id::new(GUILD_A), Id::new(43), Id::new(77))
        .await;
    assert!(missing.is_err(), "unknown member is 404");
    sim.shutdown().await;
}

#[tokio::test]
async fn enforce_nonce_returns_the_original_message() {
    let sim = start(config()).await;
    let client = twilight_http(&sim, DUCK_TOKEN);
    let body = json!({"content": "once", "nonce": "abc-1", "enforce_nonce": true});
    let send = || async {
        let req = Request::builder(&Route::CreateMessage { channel_id: CHAN_A })
            .json(&body)
            .build()
            .expect("request");
        client
            .request::<Message>(req)
            .await
            .expect("create")
            .model()
            .await
            .expect("model")
    };
    let first = send().await;
    let second = send().await;
    assert_eq!(first.id, second.id, "same nonce → the original message");
    assert_eq!(sim.channel_messages(CHAN_A).len(), 1);
    // Without enforce_nonce the same nonce creates a new message.
    let raw = http()
        .post(format!("{}/channels/{CHAN_A}/messages", sim.api_base()))
        .header("authorization", bot(DUCK_TOKEN))
        .json(&json!({"content": "again", "nonce": "abc-1"}))
        .send()
        .await
        .expect("post");
    assert_eq!(raw.status(), 200);
    let posted = sim.channel_messages(CHAN_A);
    assert_eq!(posted.len(), 2);
    assert_eq!(posted[0].nonce, Some(json!("abc-1")));
    sim.shutdown().await;
}

#[tokio::test]
async fn channel_messages_page_newest_first() {
    let sim = start(config()).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            sim.inject_message(InjectMessage::guild(
                GUILD_B,
                CHAN_B,
                user(42, "a"),
                &format!("m{i}"),
            ))
            .expect("inject"),
        );
    }
    let get = |q: String| {
        let url = format!("{}/channels/{CHAN_B}/messages{q}", sim.api_base());
        async move {
            let r = http()
                .get(url)
                .header("authorization", bot(DUCK_TOKEN))
                .send()
                .await
                .expect("get");
            let status = r.status().as_u16();
            let v: Value = r.json().await.expect("json");
            (status, v)
        }
    };
    let page_ids = |v: &Value| -> Vec<u64> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|m| m["id"].as_str().unwrap_or("0").parse().unwrap_or(0))
            .collect()
    };
    let (_, all) = get(String::new()).await;
    assert_eq!(
        page_ids(&all),
        ids.iter().rev().copied().collect::<Vec<_>>()
    );
    let (_, before) = get(format!("?before={}&limit=2", ids[4])).await;
    assert_eq!(page_ids(&before), vec![ids[3], ids[2]]);
    let (_, after) = get(format!("?after={}&limit=2", ids[4])).await;
    assert_eq!(page_ids(&after), vec![ids[6], ids[5]]);
    let (status, err) = get("?limit=101".into()).await;
    assert_eq!((status, err["code"].as_u64()), (400, Some(50035)));
    // goose is not in guild B.
    let r = http()
        .get(format!("{}/channels/{CHAN_B}/messages", sim.api_base()))
        .header("authorization", bot(GOOSE_TOKEN))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 403);
    sim.shutdown().await;
}

#[tokio::test]
async fn errors_are_discord_shaped() {
    let sim = start(config()).await;
    let r = http()
        .get(format!("{}/users/@me", sim.api_base()))
        .header("authorization", "Bot wrong")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({"message": "401: Unauthorized", "code": 0})
    );
    let r = http()
        .get(format!("{}/no/such/route", sim.api_base()))
        .header("authorization", bot(DUCK_TOKEN))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.expect("json")["code"], 0);
    let r = http()
        .post(format!("{}/channels/{CHAN_A}/messages", sim.api_base()))
        .header("authorization", bot(DUCK_TOKEN))
        .json(&json!({"content": ""}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.expect("json")["code"], 50006);
    sim.shutdown().await;
}

#[tokio::test]
async fn interactions_are_answered_through_their_token() {
    let sim = start(config()).await;
    let client = twilight_http(&sim, DUCK_TOKEN);
    let commands = client
        .interaction(Id::new(DUCK_APP))
        .set_guild_commands(Id::new(GUILD_A), &[])
        .await
        .expect("bulk overwrite");
    assert_eq!(commands.model().await.expect("model").len(), 0);
    // The emulator refuses commands the application has not registered.
    sim.register_commands(
        DUCK_APP,
        Some(GUILD_A),
        &[AppCommand::slash("ping", "Ping")],
    )
    .expect("registered");
    let inter = sim
        .inject_interaction(&InjectInteraction {
            tenant: "duck".into(),
            guild_id: Some(GUILD_A),
            channel_id: Some(CHAN_A),
            user: user(42, "alice"),
            kind: InteractionKind::SlashCommand {
                name: "ping".into(),
                options: vec![],
            },
        })
        .expect("interaction");
    let ic = client.interaction(Id::new(DUCK_APP));
    let response = InteractionResponse {
        kind: InteractionResponseType::DeferredChannelMessageWithSource,
        data: None,
    };
    ic.create_response(Id::new(inter.id), &inter.token, &response)
        .await
        .expect("defer");
    let again = ic
        .create_response(Id::new(inter.id), &inter.token, &response)
        .await;
    assert!(again.is_err(), "second initial response is refused (40060)");
    ic.update_response(&inter.token)
        .content(Some("pong"))
        .await
        .expect("edit original");
    ic.create_followup(&inter.token)
        .content("more")
        .await
        .expect("followup");
    let posted = sim.channel_messages(CHAN_A);
    assert_eq!(
        posted
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>(),
        ["pong", "more"]
    );
    assert!(posted.iter().all(|m| m.interaction_id == Some(inter.id)));
    // Token-authorised requests count for the interaction's tenant.
    assert!(sim.stats().tenant("duck").requests >= 5);
    assert_eq!(posted[0].message["flags"], 0, "LOADING cleared by the edit");

    // An unknown token is 401 with code 50027, not a bad bot token.
    let r = http()
        .post(format!(
            "{}/interactions/{}/bogus/callback",
            sim.api_base(),
            inter.id
        ))
        .json(&json!({"type": 4, "data": {"content": "x"}}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.expect("json")["code"], 50027);
    let me = client.current_user().await;
    assert!(me.is_ok(), "the bot token still works");

    // A button on the bot's message: UPDATE_MESSAGE edits that message.
    let button = sim
        .inject_interaction(&InjectInteraction {
            tenant: "duck".into(),
            guild_id: Some(GUILD_A),
            channel_id: Some(CHAN_A),
            user: user(42, "alice"),
            kind: InteractionKind::Button {
                custom_id: "b".into(),
                message_id: Some(posted[1].id),
            },
        })
        .expect("button");
    let update = InteractionResponse {
        kind: InteractionResponseType::UpdateMessage,
        data: Some(InteractionResponseData {
            content: Some("clicked".into()),
            ..Default::default()
        }),
    };
    ic.create_response(Id::new(button.id), &button.token, &update)
        .await
        .expect("update");
    assert_eq!(sim.channel_messages(CHAN_A)[1].content, "clicked");
    sim.shutdown().await;
}
