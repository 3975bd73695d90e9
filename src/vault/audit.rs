//! Audit records: every grant, denial, renewal, revocation and expiry (and every
//! secret write) becomes a tracing event (target `switchboard::vault::audit`), a
//! metrics counter (`switchboard_vault_audit_total{event}`) and a stored record (an
//! in-memory ring, or a Redis stream) readable through the handle.
//!
//! Records carry the principal, capability, path and an HMAC of the lease id — never
//! the id itself, never a secret value.
//!
//! Renewals by the renewal schedule are routine (every lease, every 2/3 of its TTL):
//! each batch that renewed leases is one summary record (principal `system`, path
//! `*`, detail `renewed N leases in one batch`), so they neither cost a write per
//! lease nor push grants and revocations out of the capped stream. A renewal that
//! restored a lost record, one that was refused (and ended its lease) and an explicit
//! renewal by id are recorded on their own, with the lease's HMAC.

use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::crypto::AuditHasher;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditEvent {
    /// A lease was granted.
    Grant,
    /// A request was refused by the policy, the kind check or the quota.
    Deny,
    /// Leases were renewed (one record per batch, or per lease: see the module
    /// docs), or a renewal was refused (`detail` starts with `refused`).
    Renew,
    /// A lease was revoked (or released by its holder).
    Revoke,
    /// A lease expired and was swept.
    Expire,
    /// A secret was written (put or rotation).
    Write,
    /// A secret was deleted.
    Delete,
}

impl AuditEvent {
    /// The stable name (`grant`, `deny`, ...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grant => "grant",
            Self::Deny => "deny",
            Self::Renew => "renew",
            Self::Revoke => "revoke",
            Self::Expire => "expire",
            Self::Write => "write",
            Self::Delete => "delete",
        }
    }

    /// Parses [`AuditEvent::as_str`] back.
    #[must_use]
    pub fn from_name(s: &str) -> Option<Self> {
        [
            Self::Grant,
            Self::Deny,
            Self::Renew,
            Self::Revoke,
            Self::Expire,
            Self::Write,
            Self::Delete,
        ]
        .into_iter()
        .find(|e| e.as_str() == s)
    }
}

impl fmt::Display for AuditEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When, in milliseconds since the Unix epoch (the vault's clock).
    pub at_ms: u64,
    /// What happened.
    pub event: AuditEvent,
    /// Who (`gateway(discord/duck)`, `admin`, `system` for the vault itself).
    pub principal: String,
    /// Which capability, if any.
    pub capability: Option<String>,
    /// Which path (or revocation prefix).
    pub path: String,
    /// `hmac-sha256:<hex>` of the lease id, for lease events.
    pub lease: Option<String>,
    /// Extra context (denial reason, granted TTL, version, fence).
    pub detail: Option<String>,
}

/// The parts of a record, before the lease id is HMAC'd.
pub(crate) struct Entry<'a> {
    pub(crate) event: AuditEvent,
    pub(crate) principal: &'a str,
    pub(crate) capability: Option<super::Capability>,
    pub(crate) path: &'a str,
    pub(crate) lease_id: Option<&'a str>,
    pub(crate) detail: Option<String>,
}

/// Builds records (HMAC-ing ids) and emits their tracing event and counter.
#[derive(Debug, Clone)]
pub(crate) struct Auditor {
    hasher: AuditHasher,
}

impl Auditor {
    pub(crate) fn new(hasher: AuditHasher) -> Self {
        Self { hasher }
    }

    /// Makes a record, logs it and counts it. The lease id is HMAC'd here.
    pub(crate) fn record(&self, at_ms: u64, e: Entry<'_>) -> AuditRecord {
        let event = e.event;
        let rec = AuditRecord {
            at_ms,
            event,
            principal: e.principal.to_owned(),
            capability: e.capability.map(|c| c.as_str().to_owned()),
            path: e.path.to_owned(),
            lease: e.lease_id.map(|id| self.hasher.hash(id)),
            detail: e.detail,
        };
        metrics::counter!("switchboard_vault_audit_total", "event" => event.as_str()).increment(1);
        let cap = rec.capability.as_deref().unwrap_or("-");
        let lease = rec.lease.as_deref().unwrap_or("-");
        let detail = rec.detail.as_deref().unwrap_or("");
        // One line per record under the `switchboard::vault::audit` target: denials at
        // WARN; the rest (issues, renewals in batches, releases) is routine and logged
        // at DEBUG, so a daemon's log is not buried in it — every record is still
        // stored and counted. `RUST_LOG=info,switchboard::vault::audit=debug` shows it.
        macro_rules! log_record {
            ($level:expr) => {
                tracing::event!(
                    target: "switchboard::vault::audit",
                    $level,
                    event = event.as_str(),
                    principal = %rec.principal,
                    capability = cap,
                    path = %rec.path,
                    lease,
                    detail,
                    "vault audit"
                )
            };
        }
        if event == AuditEvent::Deny {
            log_record!(tracing::Level::WARN);
        } else {
            log_record!(tracing::Level::DEBUG);
        }
        rec
    }
}

/// A bounded ring of the latest records (the memory backend's audit log).
#[derive(Debug)]
pub(crate) struct AuditRing {
    cap: usize,
    records: VecDeque<AuditRecord>,
}

impl AuditRing {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            records: VecDeque::new(),
        }
    }

    pub(crate) fn push(&mut self, rec: AuditRecord) {
        if self.records.len() == self.cap {
            self.records.pop_front();
        }
        self.records.push_back(rec);
    }

    /// The latest `limit` records, oldest first.
    pub(crate) fn latest(&self, limit: usize) -> Vec<AuditRecord> {
        let skip = self.records.len().saturating_sub(limit);
        self.records.iter().skip(skip).cloned().collect()
    }
}
