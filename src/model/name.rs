//! Validated name segments: provider names, tenant names and topic segments.
//!
//! Every name that ends up inside a topic, a URN, a Redis key or a vault path goes
//! through [`validate_segment`], so a tenant called `duck.events` or `Duck` can never
//! forge another tenant's topic or key.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest segment we accept. Discord snowflakes are at most 20 digits; 64 leaves
/// room for readable tenant names while keeping Redis keys short.
pub const MAX_SEGMENT_LEN: usize = 64;

/// Why a segment was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SegmentError {
    /// The segment is empty.
    #[error("is empty")]
    Empty,
    /// The segment is longer than [`MAX_SEGMENT_LEN`].
    #[error("is {len} characters long (at most {MAX_SEGMENT_LEN} allowed)")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// The segment contains a character outside `[a-z0-9_-]`.
    #[error(
        "contains {found:?} at position {at} (allowed: lowercase letters, digits, '_' and '-')"
    )]
    BadChar {
        /// The offending character.
        found: char,
        /// Its character index.
        at: usize,
    },
}

/// Checks one name segment: non-empty, at most [`MAX_SEGMENT_LEN`] characters, only
/// lowercase ASCII letters, digits, `_` and `-`.
///
/// # Errors
/// A [`SegmentError`] saying what is wrong.
pub fn validate_segment(s: &str) -> Result<(), SegmentError> {
    if s.is_empty() {
        return Err(SegmentError::Empty);
    }
    if let Some((at, found)) = s
        .chars()
        .enumerate()
        .find(|(_, c)| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
    {
        return Err(SegmentError::BadChar { found, at });
    }
    if s.len() > MAX_SEGMENT_LEN {
        return Err(SegmentError::TooLong { len: s.len() });
    }
    Ok(())
}

/// Defines a validated string newtype around a segment.
macro_rules! segment_type {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(std::sync::Arc<str>);

        impl $name {
            /// Validates and wraps a name.
            ///
            /// # Errors
            /// A [`NameError`] naming what kind of name was bad and why.
            pub fn new(s: impl AsRef<str>) -> Result<Self, NameError> {
                let s = s.as_ref();
                validate_segment(s).map_err(|reason| NameError {
                    what: $what,
                    value: s.chars().take(MAX_SEGMENT_LEN + 8).collect(),
                    reason,
                })?;
                Ok(Self(s.into()))
            }

            /// The name as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::new(&*s).map_err(serde::de::Error::custom)
            }
        }
    };
}

segment_type!(
    /// A provider name such as `discord`.
    ProviderName,
    "provider"
);
segment_type!(
    /// A tenant name such as `duck`, unique within its provider.
    TenantName,
    "tenant"
);

/// A name that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} name {value:?}: {reason}")]
pub struct NameError {
    /// Which kind of name (`provider`, `tenant`).
    pub what: &'static str,
    /// The rejected value (truncated).
    pub value: String,
    /// Why it was rejected.
    pub reason: SegmentError,
}

/// A tenant's full identity: its provider and its name. Displayed as
/// `provider/tenant`, the form logs and the admin API use.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TenantId {
    /// The provider, e.g. `discord`.
    pub provider: ProviderName,
    /// The tenant, e.g. `duck`.
    pub tenant: TenantName,
}

impl TenantId {
    /// Builds a tenant id from already validated parts.
    #[must_use]
    pub fn new(provider: ProviderName, tenant: TenantName) -> Self {
        Self { provider, tenant }
    }

    /// Validates and builds a tenant id from two strings.
    ///
    /// # Errors
    /// A [`NameError`] for the first bad part.
    pub fn parse(provider: &str, tenant: &str) -> Result<Self, NameError> {
        Ok(Self::new(
            ProviderName::new(provider)?,
            TenantName::new(tenant)?,
        ))
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.tenant)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_good_segments() {
        for s in ["discord", "duck", "a", "x_1-y", "0123456789"] {
            assert_eq!(validate_segment(s), Ok(()), "{s}");
        }
    }

    #[test]
    fn rejects_bad_segments_with_reason() {
        assert_eq!(validate_segment(""), Err(SegmentError::Empty));
        assert_eq!(
            validate_segment("Duck"),
            Err(SegmentError::BadChar { found: 'D', at: 0 })
        );
        assert_eq!(
            validate_segment("du.ck"),
            Err(SegmentError::BadChar { found: '.', at: 2 })
        );
        assert!(matches!(
            validate_segment(&"a".repeat(65)),
            Err(SegmentError::TooLong { len: 65 })
        ));
    }

    #[test]
    fn name_error_names_the_kind() {
        let err = TenantName::new("Bad Name").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid tenant name \"Bad Name\": contains 'B' at position 0 (allowed: lowercase letters, digits, '_' and '-')"
        );
    }

    #[test]
    fn tenant_id_displays_as_path() {
        let id = TenantId::parse("discord", "duck").unwrap();
        assert_eq!(id.to_string(), "discord/duck");
    }
}
