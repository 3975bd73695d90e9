//! The wire form: a snapshot of a representative set, Discord's defaults, the
//! documented `GET` answer, diffs, parse errors, and a round-trip property.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::commands::{ChannelType, LOCALES, validate};

/// A game bot: `/game start|stop|info` with options, an admin group, a user context
/// menu and a message context menu, localized in German and French.
fn game_bot() -> Vec<AppCommand> {
    vec![
        AppCommand::slash("game", "Play a game in this channel")
            .name_localized("de", "spiel")
            .name_localized("fr", "jeu")
            .description_localized("de", "Ein Spiel in diesem Kanal spielen")
            .description_localized("fr", "Jouer une partie dans ce salon")
            .subcommand(
                OptionDef::subcommand("start", "Start a game").options([
                    OptionDef::string("mode", "Game mode").required().choices([
                        Choice::new("Quick", "quick").localized("de", "Schnell"),
                        Choice::new("Marathon", "marathon"),
                    ]),
                    OptionDef::integer("rounds", "How many rounds")
                        .range(1, 20)
                        .name_localized("de", "runden"),
                    OptionDef::number("handicap", "Score multiplier").range(0.5, 2),
                    OptionDef::channel("where", "Where to post results")
                        .channel_types([ChannelType::GuildText, ChannelType::PublicThread]),
                    OptionDef::user("rival", "Who to challenge"),
                    OptionDef::string("title", "A name for the game")
                        .min_length(3)
                        .max_length(40),
                ]),
            )
            .subcommand(
                OptionDef::subcommand("stop", "Stop the running game")
                    .option(OptionDef::boolean("save", "Keep the scores")),
            )
            .subcommand(
                OptionDef::subcommand("info", "Show a game")
                    .option(OptionDef::string("game", "Which game").autocomplete()),
            )
            .subcommand(OptionDef::group("admin", "Game administration").options([
                OptionDef::subcommand("reset", "Reset all scores"),
                OptionDef::subcommand("ban", "Ban a player").options([
                    OptionDef::mentionable("who", "User or role").required(),
                    OptionDef::attachment("evidence", "A screenshot"),
                    OptionDef::role("except", "A role to spare"),
                ]),
            ]))
            .default_member_permissions(Permissions::MANAGE_GUILD | Permissions::SEND_MESSAGES)
            .guild_only(),
        AppCommand::user("Game stats").name_localized("de", "Spielstatistik"),
        AppCommand::message("Report cheating").admin_only().nsfw(),
    ]
}

#[test]
fn the_game_bot_is_valid() {
    validate(&game_bot()).expect("valid");
}

#[test]
fn snapshot_of_the_bulk_overwrite_body() {
    insta::assert_json_snapshot!("game_bot_put_body", to_discord(&game_bot()));
}

#[test]
fn context_menus_send_no_description() {
    let body = to_discord(&[AppCommand::user("High Five")]);
    assert_eq!(body, json!([{"type": 2, "name": "High Five"}]));
}

#[test]
fn the_documented_get_answer_parses_and_matches_its_declaration() {
    let fetched = from_discord(include_bytes!(
        "../../../../tests/fixtures/discord/application_commands_get.json"
    ))
    .expect("parses");
    assert_eq!(fetched.len(), 2);
    assert_eq!(fetched[1].kind, CommandKind::User);
    let declared = [
        AppCommand::slash("blep", "Send a random adorable animal photo").options([
            OptionDef::string("animal", "The type of animal")
                .required()
                .choice("Dog", "animal_dog")
                .choice("Cat", "animal_cat")
                .choice("Penguin", "animal_penguin"),
            OptionDef::boolean("only_smol", "Whether to show only baby animals"),
        ]),
        AppCommand::user("High Five"),
    ];
    assert!(
        same_commands(&declared, &fetched),
        "{:?}",
        diff(&declared, &fetched)
    );
    // Order does not matter.
    let reversed = [declared[1].clone(), declared[0].clone()];
    assert!(same_commands(&reversed, &fetched));
}

