//! Every rule of validation, each shown failing, plus a set that passes.

use super::*;
use crate::commands::{AppCommand, ChannelType, Choice, InteractionContext, OptionDef};

/// The issues of validating `commands`, as `path: problem` lines.
fn issues(commands: &[AppCommand]) -> Vec<String> {
    match validate(commands) {
        Ok(()) => Vec::new(),
        Err(e) => e.issues().iter().map(ToString::to_string).collect(),
    }
}

fn one(c: AppCommand) -> Vec<String> {
    issues(&[c])
}

/// Asserts validating `c` reports exactly one issue, at `path`, containing `text`.
#[track_caller]
fn fails(c: AppCommand, path: &str, text: &str) {
    let found = one(c);
    assert_eq!(found.len(), 1, "expected one issue, got {found:#?}");
    let line = &found[0];
    assert!(
        line.starts_with(&format!("{path}: ")),
        "path of {line:?}, expected {path}"
    );
    assert!(line.contains(text), "{line:?} should contain {text:?}");
}

fn game() -> AppCommand {
    AppCommand::slash("game", "Play a game")
}

fn s(name: &str) -> OptionDef {
    OptionDef::string(name, "Some text")
}

#[test]
fn a_full_command_set_passes() {
    let set = [
        game()
            .name_localized("de", "spiel")
            .description_localized("de", "Ein Spiel spielen")
            .subcommand(
                OptionDef::subcommand("start", "Start a game").options([
                    OptionDef::integer("rounds", "Rounds")
                        .required()
                        .range(1, 10),
                    s("mode").choice("Quick", "quick").choice("Long", "long"),
                    OptionDef::channel("where", "Where")
                        .channel_types([ChannelType::GuildText, ChannelType::PublicThread]),
                    s("word").min_length(0).max_length(6000).autocomplete(),
                    OptionDef::number("ratio", "Ratio").range(-0.5, 2),
                    OptionDef::user("who", "Who"),
                ]),
            )
            .subcommand(
                OptionDef::group("admin", "Admin").option(OptionDef::subcommand("reset", "Reset")),
            )
            .guild_only(),
        AppCommand::user("High Five").name_localized("de", "Abklatschen"),
        AppCommand::message("Bookmark"),
        AppCommand::slash("game", "Same name as the context menus is fine").admin_only(),
    ];
    // The duplicate "game" is a chat-input name twice: the only problem.
    assert_eq!(
        issues(&set),
        ["commands[game]: declared 2 times; names are unique per command type"]
    );
    assert_eq!(issues(&set[..3]), Vec::<String>::new());
    assert!(validate_command(&set[0]).is_ok());
}

#[test]
fn command_names() {
    fails(
        AppCommand::slash("Game", "x"),
        "commands[Game].name",
        "uppercase",
    );
    fails(
        AppCommand::slash("my game", "x"),
        "commands[my game].name",
        "space",
    );
    fails(AppCommand::slash("", "x"), "commands[].name", "empty");
    let long = "g".repeat(33);
    fails(
        AppCommand::slash(long.as_str(), "x"),
        &format!("commands[{long}].name"),
        "33 characters, at most 32",
    );
    fails(AppCommand::user(""), "user_commands[].name", "empty");
    fails(
        AppCommand::message("M".repeat(33)),
        &format!("message_commands[{}].name", "M".repeat(33)),
        "at most 32",
    );
}

#[test]
fn descriptions() {
    fails(
        AppCommand::slash("game", ""),
        "commands[game].description",
        "empty",
    );
    fails(
        AppCommand::slash("game", "d".repeat(101)),
        "commands[game].description",
        "101 characters, at most 100",
    );
    let mut menu = AppCommand::user("Stats");
    menu.description = "Shows stats".into();
    fails(menu, "user_commands[Stats].description", "no description");
    fails(
        AppCommand::user("Stats").option(s("x")),
        "user_commands[Stats].options",
        "no options",
    );
    fails(
        game().option(OptionDef::string("x", "")),
        "commands[game].options[0].description",
        "empty",
    );
}

#[test]
fn localizations() {
    fails(
        game().name_localized("german", "spiel"),
        "commands[game].name_localizations[german]",
        "not a locale",
    );
    fails(
        game().name_localized("de", "Spiel"),
        "commands[game].name_localizations[de]",
        "uppercase",
    );
    fails(
        game().description_localized("fr", "j".repeat(101)),
        "commands[game].description_localizations[fr]",
        "at most 100",
    );
    fails(
        AppCommand::user("Stats").description_localized("de", "Statistik"),
        "user_commands[Stats].description_localizations",
        "no description",
    );
    fails(
        game().option(s("mode").choices([Choice::new("Quick", "q").localized("xx", "Schnell")])),
        "commands[game].options[0].choices[0].name_localizations[xx]",
        "not a locale",
    );
}

