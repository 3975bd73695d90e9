//! Bus topics: `<ns>.p.<provider>.t.<tenant>.<area>.<name>`.
//!
//! Every envelope travels on a topic that names its provider and tenant, so routing,
//! per-tenant inboxes and access checks never need to look inside the payload. With
//! `ns = promethean` the topics are exactly the original specification's
//! (`promethean.p.discord.t.duck.rest.request`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::name::{ProviderName, SegmentError, TenantId, TenantName, validate_segment};

/// The namespace used when a registry does not name one.
pub const DEFAULT_NAMESPACE: &str = "promethean";

/// Which part of a topic was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicPart {
    /// The namespace, first segment.
    Namespace,
    /// The literal `p` marker, second segment.
    ProviderMarker,
    /// The provider name, third segment.
    Provider,
    /// The literal `t` marker, fourth segment.
    TenantMarker,
    /// The tenant name, fifth segment.
    Tenant,
    /// The area (`events`, `rest`, `raw`, ...), sixth segment.
    Area,
    /// The name within the area, seventh segment.
    Name,
}

impl fmt::Display for TopicPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Namespace => "namespace",
            Self::ProviderMarker => "provider marker",
            Self::Provider => "provider",
            Self::TenantMarker => "tenant marker",
            Self::Tenant => "tenant",
            Self::Area => "area",
            Self::Name => "name",
        })
    }
}

/// Why a topic could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// The topic does not have exactly seven dot-separated segments.
    #[error(
        "topic {topic:?} has {found} segments, expected 7 (<ns>.p.<provider>.t.<tenant>.<area>.<name>)"
    )]
    SegmentCount {
        /// The topic as given (truncated).
        topic: String,
        /// How many segments it had.
        found: usize,
    },
    /// One segment is not a valid name.
    #[error("topic segment {index} ({part}) {value:?} {reason}")]
    BadSegment {
        /// Zero-based index of the segment.
        index: usize,
        /// Which part of the grammar it is.
        part: TopicPart,
        /// Its value (truncated).
        value: String,
        /// What is wrong with it.
        reason: SegmentError,
    },
    /// A fixed marker (`p` or `t`) is something else.
    #[error("topic segment {index} ({part}) is {value:?}, expected {expected:?}")]
    BadMarker {
        /// Zero-based index of the segment.
        index: usize,
        /// Which marker.
        part: TopicPart,
        /// What was found (truncated).
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}

/// A parsed, validated topic.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic {
    ns: Box<str>,
    tenant: TenantId,
    area: Box<str>,
    name: Box<str>,
}

fn truncated(s: &str) -> String {
    s.chars().take(80).collect()
}

fn check(index: usize, part: TopicPart, value: &str) -> Result<(), TopicError> {
    validate_segment(value).map_err(|reason| TopicError::BadSegment {
        index,
        part,
        value: truncated(value),
        reason,
    })
}

impl Topic {
    /// Builds a topic from its parts, validating each.
    ///
    /// # Errors
    /// A [`TopicError::BadSegment`] naming the first bad part.
    pub fn new(ns: &str, tenant: &TenantId, area: &str, name: &str) -> Result<Self, TopicError> {
        check(0, TopicPart::Namespace, ns)?;
        check(5, TopicPart::Area, area)?;
        check(6, TopicPart::Name, name)?;
        Ok(Self {
            ns: ns.into(),
            tenant: tenant.clone(),
            area: area.into(),
            name: name.into(),
        })
    }

    /// Parses `<ns>.p.<provider>.t.<tenant>.<area>.<name>`.
    ///
    /// # Errors
    /// A [`TopicError`] naming the bad segment and why.
    pub fn parse(s: &str) -> Result<Self, TopicError> {
        let parts: Vec<&str> = s.split('.').collect();
        if parts.len() != 7 {
            return Err(TopicError::SegmentCount {
                topic: truncated(s),
                found: parts.len(),
            });
        }
        let marker = |index: usize, part, expected: &'static str| {
            if parts[index] == expected {
                Ok(())
            } else {
                Err(TopicError::BadMarker {
                    index,
                    part,
                    value: truncated(parts[index]),
                    expected,
                })
            }
        };
        check(0, TopicPart::Namespace, parts[0])?;
        marker(1, TopicPart::ProviderMarker, "p")?;
        check(2, TopicPart::Provider, parts[2])?;
        marker(3, TopicPart::TenantMarker, "t")?;
        check(4, TopicPart::Tenant, parts[4])?;
        check(5, TopicPart::Area, parts[5])?;
        check(6, TopicPart::Name, parts[6])?;
        // The segments were validated above, so these cannot fail; map anyway rather
        // than unwrap, to keep one error path.
        let provider = ProviderName::new(parts[2]).map_err(|e| TopicError::BadSegment {
            index: 2,
            part: TopicPart::Provider,
            value: truncated(parts[2]),
            reason: e.reason,
        })?;
        let tenant = TenantName::new(parts[4]).map_err(|e| TopicError::BadSegment {
            index: 4,
            part: TopicPart::Tenant,
            value: truncated(parts[4]),
            reason: e.reason,
        })?;
        Ok(Self {
            ns: parts[0].into(),
            tenant: TenantId::new(provider, tenant),
            area: parts[5].into(),
            name: parts[6].into(),
        })
    }

    /// The namespace.
    #[must_use]
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// The provider and tenant.
    #[must_use]
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The area (`events`, `rest`, `raw`, ...).
    #[must_use]
    pub fn area(&self) -> &str {
        &self.area
    }

    /// The name within the area.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.p.{}.t.{}.{}.{}",
            self.ns, self.tenant.provider, self.tenant.tenant, self.area, self.name
        )
    }
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Topic({self})")
    }
}

impl FromStr for Topic {
    type Err = TopicError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Topic {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Topic {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duck() -> TenantId {
        TenantId::parse("discord", "duck").unwrap()
    }

    #[test]
    fn promethean_topics_match_the_original_spec() {
        let t = Topic::new("promethean", &duck(), "rest", "request").unwrap();
        assert_eq!(t.to_string(), "promethean.p.discord.t.duck.rest.request");
        assert_eq!(Topic::parse(&t.to_string()).unwrap(), t);
    }

    #[test]
    fn errors_name_the_segment() {
        let err = Topic::parse("promethean.p.discord.t.Duck.rest.request").unwrap_err();
        assert_eq!(
            err.to_string(),
            "topic segment 4 (tenant) \"Duck\" contains 'D' at position 0 (allowed: lowercase letters, digits, '_' and '-')"
        );
        let err = Topic::parse("promethean.x.discord.t.duck.rest.request").unwrap_err();
        assert_eq!(
            err.to_string(),
            "topic segment 1 (provider marker) is \"x\", expected \"p\""
        );
        let err = Topic::parse("promethean.p..t.duck.rest.request").unwrap_err();
        assert_eq!(err.to_string(), "topic segment 2 (provider) \"\" is empty");
        let err = Topic::parse("a.p.b.t.c.d").unwrap_err();
        assert!(matches!(err, TopicError::SegmentCount { found: 6, .. }));
    }
}
