//! URNs: `urn:<provider>:<tenant>:<kind>:<id>`, a stable, provider-neutral name for
//! anything a tenant owns (a channel, a message, a user).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::name::{ProviderName, SegmentError, TenantId, TenantName, validate_segment};

/// Which part of a URN was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrnPart {
    /// The leading `urn` scheme.
    Scheme,
    /// The provider.
    Provider,
    /// The tenant.
    Tenant,
    /// The kind of object (`channel`, `message`, ...).
    Kind,
    /// The provider's id for the object.
    Id,
}

impl fmt::Display for UrnPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Scheme => "scheme",
            Self::Provider => "provider",
            Self::Tenant => "tenant",
            Self::Kind => "kind",
            Self::Id => "id",
        })
    }
}

/// Why a URN could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrnError {
    /// Not exactly five `:`-separated segments.
    #[error("urn {urn:?} has {found} segments, expected 5 (urn:<provider>:<tenant>:<kind>:<id>)")]
    SegmentCount {
        /// The input (truncated).
        urn: String,
        /// How many segments it had.
        found: usize,
    },
    /// The first segment is not `urn`.
    #[error("urn segment 0 (scheme) is {found:?}, expected \"urn\"")]
    Scheme {
        /// What was found (truncated).
        found: String,
    },
    /// A segment is not a valid name.
    #[error("urn segment {index} ({part}) {value:?} {reason}")]
    BadSegment {
        /// Zero-based index.
        index: usize,
        /// Which part.
        part: UrnPart,
        /// The value (truncated).
        value: String,
        /// Why it is bad.
        reason: SegmentError,
    },
}

/// A parsed URN.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Urn {
    tenant: TenantId,
    kind: Box<str>,
    id: Box<str>,
}

fn truncated(s: &str) -> String {
    s.chars().take(80).collect()
}

fn seg(index: usize, part: UrnPart, value: &str) -> Result<(), UrnError> {
    validate_segment(value).map_err(|reason| UrnError::BadSegment {
        index,
        part,
        value: truncated(value),
        reason,
    })
}

/// Builds the URN of an object of `kind` with provider id `id` owned by `tenant`.
///
/// # Errors
/// A [`UrnError`] if `kind` or `id` is not a valid segment.
pub fn to_urn(tenant: &TenantId, kind: &str, id: &str) -> Result<Urn, UrnError> {
    Urn::new(tenant, kind, id)
}

/// Parses a URN string.
///
/// # Errors
/// A [`UrnError`] naming the bad segment.
pub fn from_urn(s: &str) -> Result<Urn, UrnError> {
    Urn::parse(s)
}

impl Urn {
    /// See [`to_urn`].
    ///
    /// # Errors
    /// A [`UrnError`] if `kind` or `id` is not a valid segment.
    pub fn new(tenant: &TenantId, kind: &str, id: &str) -> Result<Self, UrnError> {
        seg(3, UrnPart::Kind, kind)?;
        seg(4, UrnPart::Id, id)?;
        Ok(Self {
            tenant: tenant.clone(),
            kind: kind.into(),
            id: id.into(),
        })
    }

    /// See [`from_urn`].
    ///
    /// # Errors
    /// A [`UrnError`] naming the bad segment.
    pub fn parse(s: &str) -> Result<Self, UrnError> {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 5 {
            return Err(UrnError::SegmentCount {
                urn: truncated(s),
                found: parts.len(),
            });
        }
        if parts[0] != "urn" {
            return Err(UrnError::Scheme {
                found: truncated(parts[0]),
            });
        }
        let provider = ProviderName::new(parts[1]).map_err(|e| UrnError::BadSegment {
            index: 1,
            part: UrnPart::Provider,
            value: truncated(parts[1]),
            reason: e.reason,
        })?;
        let tenant = TenantName::new(parts[2]).map_err(|e| UrnError::BadSegment {
            index: 2,
            part: UrnPart::Tenant,
            value: truncated(parts[2]),
            reason: e.reason,
        })?;
        Self::new(&TenantId::new(provider, tenant), parts[3], parts[4])
    }

    /// The owning tenant.
    #[must_use]
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The object kind.
    #[must_use]
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The provider's id of the object.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Display for Urn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "urn:{}:{}:{}:{}",
            self.tenant.provider, self.tenant.tenant, self.kind, self.id
        )
    }
}

impl fmt::Debug for Urn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Urn({self})")
    }
}

impl FromStr for Urn {
    type Err = UrnError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Urn {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Urn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let t = TenantId::parse("discord", "duck").unwrap();
        let urn = to_urn(&t, "channel", "222222222222222222").unwrap();
        assert_eq!(
            urn.to_string(),
            "urn:discord:duck:channel:222222222222222222"
        );
        assert_eq!(from_urn(&urn.to_string()).unwrap(), urn);
    }

    #[test]
    fn errors_name_the_segment() {
        assert_eq!(
            from_urn("urn:discord:duck:Channel:1")
                .unwrap_err()
                .to_string(),
            "urn segment 3 (kind) \"Channel\" contains 'C' at position 0 (allowed: lowercase letters, digits, '_' and '-')"
        );
        assert_eq!(
            from_urn("uri:discord:duck:channel:1")
                .unwrap_err()
                .to_string(),
            "urn segment 0 (scheme) is \"uri\", expected \"urn\""
        );
        assert!(matches!(
            from_urn("urn:discord:duck"),
            Err(UrnError::SegmentCount { found: 3, .. })
        ));
    }
}
