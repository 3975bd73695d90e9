//! Golden snapshots: Discord's documented gateway payloads (`tests/fixtures/discord/`)
//! parsed by twilight 0.18 and normalized into model events.

use serde_json::{Value, json};
use switchboard::model::Event;
use switchboard::providers::discord::gateway::{Normalized, WANTED_EVENTS, normalize};
use twilight_model::gateway::event::GatewayEvent;
use twilight_model::id::Id;

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/discord/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("fixture JSON")
}

/// Parses a gateway frame with twilight's own `parse` and normalizes the dispatch.
fn normalized(frame: &Value, self_id: Option<u64>) -> Normalized {
    let parsed =
        twilight_gateway::parse(frame.to_string(), WANTED_EVENTS).expect("twilight parses");
    let Some(GatewayEvent::Dispatch(_, event)) = parsed else {
        panic!("not a dispatch: {frame}");
    };
    normalize(event, self_id.map(Id::new)).expect("normalized")
}

/// Normalizes an interaction frame: the token comes back beside the event, and the
/// serialized event does not contain it.
fn interaction(frame: &Value) -> Event {
    let n = normalized(frame, None);
    let token = n
        .interaction
        .expect("interaction token returned separately");
    let expected = frame["d"]["token"].as_str().expect("fixture has a token");
    assert_eq!(secrecy::ExposeSecret::expose_secret(&token.token), expected);
    assert_eq!(token.interaction_id, frame["d"]["id"].as_str().expect("id"));
    let json = serde_json::to_string(&n.event).expect("serialize");
    assert!(
        !json.contains(expected),
        "token leaked into the event: {json}"
    );
    assert!(!format!("{token:?}").contains(expected), "token in Debug");
    n.event
}

#[test]
fn message_create_guild() {
    let n = normalized(&fixture("gateway_message_create_guild"), None);
    assert!(n.interaction.is_none());
    insta::assert_json_snapshot!(n.event);
}

#[test]
fn message_create_from_self_is_tagged() {
    let frame = fixture("gateway_message_create_guild");
    let author: u64 = frame["d"]["author"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("author id");
    let Event::SocialMessageCreated(m) = normalized(&frame, Some(author)).event else {
        panic!("a message");
    };
    assert!(m.from_self);
    let Event::SocialMessageCreated(m) = normalized(&frame, Some(author + 1)).event else {
        panic!("a message");
    };
    assert!(!m.from_self);
}

#[test]
fn message_create_crossposted_and_dm() {
    insta::assert_json_snapshot!(
        "message_create_crossposted",
        normalized(&fixture("gateway_message_create_crossposted"), None).event
    );
    insta::assert_json_snapshot!(
        "message_create_dm",
        normalized(&fixture("gateway_message_create"), None).event
    );
}

#[test]
fn message_update_and_delete() {
    let mut frame = fixture("gateway_message_create_guild");
    frame["t"] = json!("MESSAGE_UPDATE");
    frame["d"]["content"] = json!("Supa Hot (edited)");
    frame["d"]["edited_timestamp"] = json!("2017-07-11T17:28:00.000000+00:00");
    insta::assert_json_snapshot!("message_update", normalized(&frame, None).event);

    let delete = json!({"op": 0, "s": 9, "t": "MESSAGE_DELETE", "d": {
        "id": "334385199974967042", "channel_id": "290926798999357250",
        "guild_id": "290926798999357250"}});
    insta::assert_json_snapshot!("message_delete", normalized(&delete, None).event);
}

#[test]
fn slash_command_with_options() {
    insta::assert_json_snapshot!(interaction(&fixture(
        "gateway_interaction_create_slash_command"
    )));
}

#[test]
fn slash_command_with_subcommand_group() {
    let mut frame = fixture("gateway_interaction_create_slash_command");
    frame["d"]["data"]["options"] = json!([{
        "type": 2, "name": "cards",
        "options": [{"type": 1, "name": "search", "options": [
            {"type": 3, "name": "cardname", "value": "The Gitrog Monster"},
            {"type": 4, "name": "limit", "value": 5},
            {"type": 5, "name": "exact", "value": true},
            {"type": 6, "name": "owner", "value": "53908232506183680"},
            {"type": 10, "name": "score", "value": 0.5}
        ]}]
    }]);
    insta::assert_json_snapshot!(interaction(&frame));
}

#[test]
fn autocomplete_with_focused_option() {
    let mut frame = fixture("gateway_interaction_create_slash_command");
    frame["d"]["type"] = json!(4);
    frame["d"]["data"]["options"] = json!([
        {"type": 3, "name": "set", "value": "dominaria"},
        {"type": 4, "name": "count", "value": "1", "focused": true}
    ]);
    insta::assert_json_snapshot!(interaction(&frame));
}

#[test]
fn component_button() {
    insta::assert_json_snapshot!(interaction(&fixture(
        "gateway_interaction_create_component_button"
    )));
}

#[test]
fn component_user_select() {
    insta::assert_json_snapshot!(interaction(&fixture(
        "gateway_interaction_create_component_user_select"
    )));
}

#[test]
fn modal_submit_file_upload() {
    insta::assert_json_snapshot!(interaction(&fixture(
        "gateway_interaction_create_modal_submit_file_upload"
    )));
}

#[test]
fn context_menu_user_and_message_commands() {
    insta::assert_json_snapshot!(
        "user_command",
        interaction(&fixture("gateway_interaction_create_user_command"))
    );
    insta::assert_json_snapshot!(
        "message_command",
        interaction(&fixture("gateway_interaction_create_message_command"))
    );
}

#[test]
fn guild_member_add_update_remove() {
    let add = fixture("gateway_guild_member_add");
    insta::assert_json_snapshot!("member_add", normalized(&add, None).event);

    let mut update = json!({"op": 0, "s": 11, "t": "GUILD_MEMBER_UPDATE", "d": {
        "guild_id": add["d"]["guild_id"], "roles": ["41771983423143936"],
        "user": add["d"]["user"], "nick": "nelly", "avatar": null, "joined_at": null,
        "premium_since": null, "communication_disabled_until": null}});
    insta::assert_json_snapshot!("member_update", normalized(&update, None).event);

    update["t"] = json!("GUILD_MEMBER_REMOVE");
    update["d"] = json!({"guild_id": add["d"]["guild_id"], "user": add["d"]["user"]});
    insta::assert_json_snapshot!("member_remove", normalized(&update, None).event);
}

#[test]
fn other_dispatches_are_not_normalized() {
    let ready = fixture("gateway_ready");
    let parsed = twilight_gateway::parse(ready.to_string(), WANTED_EVENTS).expect("parses");
    let Some(GatewayEvent::Dispatch(_, event)) = parsed else {
        panic!("READY is a dispatch");
    };
    assert!(normalize(event, None).is_none());
}
