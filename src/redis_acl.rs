//! Redis ACL users per node role, so that a worker node's Redis connection cannot
//! reach a provider credential even if the node is fully compromised.
//!
//! Every key switchboard writes lives under `runtime.redis_prefix` (`P`). An access
//! node's user gets all of `P:*`. A worker node's user gets only the key patterns its
//! work touches — the bus, the cluster's membership and registry, app secrets and
//! lease records — and none of these:
//!
//! | key | holds |
//! | --- | --- |
//! | `P:vault:{p:t}:cred:<name>` | provider credentials (sealed with the access key) |
//! | `P:vault:{p:t}:excl:<name>`, `…:fence:<name>` | gateway locks and fences |
//! | `P:{p:t}:interaction:<id>` | interaction tokens (sealed with the access key) |
//! | `P:{p:t}:gateway:session:<shard>` | gateway sessions |
//!
//! Redis checks the keys a script declares and every command a script runs against
//! the caller's user, so scripts are no way around it. Tenant, provider and secret
//! names are `[a-z0-9_-]`, which keeps the `{*}` patterns below from matching across
//! a key's segments.
//!
//! `switchboard redis-acl --role worker --user NAME --password-env VAR` prints a user
//! for an ACL file or for `ACL SETUSER`; the password is stored as its SHA-256 only.

use std::fmt::Write as _;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// Which rules a Redis user gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclRole {
    /// Access (or all-in-one) nodes: every key and channel under the prefix.
    Access,
    /// Worker nodes: the bus, the cluster, app secrets and lease records; no provider
    /// credential, gateway lock, session or interaction token.
    Worker,
}

impl AclRole {
    /// `access` or `worker`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Worker => "worker",
        }
    }
}

/// The key patterns (with `~`, or `%R~` for read-only) of `role` under `prefix`.
#[must_use]
pub fn key_patterns(role: AclRole, prefix: &str) -> Vec<String> {
    let p = prefix;
    match role {
        AclRole::Access => vec![format!("~{p}:*")],
        AclRole::Worker => vec![
            // The bus: a tenant's inboxes, request stream, retries, idempotency marks.
            format!("~{p}:{{*}}:inbox:*"),
            format!("~{p}:{{*}}:rest"),
            format!("~{p}:{{*}}:retry"),
            format!("~{p}:{{*}}:retry:data"),
            format!("~{p}:{{*}}:done:*"),
            // Scheduled jobs: per-slot claims and the last fired slot (`crate::jobs`).
            format!("~{p}:{{*}}:job:*"),
            // Handlers' state (`Ctx::state`).
            format!("~{p}:{{*}}:state:*"),
            // The bus's shared keys.
            format!("~{p}:retry:due"),
            format!("~{p}:ring"),
            format!("~{p}:tenants"),
            format!("~{p}:node:*"),
            format!("~{p}:dlq"),
            // What the bots of a namespace share (turn claims, channel activity).
            format!("~{p}:ns:*"),
            // The cluster: nodes, placement announcements, the shared registry.
            format!("~{p}:cluster:*"),
            // The vault: app secrets, lease records and tombstones, the indexes.
            format!("~{p}:vault:{{*}}:secret:*"),
            format!("~{p}:vault:{{*}}:lease:*"),
            format!("~{p}:vault:{{*}}:revoked:*"),
            format!("~{p}:vault:{{vault}}:*"),
        ],
    }
}

/// The pub/sub channel patterns of `role` under `prefix`.
#[must_use]
pub fn channel_patterns(role: AclRole, prefix: &str) -> Vec<String> {
    match role {
        AclRole::Access => vec![format!("&{prefix}:*")],
        AclRole::Worker => vec![format!("&{prefix}:cluster:*")],
    }
}

/// The full rule list of a user: keys, channels, commands (everything but the
/// `@dangerous` and `@admin` categories: no `KEYS`, `FLUSHALL`, `CONFIG`, `DEBUG`,
/// `MONITOR`, `ACL`, ...; `INFO` stays, the client reads the server's version with
/// it).
#[must_use]
pub fn rules(role: AclRole, prefix: &str) -> Vec<String> {
    let mut out = vec!["resetkeys".to_owned()];
    out.extend(key_patterns(role, prefix));
    out.push("resetchannels".to_owned());
    out.extend(channel_patterns(role, prefix));
    out.extend(["-@all", "+@all", "-@dangerous", "-@admin", "+info"].map(str::to_owned));
    out
}

