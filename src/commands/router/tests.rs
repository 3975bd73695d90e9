use serde_json::json;

use super::*;

fn interaction(v: &serde_json::Value) -> InteractionCreated {
    let mut base = json!({"interaction_id": "1", "user": {"id": "7", "name": "mallard"}});
    if let (Some(b), Some(extra)) = (base.as_object_mut(), v.as_object()) {
        b.extend(extra.clone());
    }
    serde_json::from_value(base).expect("an interaction")
}

fn router() -> Router {
    Router::named("t")
        .command(AppCommand::slash("ping", "Pong"), |_ctx, _i| async {
            "pong"
        })
        .declare(AppCommand::slash("session", "Sessions"))
        .subcommand(
            "session",
            OptionDef::subcommand("start", "Start"),
            |_c, _i| async {},
        )
        .subcommand(
            "session",
            OptionDef::subcommand("stop", "Stop"),
            |_c, _i| async {},
        )
        .require_role("gm_role")
        .subcommand(
            "game admin",
            OptionDef::subcommand("reset", "Reset"),
            |_c, _i| async {},
        )
        .autocomplete("session  start", |_c, _i| async {
            Reply::string_choices(["a"])
        })
        .user_command("Stats", |_c, _i| async {})
        .component("confirm:", |_c, _i| async {})
        .component("confirm:yes:", |_c, _i| async {})
        .modal("name:", |_c, _i| async {})
}

fn sub(name: &str) -> serde_json::Value {
    json!([{"name": name, "value": {"sub_command": []}}])
}

#[test]
fn one_definition_gives_schema_and_routes() {
    let r = router();
    let schema = r.commands();
    let names: Vec<&str> = schema.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["ping", "session", "game", "Stats"]);
    let session = &schema[1];
    assert_eq!(session.description, "Sessions");
    let subs: Vec<&str> = session.options.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(subs, ["start", "stop"]);
    let game = &schema[2];
    assert_eq!(game.options[0].kind, OptionKind::SubCommandGroup);
    assert_eq!(game.options[0].options[0].name, "reset");
    crate::commands::CommandSet::new(schema)
        .validate()
        .expect("a valid set");
    assert_eq!(
        r.routes(),
        [
            "[Stats]",
            "/game admin reset",
            "/ping",
            "/session start",
            "/session stop",
            "autocomplete session start",
            "component confirm:",
            "component confirm:yes:",
            "modal name:",
        ]
    );
    assert_eq!(
        r.commands["session stop"].guards,
        [Guard::Role("gm_role".into())]
    );
}

#[test]
fn lookup_by_route_prefix_and_ownership() {
    let r = router();
    let key = |v| r.lookup(&interaction(&v)).map(|(k, _)| k);
    assert_eq!(
        key(json!({"kind": "command", "command_name": "ping"})),
        Ok("ping".into())
    );
    assert_eq!(
        key(json!({"kind": "command", "command_name": "session", "options": sub("stop")})),
        Ok("session stop".into())
    );
    assert_eq!(
        key(json!({"kind": "autocomplete", "command_name": "session", "options": sub("start")})),
        Ok("session start".into())
    );
    assert_eq!(
        key(json!({"kind": "command", "command_name": "Stats", "target_id": "9"})),
        Ok("Stats".into())
    );
    // Longest prefix wins.
    assert_eq!(
        key(json!({"kind": "component", "custom_id": "confirm:yes:42"})),
        Ok("confirm:yes:".into())
    );
    assert_eq!(
        key(json!({"kind": "component", "custom_id": "confirm:no"})),
        Ok("confirm:".into())
    );
    assert_eq!(
        key(json!({"kind": "modal_submit", "custom_id": "name:1"})),
        Ok("name:".into())
    );
    // A subcommand of an own command without a route is answered; others' are not.
    assert_eq!(
        key(json!({"kind": "command", "command_name": "session", "options": sub("info")})),
        Err(Some("Unknown command `/session info`.".into()))
    );
    assert_eq!(
        key(json!({"kind": "command", "command_name": "weather"})),
        Err(None)
    );
    assert_eq!(
        key(json!({"kind": "component", "custom_id": "other"})),
        Err(None)
    );
    let all = router().answer_unknown();
    let key = |v| all.lookup(&interaction(&v)).map(|(k, _)| k);
    assert_eq!(
        key(json!({"kind": "command", "command_name": "weather"})),
        Err(Some("Unknown command `/weather`.".into()))
    );
    assert_eq!(
        key(json!({"kind": "component", "custom_id": "other"})),
        Err(Some(
            "This button or menu is no longer handled (`other`).".into()
        ))
    );
}

#[test]
fn user_facing_errors_are_recognised() {
    let e: HandlerError = Box::new(ArgError::Missing {
        name: "count".into(),
    });
    assert_eq!(
        user_message(&e).as_deref(),
        Some("Invalid input: option `count` is missing.")
    );
    let e: HandlerError = Box::new(Denied::GuildOnly);
    assert_eq!(
        user_message(&e).as_deref(),
        Some("This only works in a server.")
    );
    let e: HandlerError = "boom".into();
    assert_eq!(user_message(&e), None);
}

#[test]
#[should_panic(expected = "needs a route before it")]
fn a_guard_without_a_route_is_a_programming_error() {
    let _ = Router::new().require_role("gm_role");
}
