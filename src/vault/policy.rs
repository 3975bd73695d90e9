//! The capability policy: rules of `allow`/`deny` × principal × capabilities × path
//! pattern. Deny wins, and anything no rule allows is denied.
//!
//! Path patterns follow those of `HashiCorp` Vault: `+` matches exactly one segment, a `*` at
//! the very end matches any suffix (so `discord/*` covers every Discord path and
//! `discord/duck/llm_*` every name starting `llm_`). `{provider}` and `{tenant}` are
//! templates bound to the principal's own tenant (a worker's is the tenant it is
//! serving); a rule whose template cannot be bound does not apply.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::VaultError;
use super::path::{SecretPath, check_segment};
use super::principal::{Capability, Principal};
use crate::model::TenantId;

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Grants the capabilities, unless a deny rule also matches.
    Allow,
    /// Refuses the capabilities, whatever else matches.
    Deny,
}

/// Which principals a rule is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrincipalMatch {
    /// Every principal (`any`).
    Any,
    /// Every gateway principal (`gateway`).
    Gateway,
    /// Every REST principal (`rest`).
    Rest,
    /// Every worker (`worker`).
    Worker,
    /// The admin (`admin`).
    Admin,
    /// One named principal (`named:<name>`).
    Named(String),
}

impl PrincipalMatch {
    fn matches(&self, p: &Principal) -> bool {
        match (self, p) {
            (Self::Any, _)
            | (Self::Gateway, Principal::Gateway(_))
            | (Self::Rest, Principal::Rest(_))
            | (Self::Worker, Principal::Worker { .. })
            | (Self::Admin, Principal::Admin) => true,
            (Self::Named(want), Principal::Named(have)) => want.as_str() == &**have,
            _ => false,
        }
    }
}

impl fmt::Display for PrincipalMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any"),
            Self::Gateway => f.write_str("gateway"),
            Self::Rest => f.write_str("rest"),
            Self::Worker => f.write_str("worker"),
            Self::Admin => f.write_str("admin"),
            Self::Named(n) => write!(f, "named:{n}"),
        }
    }
}

impl FromStr for PrincipalMatch {
    type Err = VaultError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "any" => Self::Any,
            "gateway" => Self::Gateway,
            "rest" => Self::Rest,
            "worker" => Self::Worker,
            "admin" => Self::Admin,
            _ => match s.strip_prefix("named:") {
                Some(n) if check_segment(n).is_ok() => Self::Named(n.to_owned()),
                _ => {
                    return Err(VaultError::InvalidPolicy {
                        reason: format!(
                            "unknown principal {s:?} (expected any, gateway, rest, worker, admin or named:<name>)"
                        ),
                    });
                }
            },
        })
    }
}

/// One segment of a compiled path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Literal(String),
    Plus,
    Provider,
    Tenant,
}

/// A compiled path pattern (`{provider}/{tenant}/*`, `discord/+/bot_token`, `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    source: String,
    segments: Vec<Seg>,
    /// `Some(prefix)` when the pattern ends with `*`: the rest of the path, from the
    /// segment after `segments`, must start with `prefix`.
    glob: Option<String>,
}

