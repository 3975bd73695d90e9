//! Restoring a lease record the Redis store lost (it restarted empty) from what its
//! holder knows, and reading the replies renewals share.

use fred::prelude::*;

use super::super::redis_codec::{corrupt, flag, number, text};
use super::{LeaseRecord, RECORD_GRACE_MS, RedisBackend, RenewOutcome};
use crate::vault::backend::Backend;
use crate::vault::error::VaultError;
use crate::vault::path::SecretPath;

/// Reads a RENEW (or RESTORE) reply.
pub(super) fn renew_outcome(
    reply: &[Value],
    path: &SecretPath,
) -> Result<RenewOutcome, VaultError> {
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
    /// [`Backend::restore`]: one RESTORE script; a record that is still there is
    /// renewed normally.
    pub(super) async fn restore_lease(
        &self,
        holder: &LeaseRecord,
        now_ms: u64,
        increment_ms: u64,
    ) -> Result<RenewOutcome, VaultError> {
        let (path, lease_key) = self.keys.lease(&holder.id)?;
        let keys = vec![
            lease_key,
            self.keys.expiry(),
            self.keys.exclusive(&path),
            self.keys.secret(&path),
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