#[test]
fn option_count() {
    let ok = game().options((0..25).map(|i| s(&format!("o{i}"))));
    assert_eq!(one(ok.clone()), Vec::<String>::new());
    fails(
        ok.option(s("o25")),
        "commands[game].options",
        "26 options, at most 25",
    );
    let group = OptionDef::group("g", "Group")
        .options((0..26).map(|i| OptionDef::subcommand(format!("s{i}"), "Sub")));
    fails(
        game().option(group),
        "commands[game].options[0].options",
        "26 options",
    );
}

#[test]
fn choices() {
    let many = s("pick").choices((0..26).map(|i| Choice::new(format!("c{i}"), format!("v{i}"))));
    fails(
        game().options([s("a"), s("b"), many]),
        "commands[game].options[2].choices",
        "26 choices, at most 25",
    );
    fails(
        game().option(s("pick").choice("", "v")),
        "commands[game].options[0].choices[0].name",
        "empty",
    );
    fails(
        game().option(s("pick").choice("n".repeat(101), "v")),
        "commands[game].options[0].choices[0].name",
        "101 characters, at most 100",
    );
    fails(
        game().option(s("pick").choice("n", "v".repeat(101))),
        "commands[game].options[0].choices[0].value",
        "101 characters, at most 100",
    );
    fails(
        game().option(OptionDef::integer("n", "N").choice("one", "1")),
        "commands[game].options[0].choices[0].value",
        "a string value for an integer option",
    );
    fails(
        game().option(OptionDef::integer("n", "N").choice("half", 0.5)),
        "commands[game].options[0].choices[0].value",
        "a number value for an integer option",
    );
    fails(
        game().option(OptionDef::integer("n", "N").choice("big", 1_i64 << 53)),
        "commands[game].options[0].choices[0].value",
        "outside",
    );
    fails(
        game().option(OptionDef::number("n", "N").choice("inf", f64::INFINITY)),
        "commands[game].options[0].choices[0].value",
        "not a finite number",
    );
    fails(
        game().option(OptionDef::boolean("b", "B").choice("yes", "true")),
        "commands[game].options[0].choices",
        "a boolean option has no choices",
    );
    // Integers are fine as choices of a number option.
    assert!(one(game().option(OptionDef::number("n", "N").choice("one", 1))).is_empty());
}

#[test]
fn required_options_come_first() {
    fails(
        game().options([s("a"), s("b").required()]),
        "commands[game].options[1].required",
        "required option `b` after optional option `a`",
    );
    let sub = OptionDef::subcommand("start", "Start").options([s("a"), s("b").required()]);
    fails(
        game().option(sub),
        "commands[game].options[0].options[1].required",
        "required options come first",
    );
    fails(
        game().option(OptionDef::subcommand("start", "Start").required()),
        "commands[game].options[0].required",
        "a subcommand cannot be required",
    );
}

#[test]
fn option_names_are_unique_and_valid() {
    fails(
        game().options([s("word"), s("word")]),
        "commands[game].options[1].name",
        "also the name of options[0]",
    );
    fails(
        game().option(s("Word")),
        "commands[game].options[0].name",
        "uppercase",
    );
    fails(
        game().option(s("a b")),
        "commands[game].options[0].name",
        "space",
    );
}

#[test]
fn nesting() {
    fails(
        game().options([OptionDef::subcommand("start", "Start"), s("word")]),
        "commands[game].options[1]",
        "a string option beside subcommands",
    );
    fails(
        game().option(OptionDef::group("admin", "Admin").option(s("word"))),
        "commands[game].options[0].options[0]",
        "a string in a group; groups contain only subcommands",
    );
    fails(
        game().option(
            OptionDef::group("admin", "Admin").option(OptionDef::group("deeper", "Deeper")),
        ),
        "commands[game].options[0].options[0]",
        "a subcommand group in a group",
    );
    fails(
        game().option(
            OptionDef::subcommand("start", "Start").option(OptionDef::subcommand("now", "Now")),
        ),
        "commands[game].options[0].options[0]",
        "a subcommand in a subcommand",
    );
    fails(
        game().option(s("word").option(s("inner"))),
        "commands[game].options[0].options",
        "a string option has no options of its own",
    );
}