/// `#<sha256 hex>`: how an ACL stores a password without holding it.
#[must_use]
pub fn password_hash(password: &SecretString) -> String {
    let digest = Sha256::digest(password.expose_secret().as_bytes());
    let mut out = String::with_capacity(65);
    out.push('#');
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The arguments of `ACL SETUSER` for `user` (after `SETUSER`): `reset`, `on`, the
/// password hash (SHA-256: the password itself is not stored), then the role's rules
/// (its key and channel patterns and command categories).
#[must_use]
pub fn setuser_args(
    user: &str,
    role: AclRole,
    prefix: &str,
    password: &SecretString,
) -> Vec<String> {
    let mut out = vec![
        user.to_owned(),
        "reset".to_owned(),
        "on".to_owned(),
        password_hash(password),
    ];
    out.extend(rules(role, prefix));
    out
}

/// One line of a Redis ACL file (`aclfile`) defining `user`.
#[must_use]
pub fn aclfile_line(user: &str, role: AclRole, prefix: &str, password: &SecretString) -> String {
    let args = setuser_args(user, role, prefix, password);
    // An ACL file line is `user <name> <rules...>`; `reset` is implied.
    let mut line = format!("user {user}");
    for a in args.iter().skip(1).filter(|a| *a != "reset") {
        line.push(' ');
        line.push_str(a);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Redis's glob (`stringmatchlen`) for the subset the patterns use: `*`, literals.
    fn glob(pattern: &str, key: &str) -> bool {
        fn go(p: &[u8], k: &[u8]) -> bool {
            match p.split_first() {
                None => k.is_empty(),
                Some((b'*', rest)) => (0..=k.len()).any(|i| go(rest, &k[i..])),
                Some((c, rest)) => k.first() == Some(c) && go(rest, &k[1..]),
            }
        }
        go(pattern.as_bytes(), key.as_bytes())
    }

    fn worker_reaches(key: &str) -> bool {
        key_patterns(AclRole::Worker, "sb")
            .iter()
            .any(|p| glob(p.trim_start_matches("%R").trim_start_matches('~'), key))
    }

    #[test]
    fn a_worker_reaches_its_work_and_no_credential() {
        for key in [
            "sb:{discord:duck}:inbox:default",
            "sb:{discord:duck}:rest",
            "sb:{discord:duck}:retry:data",
            "sb:{discord:duck}:done:01J:ping",
            "sb:{discord:duck}:state:kv:score",
            "sb:{discord:duck}:job:nightly:slot:1700000000000",
            "sb:{discord:duck}:job:nightly:last",
            "sb:ring",
            "sb:node:w1:replies",
            "sb:cluster:nodes",
            "sb:ns:{promethean}:turn:1:2",
            "sb:vault:{discord:duck}:secret:api_key",
            "sb:vault:{discord:duck}:lease:bot_token:01JABC",
            "sb:vault:{discord:duck}:lease:bot_token:unused",
            "sb:vault:{vault}:expiry",
        ] {
            assert!(worker_reaches(key), "{key}");
        }
        for key in [
            "sb:vault:{discord:duck}:cred:bot_token",
            "sb:vault:{discord:duck}:excl:bot_token",
            "sb:vault:{discord:duck}:fence:bot_token",
            "sb:{discord:duck}:interaction:123456",
            "sb:{discord:duck}:gateway:session:0",
            "sb:{discord:duck}:gateway:fence",
            "other:{discord:duck}:rest",
        ] {
            assert!(!worker_reaches(key), "{key}");
        }
    }

    #[test]
    fn passwords_are_stored_hashed() {
        let pw = SecretString::from("hunter2".to_owned());
        let line = aclfile_line("sbworker", AclRole::Worker, "sb", &pw);
        assert!(line.starts_with("user sbworker on #"), "{line}");
        assert!(!line.contains("hunter2"));
        assert!(line.contains(" -@dangerous"));
        assert_eq!(
            password_hash(&pw),
            "#f52fbd32b2b3b86ff88ef6c490628285f482af15ddcb29541f94bcf526a3f6c7"
        );
    }
}
