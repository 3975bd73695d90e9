//! Application commands in the emulator: bulk overwrites validated like Discord
//! (400 with Discord's nested error shape), sets kept per application and guild,
//! `with_localizations`, and the PUT counter on the handle.

use serde_json::{Value, json};
use switchboard::commands::{AppCommand, OptionDef};
use switchboard::providers::discord::commands::{from_discord, same_commands, to_discord};

use crate::util::{
    DUCK_APP, DUCK_TOKEN, GOOSE_APP, GOOSE_TOKEN, GUILD_A, GUILD_B, config, http, start,
};

fn bot(token: &str) -> String {
    format!("Bot {token}")
}

async fn put(url: String, token: &str, body: Value) -> reqwest::Response {
    http()
        .put(url)
        .header("authorization", bot(token))
        .json(&body)
        .send()
        .await
        .expect("put")
}

fn declared() -> Vec<AppCommand> {
    vec![
        AppCommand::slash("game", "Play")
            .name_localized("de", "spiel")
            .option(OptionDef::integer("rounds", "How many").range(1, 10)),
        AppCommand::user("Stats"),
    ]
}

#[tokio::test]
async fn bulk_overwrites_are_kept_per_application_and_guild() {
    let sim = start(config()).await;
    let base = sim.api_base();
    let declared = declared();

    // A valid set, to guild A of duck's application.
    let r = put(
        format!("{base}/applications/{DUCK_APP}/guilds/{GUILD_A}/commands"),
        DUCK_TOKEN,
        to_discord(&declared),
    )
    .await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.expect("json");
    assert_eq!(answer[0]["application_id"], DUCK_APP.to_string());
    assert_eq!(answer[0]["guild_id"], GUILD_A.to_string());
    assert_eq!(sim.command_puts(DUCK_APP), 1);
    assert_eq!(
        sim.command_names(DUCK_APP, Some(GUILD_A)),
        ["Stats", "game"]
    );
    assert!(sim.commands(DUCK_APP, Some(GUILD_B)).is_empty());
    assert!(sim.commands(DUCK_APP, None).is_empty());
    assert!(sim.commands(GOOSE_APP, Some(GUILD_A)).is_empty());

    // GET with localizations compares equal to the declaration; without, the
    // localized command looks changed (Discord leaves the dictionaries out).
    let get = |query: &'static str| {
        let client = http();
        let url = format!("{base}/applications/{DUCK_APP}/guilds/{GUILD_A}/commands{query}");
        async move {
            let r = client
                .get(url)
                .header("authorization", bot(DUCK_TOKEN))
                .send()
                .await
                .expect("get");
            assert_eq!(r.status(), 200);
            r.bytes().await.expect("body")
        }
    };
    let with = from_discord(&get("?with_localizations=true").await).expect("parses");
    assert!(same_commands(&declared, &with));
    let without = from_discord(&get("").await).expect("parses");
    assert!(!same_commands(&declared, &without));

    // Overwriting with [] removes them; ids of kept commands stay.
    let first_id = sim.commands(DUCK_APP, Some(GUILD_A))[0]["id"].clone();
    let r = put(
        format!("{base}/applications/{DUCK_APP}/guilds/{GUILD_A}/commands"),
        DUCK_TOKEN,
        to_discord(&declared),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(sim.commands(DUCK_APP, Some(GUILD_A))[0]["id"], first_id);
    let r = put(
        format!("{base}/applications/{DUCK_APP}/guilds/{GUILD_A}/commands"),
        DUCK_TOKEN,
        json!([]),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(sim.commands(DUCK_APP, Some(GUILD_A)).is_empty());
    assert_eq!(sim.command_puts(DUCK_APP), 3);
    assert_eq!(sim.stats().tenant("duck").command_puts, 3);

    sim.shutdown().await;
}

#[tokio::test]
async fn invalid_overwrites_are_refused_like_discord() {
    let sim = start(config()).await;
    let base = sim.api_base();
    // An invalid schema: 400 Invalid Form Body with Discord's nested errors, nothing
    // stored, not counted.
    let r = put(
        format!("{base}/applications/{DUCK_APP}/guilds/{GUILD_A}/commands"),
        DUCK_TOKEN,
        json!([
            {"name": "ok", "description": "fine", "type": 1},
            {"name": "Bad Name", "description": "", "type": 1},
        ]),
    )
    .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["code"], 50035);
    assert_eq!(body["message"], "Invalid Form Body");
    let name_errors = &body["errors"]["1"]["name"]["_errors"];
    assert_eq!(name_errors[0]["code"], "APPLICATION_COMMAND_INVALID");
    assert!(
        name_errors[0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("commands[Bad Name].name:")),
        "{body}"
    );
    assert!(
        body["errors"]["1"]["description"]["_errors"].is_array(),
        "{body}"
    );
    // A body that is not a command list at all.
    let r = put(
        format!("{base}/applications/{DUCK_APP}/commands"),
        DUCK_TOKEN,
        json!([{"description": "no name"}]),
    )
    .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert!(
        body["errors"]["0"]["_errors"].is_array()
            || body["errors"]["0"]["name"]["_errors"].is_array(),
        "{body}"
    );
    assert!(sim.commands(DUCK_APP, Some(GUILD_A)).is_empty());
    assert!(sim.commands(DUCK_APP, None).is_empty());
    assert_eq!(sim.command_puts(DUCK_APP), 0);

    // Another application's commands, or a guild the bot is not in: 403.
    let r = put(
        format!("{base}/applications/{DUCK_APP}/commands"),
        GOOSE_TOKEN,
        json!([]),
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = put(
        format!("{base}/applications/{GOOSE_APP}/guilds/{GUILD_B}/commands"),
        GOOSE_TOKEN,
        json!([]),
    )
    .await;
    assert_eq!(r.status(), 403);

    // The application of the caller.
    let r = http()
        .get(format!("{base}/applications/@me"))
        .header("authorization", bot(GOOSE_TOKEN))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.expect("json");
    assert_eq!(me["id"], GOOSE_APP.to_string());
    assert_eq!(sim.application_id("goose"), Some(GOOSE_APP));
    sim.shutdown().await;
}