/// `declared` as Discord answers a `GET` after a PUT of it: every default spelled
/// out, server fields added.
fn as_discord_returns(declared: &[AppCommand]) -> Vec<u8> {
    let Value::Array(mut commands) = to_discord(declared) else {
        unreachable!("to_discord returns an array")
    };
    for (i, c) in commands.iter_mut().enumerate() {
        let Value::Object(c) = c else {
            unreachable!("commands are objects")
        };
        c.insert("id".into(), json!(format!("10{i}")));
        c.insert("application_id".into(), json!("775799577604522054"));
        c.insert("guild_id".into(), json!("290926798626357999"));
        c.insert("version".into(), json!(format!("20{i}")));
        c.insert("default_permission".into(), json!(true));
        c.entry("type").or_insert(json!(1));
        c.entry("description").or_insert(json!(""));
        c.entry("nsfw").or_insert(json!(false));
        c.entry("dm_permission").or_insert(json!(true));
        c.entry("default_member_permissions").or_insert(Value::Null);
        c.entry("contexts").or_insert(Value::Null);
        c.entry("integration_types").or_insert(json!([0]));
        c.entry("name_localizations").or_insert(Value::Null);
        c.entry("description_localizations").or_insert(Value::Null);
        c.insert("name_localized".into(), c["name"].clone());
        if let Some(Value::Array(options)) = c.get_mut("options") {
            options.iter_mut().for_each(spell_out_option_defaults);
        }
    }
    serde_json::to_vec(&commands).expect("serializes")
}

fn spell_out_option_defaults(o: &mut Value) {
    let Value::Object(o) = o else { return };
    let kind = o["type"].as_u64();
    if !matches!(kind, Some(1 | 2)) {
        o.entry("required").or_insert(json!(false));
    }
    o.entry("name_localizations").or_insert(Value::Null);
    o.entry("description_localizations").or_insert(Value::Null);
    // Integral numbers come back as integers: `2.0` → `2`.
    for field in ["min_value", "max_value"] {
        if let Some(v) = o.get_mut(field)
            && let Some(x) = v.as_f64()
            && x.fract() == 0.0
            && x.abs() < 1e15
        {
            *v = json!(x as i64);
        }
    }
    if let Some(Value::Array(options)) = o.get_mut("options") {
        options.iter_mut().for_each(spell_out_option_defaults);
    }
}

#[test]
fn discords_defaults_are_not_differences() {
    let declared = game_bot();
    let fetched = from_discord(&as_discord_returns(&declared)).expect("parses");
    assert!(
        same_commands(&declared, &fetched),
        "{:?}",
        diff(&declared, &fetched)
    );

    // The minimal answer for a minimal command, defaults spelled out by hand.
    let fetched = from_discord(
        br#"[{"id":"1","application_id":"2","version":"3","type":1,"name":"ping",
              "description":"Pong","dm_permission":true,"default_member_permissions":null,
              "nsfw":false,"contexts":[0,1,2],"integration_types":[0],
              "options":[],"name_localizations":{},"description_localizations":null}]"#,
    )
    .expect("parses");
    assert!(same_commands(
        &[AppCommand::slash("ping", "Pong")],
        &fetched
    ));
    // `type` may be left out: it defaults to chat input.
    let fetched = from_discord(br#"[{"name":"ping","description":"Pong"}]"#).expect("parses");
    assert!(same_commands(
        &[AppCommand::slash("ping", "Pong")],
        &fetched
    ));
}

