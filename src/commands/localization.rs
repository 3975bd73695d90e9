//! Localized names and descriptions: a map from locale to text, and the locales
//! Discord's clients offer (the keys it accepts).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The locales Discord accepts as localization keys (its "Locales" reference).
pub const LOCALES: [&str; 32] = [
    "id", "da", "de", "en-GB", "en-US", "es-ES", "es-419", "fr", "hr", "it", "lt", "hu", "nl",
    "no", "pl", "pt-BR", "ro", "fi", "sv-SE", "vi", "tr", "cs", "el", "bg", "ru", "uk", "hi", "th",
    "zh-CN", "ja", "zh-TW", "ko",
];

/// Whether `locale` is one of [`LOCALES`] (exact spelling: `en-US`, not `en_us`).
#[must_use]
pub fn is_locale(locale: &str) -> bool {
    LOCALES.contains(&locale)
}

/// Texts of one field by locale, e.g. `{"de": "spiel", "fr": "jeu"}`. Ordered, so two
/// equal maps serialize identically. Keys are checked by validation, not here, so a
/// set fetched from a provider with a locale this list lacks still parses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Localizations(pub BTreeMap<String, String>);

impl Localizations {
    /// No localizations.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the text for `locale`, replacing an earlier one.
    pub fn insert(&mut self, locale: impl Into<String>, text: impl Into<String>) {
        self.0.insert(locale.into(), text.into());
    }

    /// The text for `locale`, if any.
    #[must_use]
    pub fn get(&self, locale: &str) -> Option<&str> {
        self.0.get(locale).map(String::as_str)
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `(locale, text)` pairs in locale order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(l, t)| (l.as_str(), t.as_str()))
    }

    /// The longest of `default` and every localization, in characters: what counts
    /// towards a command's size limit.
    #[must_use]
    pub fn longest(&self, default: &str) -> usize {
        self.0
            .values()
            .map(|t| t.chars().count())
            .fold(default.chars().count(), usize::max)
    }

    /// The text a user with `locale` sees: the localization, else `default`.
    #[must_use]
    pub fn resolve<'a>(&'a self, locale: Option<&str>, default: &'a str) -> &'a str {
        locale.and_then(|l| self.get(l)).unwrap_or(default)
    }
}

impl<L: Into<String>, T: Into<String>> FromIterator<(L, T)> for Localizations {
    fn from_iter<I: IntoIterator<Item = (L, T)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(l, t)| (l.into(), t.into()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_are_discords_spelling() {
        assert!(is_locale("en-US"));
        assert!(is_locale("es-419"));
        assert!(is_locale("zh-TW"));
        assert!(!is_locale("en"));
        assert!(!is_locale("en_us"));
        assert!(!is_locale("de-DE"));
        let mut sorted = LOCALES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), LOCALES.len(), "no locale twice");
    }

    #[test]
    fn longest_counts_characters_and_the_default() {
        let l: Localizations = [("de", "spielen"), ("ja", "ゲーム")].into_iter().collect();
        assert_eq!(l.longest("go"), 7);
        assert_eq!(l.longest("a much longer default"), 21);
        assert_eq!(Localizations::new().longest("ゲーム"), 3);
    }

    #[test]
    fn resolve_falls_back_to_the_default() {
        let l: Localizations = [("de", "spiel")].into_iter().collect();
        assert_eq!(l.resolve(Some("de"), "game"), "spiel");
        assert_eq!(l.resolve(Some("fr"), "game"), "game");
        assert_eq!(l.resolve(None, "game"), "game");
    }

    #[test]
    fn serializes_as_a_plain_ordered_map() {
        let l: Localizations = [("fr", "jeu"), ("de", "spiel")].into_iter().collect();
        let json = serde_json::to_string(&l).expect("serializes");
        assert_eq!(json, r#"{"de":"spiel","fr":"jeu"}"#);
    }
}
