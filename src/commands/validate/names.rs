//! Name, description and localization rules shared by commands, options and choices.

use std::sync::LazyLock;

use regex::Regex;

use super::issue::Issues;
use crate::commands::limits::{DESCRIPTION_MAX, NAME_MAX};
use crate::commands::localization::{Localizations, is_locale};

/// One character of Discord's chat-input name pattern
/// `^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$` (its documentation's current form;
/// the apostrophe was added later than the rest).
static NAME_CHAR: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern, compiled by the tests: it cannot fail at run time.
    Regex::new(r"^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]$").expect("the name pattern compiles")
});

/// Whether `c` may appear in a chat-input command or option name.
pub(crate) fn is_name_char(c: char) -> bool {
    let mut buf = [0u8; 4];
    NAME_CHAR.is_match(c.encode_utf8(&mut buf))
}

/// Whether `c` has a lowercase form other than itself (uppercase and titlecase
/// letters), which Discord requires instead.
fn has_lowercase_variant(c: char) -> bool {
    let mut lower = c.to_lowercase();
    !(lower.next() == Some(c) && lower.next().is_none())
}

/// Checks a chat-input command or option name.
pub(super) fn chat_input_name(out: &mut Issues, path: &str, name: &str) {
    let len = name.chars().count();
    if len == 0 {
        out.push(path, "empty, a name has 1 to 32 characters");
        return;
    }
    if len > NAME_MAX {
        out.push(
            path,
            format!("`{name}` is {len} characters, at most {NAME_MAX}"),
        );
    }
    let bad: String = unique(name.chars().filter(|c| !is_name_char(*c)));
    if !bad.is_empty() {
        out.push(
            path,
            format!(
                "`{name}` has characters a name cannot have: {} (allowed: letters, numbers, \
                 `-`, `_`, `'`)",
                quoted(&bad)
            ),
        );
    }
    let upper: String = unique(name.chars().filter(|c| has_lowercase_variant(*c)));
    if !upper.is_empty() {
        out.push(
            path,
            format!(
                "`{name}` has uppercase letters ({}); chat-input names are lowercase",
                quoted(&upper)
            ),
        );
    }
}

/// Checks a context-menu command name: 1–32 characters, capitals and spaces allowed.
pub(super) fn context_menu_name(out: &mut Issues, path: &str, name: &str) {
    let len = name.chars().count();
    if name.trim().is_empty() {
        out.push(path, "empty, a name has 1 to 32 characters");
    } else if len > NAME_MAX {
        out.push(
            path,
            format!("`{name}` is {len} characters, at most {NAME_MAX}"),
        );
    }
}

/// Checks a description of 1 to `DESCRIPTION_MAX` characters.
pub(super) fn description(out: &mut Issues, path: &str, text: &str) {
    length(out, path, text, 1, DESCRIPTION_MAX, "a description");
}

/// Checks that `text` has `min..=max` characters.
pub(super) fn length(out: &mut Issues, path: &str, text: &str, min: usize, max: usize, what: &str) {
    let len = text.chars().count();
    if len < min {
        out.push(path, format!("empty, {what} has {min} to {max} characters"));
    } else if len > max {
        out.push(path, format!("{len} characters, at most {max}"));
    }
}

/// Checks every key of `map` is a locale and every text passes `check`.
pub(super) fn localizations(
    out: &mut Issues,
    path: &str,
    map: &Localizations,
    mut check: impl FnMut(&mut Issues, &str, &str),
) {
    for (locale, text) in map.iter() {
        let at = format!("{path}[{locale}]");
        if !is_locale(locale) {
            out.push(
                &at,
                format!("`{locale}` is not a locale Discord knows (e.g. `de`, `en-US`, `pt-BR`)"),
            );
        }
        check(out, &at, text);
    }
}

fn unique(chars: impl Iterator<Item = char>) -> String {
    let mut seen = String::new();
    for c in chars {
        if !seen.contains(c) {
            seen.push(c);
        }
    }
    seen
}

fn quoted(chars: &str) -> String {
    chars
        .chars()
        .map(|c| match c {
            ' ' => "space".to_owned(),
            c if c.is_control() => format!("U+{:04X}", u32::from(c)),
            c => format!("`{c}`"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(f: impl FnOnce(&mut Issues)) -> Vec<String> {
        let mut out = Issues::default();
        f(&mut out);
        out.0.into_iter().map(|i| i.problem).collect()
    }

    #[test]
    fn the_pattern_follows_discord() {
        for ok in [
            "game",
            "start-now",
            "snake_case",
            "x",
            "don't",
            "спорт",
            "игра2",
            "ゲーム",
            "游戏",
            "खेल",
            "เกม",
            "٣",
            "ß",
        ] {
            assert!(problems(|o| chat_input_name(o, "n", ok)).is_empty(), "{ok}");
        }
        // Devanagari and Thai vowel signs are marks, not letters: the pattern lists
        // their scripts so names in these languages work.
        assert!(is_name_char('\u{093F}'));
        assert!(is_name_char('\u{0E31}'));
        // Other scripts' marks are outside the pattern.
        assert!(!is_name_char('\u{0301}'));
        for bad in [' ', '!', '.', '/', '@', '😀', '\u{200B}'] {
            assert!(!is_name_char(bad), "{bad:?}");
        }
    }

    #[test]
    fn names_fail_each_rule() {
        assert_eq!(
            problems(|o| chat_input_name(o, "n", "")),
            ["empty, a name has 1 to 32 characters"]
        );
        assert_eq!(
            problems(|o| chat_input_name(o, "n", &"a".repeat(33))),
            [format!("`{}` is 33 characters, at most 32", "a".repeat(33))]
        );
        assert_eq!(
            problems(|o| chat_input_name(o, "n", "my game!")),
            [
                "`my game!` has characters a name cannot have: space, `!` (allowed: letters, \
              numbers, `-`, `_`, `'`)"
            ]
        );
        assert_eq!(
            problems(|o| chat_input_name(o, "n", "Game")),
            ["`Game` has uppercase letters (`G`); chat-input names are lowercase"]
        );
        // Titlecase letters have a lowercase form too; uncased letters are fine.
        assert_eq!(problems(|o| chat_input_name(o, "n", "ǅ")).len(), 1);
        assert!(problems(|o| chat_input_name(o, "n", "ゲーム")).is_empty());
    }

    #[test]
    fn context_menu_names_allow_capitals_and_spaces() {
        assert!(problems(|o| context_menu_name(o, "n", "High Five!")).is_empty());
        assert_eq!(problems(|o| context_menu_name(o, "n", "  ")).len(), 1);
        assert_eq!(
            problems(|o| context_menu_name(o, "n", &"A".repeat(33))).len(),
            1
        );
    }

    #[test]
    fn lengths_count_characters() {
        assert!(problems(|o| description(o, "d", &"é".repeat(100))).is_empty());
        assert_eq!(
            problems(|o| description(o, "d", &"é".repeat(101))),
            ["101 characters, at most 100"]
        );
        assert_eq!(
            problems(|o| description(o, "d", "")),
            ["empty, a description has 1 to 100 characters"]
        );
    }

    #[test]
    fn localization_keys_are_locales() {
        let map: Localizations = [("de", "spiel"), ("german", "spiel")].into_iter().collect();
        let mut out = Issues::default();
        localizations(&mut out, "c.name_localizations", &map, |o, p, t| {
            chat_input_name(o, p, t);
        });
        assert_eq!(out.0.len(), 1);
        assert_eq!(out.0[0].path, "c.name_localizations[german]");
    }
}