#[test]
fn settings_that_differ_from_the_defaults_are_differences() {
    let ping = AppCommand::slash("ping", "Pong");
    let fetched = |body: &str| from_discord(body.as_bytes()).expect("parses");
    let base = r#"{"type":1,"name":"ping","description":"Pong""#;
    for (declared, answer) in [
        (ping.clone().guild_only(), format!("[{base}}}]")),
        (ping.clone(), format!(r#"[{base},"dm_permission":false}}]"#)),
        (ping.clone(), format!(r#"[{base},"contexts":[0]}}]"#)),
        (ping.clone(), format!(r#"[{base},"nsfw":true}}]"#)),
        (
            ping.clone(),
            format!(r#"[{base},"default_member_permissions":"0"}}]"#),
        ),
        (
            ping.clone().admin_only(),
            format!(r#"[{base},"default_member_permissions":"8"}}]"#),
        ),
        (
            ping.clone(),
            format!(r#"[{base},"integration_types":[0,1]}}]"#),
        ),
        (
            ping.clone(),
            format!(r#"[{base},"name_localizations":{{"de":"ping"}}}}]"#),
        ),
        (
            ping.clone().option(OptionDef::string("word", "Word")),
            format!(
                r#"[{base},"options":[{{"type":3,"name":"word","description":"Word","required":true}}]}}]"#
            ),
        ),
    ] {
        let f = fetched(&answer);
        assert_eq!(
            diff(std::slice::from_ref(&declared), &f),
            [CommandChange::Changed {
                kind: CommandKind::ChatInput,
                name: "ping".into()
            }],
            "{answer}"
        );
    }
    // An older registration that turned DMs off matches a guild-only declaration.
    let f = fetched(&format!(r#"[{base},"dm_permission":false}}]"#));
    assert!(same_commands(&[ping.guild_only()], &f));
}

#[test]
fn diff_names_added_removed_and_changed_commands() {
    let declared = [
        AppCommand::slash("ping", "Pong"),
        AppCommand::slash("game", "Play"),
        AppCommand::user("Stats"),
    ];
    let fetched = from_discord(
        br#"[{"type":1,"name":"ping","description":"Pong!"},
             {"type":3,"name":"Stats","description":""},
             {"type":1,"name":"old","description":"Gone"}]"#,
    )
    .expect("parses");
    let changes = diff(&declared, &fetched);
    let text: Vec<String> = changes.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "added commands[game]",
            "changed commands[ping]",
            "added user_commands[Stats]",
            "removed commands[old]",
            "removed message_commands[Stats]",
        ]
    );
    assert!(!same_commands(&declared, &fetched));
    assert!(same_commands(&[], &[]));
}

#[test]
fn parse_errors_name_the_field() {
    let err = from_discord(br#"[{"type":1,"description":"No name"}]"#).expect_err("no name");
    assert!(err.to_string().contains("missing field `name`"), "{err}");
    assert_eq!(err.path, "[0]");

    let err = from_discord(
        br#"[{"name":"a","description":"b"},{"name":"c","description":"d",
             "options":[{"type":3,"name":"x","description":"y"},{"type":99,"name":"z","description":"w"}]}]"#,
    )
    .expect_err("unknown option type");
    assert_eq!(err.path, "[1].options[1].type");
    assert_eq!(
        err.to_string(),
        "application commands from Discord, at `[1].options[1].type`: unknown option type 99"
    );

    let err = from_discord(
        br#"[{"name":"a","description":"b","options":[{"type":4,"name":"n","description":"d","min_value":true}]}]"#,
    )
    .expect_err("a boolean bound");
    assert_eq!(err.path, "[0].options[0].min_value");

    let err = from_discord(br#"{"name":"a"}"#).expect_err("not a list");
    assert!(err.to_string().contains("expected a sequence"), "{err}");
}

#[test]
fn unknown_command_types_are_skipped_and_unknown_channel_types_kept() {
    let fetched = from_discord(
        br#"[{"type":4,"name":"launch","description":"","handler":2},
             {"type":1,"name":"go","description":"Go","options":[
               {"type":7,"name":"where","description":"Where","channel_types":[0,99]}]}]"#,
    )
    .expect("parses");
    assert_eq!(fetched.len(), 1);
    let types: Vec<_> = fetched[0].options[0]
        .channel_types
        .iter()
        .copied()
        .collect();
    assert_eq!(types, [ChannelType::GuildText, ChannelType::Other(99)]);
    let back = to_discord(&fetched);
    assert_eq!(back[0]["options"][0]["channel_types"], json!([0, 99]));
}

#[test]
fn permissions_cross_as_decimal_strings() {
    let body = to_discord(&[AppCommand::slash("ban", "Ban")
        .default_member_permissions(Permissions::BAN_MEMBERS | Permissions::MODERATE_MEMBERS)]);
    assert_eq!(
        body[0]["default_member_permissions"],
        json!("1099511627780")
    );
    let body = to_discord(&[AppCommand::slash("ban", "Ban").admin_only()]);
    assert_eq!(body[0]["default_member_permissions"], json!("0"));
}

// ---------------------------------------------------------------------------------
// Round-trip property

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_-]{0,9}"
}

fn text() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z ,.]{0,30}"
}

fn localized(field: BoxedStrategy<String>) -> impl Strategy<Value = Localizations> {
    prop::collection::btree_map(prop::sample::select(LOCALES.to_vec()), field, 0..3)
        .prop_map(|m| m.into_iter().collect())
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![(-1000i32..1000).prop_map(f64::from), -1.0e6..1.0e6f64]
}

prop_compose! {
    fn leaf()(
        kind in prop::sample::select(vec![
            OptionKind::String, OptionKind::Integer, OptionKind::Number, OptionKind::Boolean,
            OptionKind::User, OptionKind::Channel, OptionKind::Role, OptionKind::Mentionable,
            OptionKind::Attachment,
        ]),
        name in name(),
        description in text(),
        name_l in localized(name().boxed()),
        description_l in localized(text().boxed()),
        required: bool,
        autocomplete: bool,
        n_choices in 0usize..4,
        strings in prop::collection::vec(("[A-Za-z ]{1,12}", "[a-z0-9_]{1,12}"), 3),
        ints in prop::collection::vec(-1000i64..1000, 3),
        floats in prop::collection::vec(number(), 3),
        bounds in (prop::option::of(-1000i64..1000), prop::option::of(-1000i64..1000)),
        fbounds in (prop::option::of(number()), prop::option::of(number())),
        lengths in (prop::option::of(0u16..100), prop::option::of(1u16..6000)),
        channels in prop::collection::btree_set(prop::sample::select(vec![
            ChannelType::GuildText, ChannelType::GuildVoice, ChannelType::GuildForum,
            ChannelType::PublicThread,
        ]), 0..3),
    ) -> OptionDef {
        let mut o = OptionDef::new(kind, name, description);
        o.name_localizations = name_l;
        o.description_localizations = description_l;
        o.required = required;
        let n = n_choices.min(3);
        match kind {
            OptionKind::String => {
                o.choices = strings[..n].iter().map(|(c, v)| Choice::new(c.as_str(), v.as_str())).collect();
                (o.min_length, o.max_length) = lengths;
                if let (Some(min), Some(max)) = (o.min_length, o.max_length) && min > max {
                    o.max_length = Some(min.max(1));
                }
            }
            OptionKind::Integer => {
                o.choices = ints[..n].iter().enumerate().map(|(i, v)| Choice::new(format!("c{i}"), *v)).collect();
                let (a, b) = bounds;
                let (a, b) = match (a, b) { (Some(a), Some(b)) if a > b => (Some(b), Some(a)), x => x };
                o.min_value = a.map(ChoiceValue::Integer);
                o.max_value = b.map(ChoiceValue::Integer);
            }
            OptionKind::Number => {
                o.choices = floats[..n].iter().enumerate().map(|(i, v)| Choice::new(format!("c{i}"), *v)).collect();
                let (a, b) = fbounds;
                let (a, b) = match (a, b) { (Some(a), Some(b)) if a > b => (Some(b), Some(a)), x => x };
                o.min_value = a.map(ChoiceValue::Number);
                o.max_value = b.map(ChoiceValue::Number);
            }
            OptionKind::Channel => o.channel_types = channels,
            _ => {}
        }
        o.autocomplete = autocomplete && kind.takes_choices() && o.choices.is_empty();
        o
    }
}

/// Unique names, required options first: what validation asks of any options array.
fn tidy(mut options: Vec<OptionDef>) -> Vec<OptionDef> {
    for (i, o) in options.iter_mut().enumerate() {
        o.name = format!("{}{i}", o.name.chars().take(29).collect::<String>());
    }
    options.sort_by_key(|o| !o.required);
    options
}

fn subcommand() -> impl Strategy<Value = OptionDef> {
    (name(), text(), prop::collection::vec(leaf(), 0..4))
        .prop_map(|(n, d, leaves)| OptionDef::subcommand(n, d).options(tidy(leaves)))
}

fn chat_input() -> impl Strategy<Value = AppCommand> {
    let options = prop_oneof![
        prop::collection::vec(leaf(), 0..5).prop_map(tidy),
        prop::collection::vec(subcommand(), 1..4).prop_map(tidy),
        prop::collection::vec(
            prop_oneof![
                subcommand(),
                (name(), text(), prop::collection::vec(subcommand(), 1..3))
                    .prop_map(|(n, d, subs)| OptionDef::group(n, d).options(tidy(subs))),
            ],
            1..3
        )
        .prop_map(tidy),
    ];
    (
        name(),
        text(),
        localized(name().boxed()),
        localized(text().boxed()),
        options,
    )
        .prop_map(|(n, d, nl, dl, options)| {
            let mut c = AppCommand::slash(n, d).options(options);
            c.name_localizations = nl;
            c.description_localizations = dl;
            c
        })
}

fn context_menu() -> impl Strategy<Value = AppCommand> {
    (
        any::<bool>(),
        "[A-Z][A-Za-z0-9 ]{0,20}[a-z]",
        localized("[A-Z][a-z ]{0,10}[a-z]".boxed()),
    )
        .prop_map(|(user, n, nl)| {
            let mut c = if user {
                AppCommand::user(n)
            } else {
                AppCommand::message(n)
            };
            c.name_localizations = nl;
            c
        })
}

fn command() -> impl Strategy<Value = AppCommand> {
    let permissions = prop::option::of(
        prop::sample::subsequence(vec![0u32, 3, 5, 11, 28, 40], 0..3).prop_map(|bits| {
            bits.into_iter().fold(Permissions::empty(), |p, b| {
                p | Permissions::from_bits_retain(1 << b)
            })
        }),
    );
    let contexts = prop::option::of(prop::sample::subsequence(
        vec![
            InteractionContext::Guild,
            InteractionContext::BotDm,
            InteractionContext::PrivateChannel,
        ],
        1..=3,
    ));
    let installs = prop::option::of(prop::sample::subsequence(
        vec![InstallContext::Guild, InstallContext::User],
        1..=2,
    ));
    (
        prop_oneof![3 => chat_input(), 1 => context_menu()],
        permissions,
        contexts,
        installs,
        any::<bool>(),
    )
        .prop_map(|(mut c, p, ctx, inst, nsfw)| {
            c.default_member_permissions = p;
            c.contexts = ctx.map(|v| v.into_iter().collect());
            c.installs = inst.map(|v| v.into_iter().collect());
            c.nsfw = nsfw;
            c
        })
}

fn command_set() -> impl Strategy<Value = Vec<AppCommand>> {
    prop::collection::vec(command(), 0..6).prop_map(|mut cs| {
        let mut seen = BTreeSet::new();
        cs.retain(|c| seen.insert((c.kind, c.name.clone())));
        cs
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Whatever the builder makes and validation accepts survives Discord's JSON
    /// (as sent, and as Discord answers with its defaults spelled out), and
    /// compares equal.
    #[test]
    fn valid_sets_round_trip_through_discords_json(set in command_set()) {
        prop_assert!(validate(&set).is_ok(), "{}", validate(&set).err().map(|e| e.to_string()).unwrap_or_default());

        let sent = serde_json::to_vec(&to_discord(&set)).expect("serializes");
        let back = from_discord(&sent).expect("parses what we send");
        prop_assert!(same_commands(&set, &back), "{:?}", diff(&set, &back));
        prop_assert_eq!(back.len(), set.len());

        let answered = from_discord(&as_discord_returns(&set)).expect("parses Discord's answer");
        prop_assert!(same_commands(&set, &answered), "{:?}", diff(&set, &answered));

        // Either parse, declared again, is the same as the other.
        prop_assert!(same_commands(&back, &answered), "{:?}", diff(&back, &answered));
    }

    /// A changed description is always noticed.
    #[test]
    fn a_changed_description_is_a_difference(set in command_set()) {
        let mut changed = set.clone();
        if let Some(c) = changed.iter_mut().find(|c| c.kind == CommandKind::ChatInput) {
            c.description.push('!');
            let back = from_discord(&serde_json::to_vec(&to_discord(&set)).expect("serializes")).expect("parses");
            prop_assert!(!same_commands(&changed, &back));
        }
    }
}