#[test]
fn bounds() {
    fails(
        game().option(OptionDef::integer("n", "N").range(10, 5)),
        "commands[game].options[0].min_value",
        "10 is greater than max_value 5",
    );
    fails(
        game().option(OptionDef::number("n", "N").range(2.5, 1)),
        "commands[game].options[0].min_value",
        "2.5 is greater than max_value 1",
    );
    fails(
        game().option(OptionDef::integer("n", "N").min_value(0.5)),
        "commands[game].options[0].min_value",
        "a number bound for an integer option",
    );
    fails(
        game().option(s("w").max_value(3)),
        "commands[game].options[0].max_value",
        "a string option has no max_value",
    );
    fails(
        game().option(OptionDef::integer("n", "N").max_value(i64::MAX)),
        "commands[game].options[0].max_value",
        "outside",
    );
    fails(
        game().option(OptionDef::number("n", "N").min_value(-1e300)),
        "commands[game].options[0].min_value",
        "outside ±2^53",
    );
    fails(
        game().option(s("w").min_length(10).max_length(5)),
        "commands[game].options[0].min_length",
        "10 is greater than max_length 5",
    );
    fails(
        game().option(s("w").min_length(6001)),
        "commands[game].options[0].min_length",
        "at most 6000",
    );
    fails(
        game().option(s("w").max_length(0)),
        "commands[game].options[0].max_length",
        "between 1 and 6000",
    );
    fails(
        game().option(OptionDef::integer("n", "N").max_length(3)),
        "commands[game].options[0].max_length",
        "no length limits",
    );
}

#[test]
fn autocomplete_and_channel_types() {
    fails(
        game().option(s("w").choice("a", "a").autocomplete()),
        "commands[game].options[0].autocomplete",
        "mutually exclusive",
    );
    fails(
        game().option(OptionDef::user("u", "U").autocomplete()),
        "commands[game].options[0].autocomplete",
        "a user option cannot autocomplete",
    );
    fails(
        game().option(s("w").channel_types([ChannelType::GuildText])),
        "commands[game].options[0].channel_types",
        "only channel options",
    );
}

#[test]
fn counts_per_scope() {
    let slash: Vec<_> = (0..100)
        .map(|i| AppCommand::slash(format!("c{i}"), "C"))
        .collect();
    assert!(issues(&slash).is_empty());
    let mut over = slash.clone();
    over.push(AppCommand::slash("c100", "C"));
    assert_eq!(
        issues(&over),
        ["commands: 101 commands, at most 100 per scope"]
    );

    let users: Vec<_> = (0..16)
        .map(|i| AppCommand::user(format!("U {i}")))
        .collect();
    assert_eq!(issues(&users[..15]), Vec::<String>::new());
    assert_eq!(
        issues(&users),
        ["user_commands: 16 commands, at most 15 per scope"]
    );
    let messages: Vec<_> = (0..16)
        .map(|i| AppCommand::message(format!("M {i}")))
        .collect();
    assert_eq!(
        issues(&messages),
        ["message_commands: 16 commands, at most 15 per scope"]
    );
}

#[test]
fn unique_names_per_type() {
    assert_eq!(
        issues(&[AppCommand::user("Stats"), AppCommand::user("Stats")]),
        ["user_commands[Stats]: declared 2 times; names are unique per command type"]
    );
    // The same name in different types is allowed.
    assert!(issues(&[AppCommand::user("stats"), AppCommand::slash("stats", "S")]).is_empty());
}

#[test]
fn total_characters() {
    // 25 options × (32-char name + 100-char description) + 25 choices × (100 + 100)
    // on one of them: 3,300 + 5,000 + the command's own 4 + 100 = 8,404 > 8,000.
    let choices = (0..25).map(|i| Choice::new(format!("{i:0>100}"), format!("{i:0>100}")));
    let big = AppCommand::slash("game", "d".repeat(100)).options((0..25).map(|i| {
        let o = OptionDef::string(format!("{i:0>32}"), "d".repeat(100));
        if i == 0 {
            o.clone().choices(choices.clone())
        } else {
            o
        }
    }));
    assert_eq!(command_chars(&big), 8404);
    fails(
        big,
        "commands[game]",
        "8404 characters in names, descriptions and choices, at most 8000",
    );

    // Only the longest localization of a field counts.
    let c = AppCommand::slash("abc", "short")
        .description_localized("de", "1234567890")
        .description_localized("fr", "12345678");
    assert_eq!(command_chars(&c), 13);
}

#[test]
fn contexts_cannot_be_empty() {
    fails(
        game().contexts(std::iter::empty::<InteractionContext>()),
        "commands[game].contexts",
        "used nowhere",
    );
    fails(
        game().installs([]),
        "commands[game].installs",
        "no installation",
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let bad = AppCommand::slash("Bad Name", "")
        .options([s("x").choice("a", "a").autocomplete(), s("x").required()]);
    let found = one(bad);
    assert_eq!(found.len(), 6, "{found:#?}");
}