impl PathPattern {
    /// Compiles a pattern.
    ///
    /// # Errors
    /// [`VaultError::InvalidPolicy`] when a segment is neither a valid name, `+`,
    /// `{provider}`, `{tenant}`, nor (last) a name prefix followed by `*`.
    pub fn parse(source: &str) -> Result<Self, VaultError> {
        let bad = |why: &str| VaultError::InvalidPolicy {
            reason: format!("bad path pattern {source:?}: {why}"),
        };
        let parts: Vec<&str> = source.split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        let mut glob = None;
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            if let Some(prefix) = part.strip_suffix('*') {
                if !last {
                    return Err(bad("'*' is only allowed at the end"));
                }
                if !prefix.is_empty() {
                    check_segment(prefix).map_err(bad)?;
                }
                glob = Some(prefix.to_owned());
                continue;
            }
            segments.push(match *part {
                "+" => Seg::Plus,
                "{provider}" => Seg::Provider,
                "{tenant}" => Seg::Tenant,
                lit => {
                    check_segment(lit).map_err(bad)?;
                    Seg::Literal(lit.to_owned())
                }
            });
        }
        Ok(Self {
            source: source.to_owned(),
            segments,
            glob,
        })
    }

    /// Whether `path` matches, with templates bound to `bound`.
    fn matches(&self, path: &[&str], bound: Option<&TenantId>) -> bool {
        if path.len() < self.segments.len() {
            return false;
        }
        for (seg, have) in self.segments.iter().zip(path) {
            let ok = match seg {
                Seg::Literal(lit) => lit == have,
                Seg::Plus => true,
                Seg::Provider => bound.is_some_and(|t| t.provider.as_str() == *have),
                Seg::Tenant => bound.is_some_and(|t| t.tenant.as_str() == *have),
            };
            if !ok {
                return false;
            }
        }
        let rest = &path[self.segments.len()..];
        match &self.glob {
            None => rest.is_empty(),
            // A trailing `*` needs something to match: `discord/duck/*` does not cover
            // the bare `discord/duck`.
            Some(prefix) => rest
                .first()
                .is_some_and(|first| first.starts_with(prefix.as_str())),
        }
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// One policy rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Allow or deny.
    pub effect: Effect,
    /// Whom it is about.
    pub principal: PrincipalMatch,
    /// Which capabilities.
    pub capabilities: Vec<Capability>,
    /// On which paths.
    pub path: PathPattern,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let effect = match self.effect {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        };
        let caps: Vec<&str> = self.capabilities.iter().map(|c| c.as_str()).collect();
        write!(
            f,
            "{effect} {} {} {}",
            self.principal,
            caps.join(","),
            self.path
        )
    }
}

impl FromStr for Rule {
    type Err = VaultError;

    /// Parses `allow|deny <principal> <cap>[,<cap>...] <path-pattern>`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let [effect, principal, caps, path] = words.as_slice() else {
            return Err(VaultError::InvalidPolicy {
                reason: format!(
                    "rule {s:?}: expected `allow|deny <principal> <capability,...> <path>`"
                ),
            });
        };
        let effect = match *effect {
            "allow" => Effect::Allow,
            "deny" => Effect::Deny,
            other => {
                return Err(VaultError::InvalidPolicy {
                    reason: format!("rule {s:?}: {other:?} is neither allow nor deny"),
                });
            }
        };
        let capabilities = caps
            .split(',')
            .map(str::parse)
            .collect::<Result<Vec<Capability>, _>>()?;
        Ok(Self {
            effect,
            principal: principal.parse()?,
            capabilities,
            path: PathPattern::parse(path)?,
        })
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// An ordered set of rules. Deny wins; default deny.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    rules: Vec<Rule>,
}

impl Default for Policy {
    /// The default policy:
    ///
    /// ```text
    /// allow gateway provider.gateway      {provider}/{tenant}/*
    /// allow rest    provider.rest         {provider}/{tenant}/*
    /// allow worker  secret.read           {provider}/{tenant}/*
    /// deny  worker  provider.gateway,provider.rest *
    /// allow admin   secret.write,lease.revoke      *
    /// ```
    ///
    /// Together with the kind check (`provider.*` leases only provider credentials,
    /// `secret.read` only app secrets), a tenant's access layer leases only its own
    /// credentials, a worker only app secrets of the tenant it serves, and the admin
    /// writes and revokes but reads nothing.
    fn default() -> Self {
        let rules = [
            "allow gateway provider.gateway {provider}/{tenant}/*",
            "allow rest provider.rest {provider}/{tenant}/*",
            "allow worker secret.read {provider}/{tenant}/*",
            "deny worker provider.gateway,provider.rest *",
            "allow admin secret.write,lease.revoke *",
        ];
        Self {
            rules: rules.iter().filter_map(|r| r.parse().ok()).collect(),
        }
    }
}

impl Policy {
    /// A policy with no rules: denies everything.
    #[must_use]
    pub fn deny_all() -> Self {
        Self { rules: Vec::new() }
    }

    /// Parses rules, one per line (`#` comments and blank lines ignored).
    ///
    /// # Errors
    /// [`VaultError::InvalidPolicy`] naming the first bad rule.
    pub fn parse(text: &str) -> Result<Self, VaultError> {
        let rules = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or_default().trim())
            .filter(|l| !l.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        Ok(Self { rules })
    }

