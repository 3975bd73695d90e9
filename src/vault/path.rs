//! Secret paths (`<provider>/<tenant>/<name>`), the kinds of secret, and lease ids.
//!
//! Every segment is validated with the same rule as the model's names
//! (`[a-z0-9_-]{1,64}`), so a path can never smuggle a `/`, a `:` or a `{` into a
//! Redis key or forge another tenant's path.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::VaultError;

pub use crate::model::MAX_SEGMENT_LEN;
use crate::model::{SegmentError, validate_segment};

/// Checks one path segment with the model's rule ([`validate_segment`]:
/// non-empty, at most [`MAX_SEGMENT_LEN`] bytes, only lowercase ASCII letters,
/// digits, `_` and `-`), saying why not in the vault's words.
pub(crate) fn check_segment(s: &str) -> Result<(), &'static str> {
    validate_segment(s).map_err(|e| segment_reason(&e))
}

/// Why a segment was refused, as [`VaultError::InvalidPath`] says it (without the
/// offending characters, which could be anything).
pub(crate) fn segment_reason(e: &SegmentError) -> &'static str {
    match e {
        SegmentError::Empty => "a segment is empty",
        SegmentError::TooLong { .. } => "a segment is longer than 64 characters",
        SegmentError::BadChar { .. } => "a segment contains a character outside [a-z0-9_-]",
    }
}

/// A validated secret path: `<provider>/<tenant>/<name>`, e.g. `discord/duck/bot_token`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretPath {
    provider: Box<str>,
    tenant: Box<str>,
    name: Box<str>,
}

impl SecretPath {
    /// Builds a path from its three segments.
    ///
    /// # Errors
    /// [`VaultError::InvalidPath`] when a segment breaks the `[a-z0-9_-]{1,64}` rule.
    pub fn new(provider: &str, tenant: &str, name: &str) -> Result<Self, VaultError> {
        for s in [provider, tenant, name] {
            check_segment(s).map_err(|reason| VaultError::InvalidPath {
                path: format!("{provider}/{tenant}/{name}"),
                reason,
            })?;
        }
        Ok(Self {
            provider: provider.into(),
            tenant: tenant.into(),
            name: name.into(),
        })
    }

    /// The provider segment (`discord`).
    #[must_use]
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The tenant segment (`duck`).
    #[must_use]
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The secret's name (`bot_token`).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl FromStr for SecretPath {
    type Err = VaultError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(p), Some(t), Some(n), None) => Self::new(p, t, n),
            _ => Err(VaultError::InvalidPath {
                path: s.chars().take(200).collect(),
                reason: "expected <provider>/<tenant>/<name>",
            }),
        }
    }
}

impl TryFrom<&str> for SecretPath {
    type Error = VaultError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for SecretPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.provider, self.tenant, self.name)
    }
}

impl fmt::Debug for SecretPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretPath({self})")
    }
}

impl Serialize for SecretPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SecretPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a secret is for; decides which capabilities can lease it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SecretKind {
    /// A provider credential (`bot_token`, ...): leased only with `provider.gateway` or
    /// `provider.rest`, i.e. by the access layer.
    ProviderCredential,
    /// An application secret (e.g. an LLM API key): leased with `secret.read`, by a
    /// worker serving that tenant.
    AppSecret,
}

impl SecretKind {
    /// The stable name stored next to the ciphertext.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProviderCredential => "provider_credential",
            Self::AppSecret => "app_secret",
        }
    }

    /// Parses [`SecretKind::as_str`] back.
    #[must_use]
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "provider_credential" => Some(Self::ProviderCredential),
            "app_secret" => Some(Self::AppSecret),
            _ => None,
        }
    }
}

impl fmt::Display for SecretKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Makes a fresh lease id: `<path>/<ulid>`.
pub(crate) fn new_lease_id(path: &SecretPath) -> String {
    format!("{path}/{}", ulid::Ulid::new())
}

/// Splits a lease id back into its path and its unique suffix.
pub(crate) fn parse_lease_id(id: &str) -> Result<(SecretPath, &str), VaultError> {
    let bad = || VaultError::InvalidLeaseId {
        reason: "expected <provider>/<tenant>/<name>/<ulid>",
    };
    let (path, suffix) = id.rsplit_once('/').ok_or_else(bad)?;
    if suffix.is_empty() || !suffix.bytes().all(|b| b.is_ascii_alphanumeric()) || suffix.len() > 32
    {
        return Err(bad());
    }
    let path = path.parse().map_err(|_| bad())?;
    Ok((path, suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays() {
        let p: SecretPath = "discord/duck/bot_token".parse().expect("valid");
        assert_eq!(p.provider(), "discord");
        assert_eq!(p.tenant(), "duck");
        assert_eq!(p.name(), "bot_token");
        assert_eq!(p.to_string(), "discord/duck/bot_token");
    }

    #[test]
    fn rejects_bad_paths() {
        for bad in [
            "",
            "discord/duck",
            "discord/duck/a/b",
            "Discord/duck/x",
            "discord/du:ck/x",
            "discord/{duck}/x",
            "discord//x",
        ] {
            assert!(
                bad.parse::<SecretPath>().is_err(),
                "{bad} should be rejected"
            );
        }
        let long = "a".repeat(65);
        assert!(SecretPath::new("discord", &long, "x").is_err());
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics_and_round_trips(s in "\\PC{0,80}") {
            if let Ok(p) = s.parse::<SecretPath>() {
                proptest::prop_assert_eq!(p.to_string(), s.clone());
            }
            let _ = parse_lease_id(&s);
            let _ = crate::vault::PathPattern::parse(&s);
            let _ = s.parse::<crate::vault::Rule>();
        }

        #[test]
        fn valid_paths_round_trip(p in "[a-z0-9_-]{1,64}", t in "[a-z0-9_-]{1,64}", n in "[a-z0-9_-]{1,64}") {
            let path = SecretPath::new(&p, &t, &n).expect("valid");
            proptest::prop_assert_eq!(path.to_string().parse::<SecretPath>().expect("parses"), path);
        }
    }

    #[test]
    fn lease_ids_round_trip() {
        let p: SecretPath = "discord/duck/bot_token".parse().expect("valid");
        let id = new_lease_id(&p);
        let (back, suffix) = parse_lease_id(&id).expect("parses");
        assert_eq!(back, p);
        assert_eq!(suffix.len(), 26);
        assert!(parse_lease_id("discord/duck/bot_token").is_err());
        assert!(parse_lease_id("discord/duck/x/../../y").is_err());
    }
}
