//! The Redis backend's lease scripts: renew (compare-and-extend), revoke
//! (compare-and-delete, with a tombstone for revocations) and restore (a record the
//! store lost, when it restarted empty, put back from what its holder knows).

use fred::prelude::*;

use super::super::redis_codec::{self as codec, corrupt, flag, number, text};
use super::{LeaseRecord, RECORD_GRACE_MS, RedisBackend, Removal, RenewOutcome};
use crate::vault::backend::Backend;
use crate::vault::error::VaultError;
use crate::vault::path::SecretPath;

/// Reads a RENEW (or RESTORE) reply.
fn renew_outcome(reply: &[Value], path: &SecretPath) -> Result<RenewOutcome, VaultError> {
    let path = path.to_string();
    match text(reply.first()).as_str() {
        "ok" => Ok(RenewOutcome {
            expires_ms: number(reply.get(1)).ok_or_else(|| corrupt("expires"))?,
            current_version: number(reply.get(2)),
        }),
        "notfound" => Err(VaultError::LeaseNotFound { path }),
        "expired" => Err(VaultError::LeaseExpired { path }),
        "notrenewable" => Err(VaultError::NotRenewable { path }),
        "lost" | "revoked" => Err(VaultError::LeaseRevoked { path }),
        other => Err(corrupt(other)),
    }
}

impl RedisBackend {
    /// [`Backend::renew`]: one RENEW script.
    pub(super) async fn renew_lease(
        &self,
        id: &str,
        now_ms: u64,
        increment_ms: u64,
    ) -> Result<RenewOutcome, VaultError> {
        let (path, lease_key) = self.keys.lease(id)?;
        let keys = vec![lease_key, self.keys.expiry(), self.keys.exclusive(&path)];
        let args = vec![
            Value::from(id),
            Value::from(now_ms.to_string()),
            Value::from(increment_ms.to_string()),
            Value::from(RECORD_GRACE_MS.to_string()),
        ];
        let reply = self
            .eval(&self.scripts.renew, keys, args)
            .await?
            .into_array();
        renew_outcome(&reply, &path)
    }

    /// [`Backend::revoke`]: one REVOKE script.
    pub(super) async fn revoke_lease(
        &self,
        id: &str,
        how: Removal,
    ) -> Result<Option<LeaseRecord>, VaultError> {
        let (path, lease_key) = self.keys.lease(id)?;
        let keys = vec![
            lease_key,
            self.keys.expiry(),
            self.keys.exclusive(&path),
            self.keys.tombstone(id)?,
        ];
        let (expired_at, now, until) = match how {
            Removal::Expired { at_ms } => (at_ms.to_string(), String::new(), String::new()),
            Removal::Revoked { now_ms, until_ms } => {
                (String::new(), now_ms.to_string(), until_ms.to_string())
            }
        };
        let args = vec![
            Value::from(id),
            Value::from(expired_at),
            Value::from(now),
            Value::from(until),
        ];
        let fields = self
            .eval(&self.scripts.revoke, keys, args)
            .await?
            .into_array();
        if fields.is_empty() {
            return Ok(None);
        }
        codec::lease_from_fields(id, path, &fields).map(Some)
    }

    /// [`Backend::restore`]: one RESTORE script; a record that is still there is
    /// renewed normally.
    pub(super) async fn restore_lease(
        &self,
        holder: &LeaseRecord,
        now_ms: u64,
        increment_ms: u64,
    ) -> Result<RenewOutcome, VaultError> {
        let (path, lease_key) = self.keys.lease(&holder.id)?;
        let kind = holder
            .capability
            .leases()
            .ok_or_else(|| corrupt("a lease of a capability that leases nothing"))?;
        let keys = vec![
            lease_key,
            self.keys.expiry(),
            self.keys.exclusive(&path),
            self.keys.secret(&path, kind),
            self.keys.tombstone(&holder.id)?,
            self.keys.fence(&path),
            self.keys.principal(&holder.principal_key),
        ];
        let args: Vec<Value> = [
            holder.id.clone(),
            now_ms.to_string(),
            increment_ms.to_string(),
            RECORD_GRACE_MS.to_string(),
            path.to_string(),
            holder.principal_key.clone(),
            holder.principal.clone(),
            holder.capability.as_str().to_owned(),
            holder.version.to_string(),
            holder.issued_ms.to_string(),
            holder.expires_ms.to_string(),
            holder.max_expires_ms.to_string(),
            flag(holder.renewable).to_owned(),
            holder.fence.map(|f| f.to_string()).unwrap_or_default(),
        ]
        .into_iter()
        .map(Value::from)
        .collect();
        let reply = self
            .eval(&self.scripts.restore, keys, args)
            .await?
            .into_array();
        if text(reply.first()) == "exists" {
            return self.renew(&holder.id, now_ms, increment_ms).await;
        }
        renew_outcome(&reply, &path)
    }
}