    /// Adds a rule.
    #[must_use]
    pub fn with(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// The rules, in order.
    #[must_use]
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Decides whether `principal` may use `capability` on `path`.
    ///
    /// # Errors
    /// A human-readable reason when denied: the deny rule that matched, or "no rule
    /// allows it".
    pub fn check(
        &self,
        principal: &Principal,
        capability: Capability,
        path: &SecretPath,
    ) -> Result<(), String> {
        let segs = [path.provider(), path.tenant(), path.name()];
        let bound = principal.bound_tenant();
        let mut allowed = false;
        for rule in &self.rules {
            if rule.capabilities.contains(&capability)
                && rule.principal.matches(principal)
                && rule.path.matches(&segs, bound)
            {
                match rule.effect {
                    Effect::Deny => return Err(format!("denied by rule `{rule}`")),
                    Effect::Allow => allowed = true,
                }
            }
        }
        if allowed {
            Ok(())
        } else {
            Err("no rule allows it (default deny)".to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> SecretPath {
        s.parse().expect("valid path")
    }

    fn pat(s: &str) -> PathPattern {
        PathPattern::parse(s).expect("valid pattern")
    }

    #[test]
    fn patterns_match_like_vault() {
        let duck = TenantId::parse("discord", "duck").expect("valid");
        let m = |p: &str, s: &str, b: Option<&TenantId>| {
            let sp = path(s);
            pat(p).matches(&[sp.provider(), sp.tenant(), sp.name()], b)
        };
        assert!(m("*", "discord/duck/bot_token", None));
        assert!(m("discord/*", "discord/duck/bot_token", None));
        assert!(!m("reddit/*", "discord/duck/bot_token", None));
        assert!(m("discord/+/bot_token", "discord/goose/bot_token", None));
        assert!(!m("discord/+/bot_token", "discord/goose/app_id", None));
        assert!(m("discord/duck/llm_*", "discord/duck/llm_key", None));
        assert!(!m("discord/duck/llm_*", "discord/duck/bot_token", None));
        assert!(m("discord/duck/bot_token", "discord/duck/bot_token", None));
        assert!(!m("discord/duck", "discord/duck/bot_token", None));
        assert!(m("{provider}/{tenant}/*", "discord/duck/x", Some(&duck)));
        assert!(!m("{provider}/{tenant}/*", "discord/goose/x", Some(&duck)));
        assert!(!m("{provider}/{tenant}/*", "discord/duck/x", None));
    }

    #[test]
    fn bad_patterns_and_rules_are_rejected() {
        for bad in ["a/*/b", "Discord/x", "a//b", "{user}/x"] {
            assert!(PathPattern::parse(bad).is_err(), "{bad}");
        }
        for bad in [
            "allow",
            "permit admin secret.write *",
            "allow root secret.write *",
            "allow admin secret.fly *",
        ] {
            assert!(bad.parse::<Rule>().is_err(), "{bad}");
        }
    }

    #[test]
    fn deny_wins_and_default_denies() {
        let p = Policy::default().with("allow any provider.rest *".parse().expect("rule"));
        let worker = Principal::Worker {
            serving: Some(TenantId::parse("discord", "duck").expect("valid")),
        };
        let err = p
            .check(
                &worker,
                Capability::ProviderRest,
                &path("discord/duck/bot_token"),
            )
            .expect_err("deny wins");
        assert!(err.contains("deny worker"), "{err}");
        let named = Principal::named("billing").expect("valid");
        let err = p
            .check(
                &named,
                Capability::SecretRead,
                &path("discord/duck/llm_key"),
            )
            .expect_err("default deny");
        assert!(err.contains("default deny"), "{err}");
    }

    #[test]
    fn default_policy_has_all_rules_and_round_trips() {
        let p = Policy::default();
        assert_eq!(p.rules().len(), 5);
        let text: Vec<String> = p.rules().iter().map(ToString::to_string).collect();
        let back = Policy::parse(&text.join("\n")).expect("parses");
        assert_eq!(back, p);
        let json = serde_json::to_string(&p).expect("serializes");
        let back: Policy = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, p);
    }
}
