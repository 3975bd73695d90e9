//! The in-process backend: everything in one mutex-guarded map, shared by clones (so
//! several vault actors in one process can contend for exclusive leases, as daemons
//! do over Redis). Values stay `SecretString`; nothing is encrypted because nothing
//! leaves the process.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use secrecy::{ExposeSecret, SecretString};

use super::{
    Backend, GrantRequest, Granted, LeaseRecord, PutOutcome, Removal, RenewOutcome, next_fence,
    renewed_expiry, same_secret,
};
use crate::vault::audit::{AuditRecord, AuditRing};
use crate::vault::error::VaultError;
use crate::vault::path::{SecretKind, SecretPath, parse_lease_id};

struct Version {
    version: u64,
    value: SecretString,
}

struct Secret {
    kind: SecretKind,
    current: Version,
    previous: Option<Version>,
}

struct Exclusive {
    holder: String,
    expires_ms: u64,
}

struct State {
    secrets: HashMap<SecretPath, Secret>,
    leases: HashMap<String, LeaseRecord>,
    expiries: BTreeSet<(u64, String)>,
    by_principal: HashMap<String, HashSet<String>>,
    exclusive: HashMap<SecretPath, Exclusive>,
    fences: HashMap<SecretPath, u64>,
    /// Revoked lease ids → until when a holder must still be told so.
    tombstones: HashMap<String, u64>,
    audit: AuditRing,
}

impl State {
    fn remove_lease(&mut self, id: &str) -> Option<LeaseRecord> {
        let rec = self.leases.remove(id)?;
        self.expiries.remove(&(rec.expires_ms, rec.id.clone()));
        if let Some(set) = self.by_principal.get_mut(&rec.principal_key) {
            set.remove(id);
            if set.is_empty() {
                self.by_principal.remove(&rec.principal_key);
            }
        }
        if self
            .exclusive
            .get(&rec.path)
            .is_some_and(|e| e.holder == rec.id)
        {
            self.exclusive.remove(&rec.path);
        }
        Some(rec)
    }
}

/// The in-memory store. Cheap to clone; clones share the data.
#[derive(Clone)]
pub struct MemoryBackend {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBackend").finish_non_exhaustive()
    }
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new(1024)
    }
}

impl MemoryBackend {
    /// An empty store keeping the latest `audit_capacity` audit records.
    #[must_use]
    pub fn new(audit_capacity: usize) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                secrets: HashMap::new(),
                leases: HashMap::new(),
                expiries: BTreeSet::new(),
                by_principal: HashMap::new(),
                exclusive: HashMap::new(),
                fences: HashMap::new(),
                tombstones: HashMap::new(),
                audit: AuditRing::new(audit_capacity),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way
        // that matters more than losing the vault, so recover the guard.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn put_secret(
        &self,
        path: &SecretPath,
        kind: SecretKind,
        value: &SecretString,
        only_if_changed: bool,
        first_version: u64,
    ) -> Result<PutOutcome, VaultError> {
        let mut st = self.lock();
        let copy = || SecretString::from(value.expose_secret().to_owned());
        let Some(s) = st.secrets.get_mut(path) else {
            let version = first_version.max(1);
            st.secrets.insert(
                path.clone(),
                Secret {
                    kind,
                    current: Version {
                        version,
                        value: copy(),
                    },
                    previous: None,
                },
            );
            return Ok(PutOutcome {
                version,
                changed: true,
            });
        };
        if only_if_changed
            && s.kind == kind
            && same_secret(s.current.value.expose_secret(), value.expose_secret())
        {
            return Ok(PutOutcome {
                version: s.current.version,
                changed: false,
            });
        }
        let version = s.current.version + 1;
        let old = std::mem::replace(
            &mut s.current,
            Version {
                version,
                value: copy(),
            },
        );
        s.previous = Some(old);
        s.kind = kind;
        Ok(PutOutcome {
            version,
            changed: true,
        })
    }

    async fn delete_secret(&self, path: &SecretPath) -> Result<bool, VaultError> {
        Ok(self.lock().secrets.remove(path).is_some())
    }

    async fn grant(&self, req: &GrantRequest, now_ms: u64) -> Result<Granted, VaultError> {
        let mut st = self.lock();
        let rec = &req.record;
        let Some(secret) = st.secrets.get(&rec.path) else {
            return Err(VaultError::NotFound {
                path: rec.path.to_string(),
            });
        };
        if secret.kind != req.kind {
            return Err(kind_denied(rec, secret.kind));
        }
        let value = SecretString::from(secret.current.value.expose_secret().to_owned());
        let version = secret.current.version;
        let held = st
            .by_principal
            .get(&rec.principal_key)
            .map_or(0, HashSet::len);
        if held >= req.quota {
            return Err(VaultError::QuotaExceeded {
                principal: rec.principal.clone(),
                limit: req.quota,
            });
        }
        let fence = if req.exclusive {
            if st
                .exclusive
                .get(&rec.path)
                .is_some_and(|e| e.expires_ms > now_ms)
            {
                return Err(VaultError::AlreadyHeld {
                    path: rec.path.to_string(),
                });
            }
            st.exclusive.insert(
                rec.path.clone(),
                Exclusive {
                    holder: rec.id.clone(),
                    expires_ms: rec.expires_ms,
                },
            );
            let counter = st.fences.entry(rec.path.clone()).or_insert(0);
            *counter = next_fence(*counter, now_ms.saturating_mul(1000));
            Some(*counter)
        } else {
            None
        };
        let stored = LeaseRecord {
            version,
            fence,
            ..rec.clone()
        };
        st.expiries.insert((stored.expires_ms, stored.id.clone()));
        st.by_principal
            .entry(stored.principal_key.clone())
            .or_default()
            .insert(stored.id.clone());
        st.leases.insert(stored.id.clone(), stored);
        Ok(Granted {
            version,
            secret: value,
            fence,
        })
    }

    async fn renew(
        &self,
        id: &str,
        now_ms: u64,
        increment_ms: u64,
    ) -> Result<RenewOutcome, VaultError> {
        let (path, _) = parse_lease_id(id)?;
        let mut st = self.lock();
        let path_s = || path.to_string();
        let Some(rec) = st.leases.get(id).cloned() else {
            return Err(VaultError::LeaseNotFound { path: path_s() });
        };
        if rec.expires_ms <= now_ms {
            return Err(VaultError::LeaseExpired { path: path_s() });
        }
        if !rec.renewable {
            return Err(VaultError::NotRenewable { path: path_s() });
        }
        let expires_ms = renewed_expiry(now_ms, increment_ms, rec.max_expires_ms);
        if rec.fence.is_some() {
            match st.exclusive.get_mut(&rec.path) {
                Some(e) if e.holder == rec.id => e.expires_ms = expires_ms,
                _ => return Err(VaultError::LeaseRevoked { path: path_s() }),
            }
        }
        st.expiries.remove(&(rec.expires_ms, rec.id.clone()));
        st.expiries.insert((expires_ms, rec.id.clone()));
        if let Some(r) = st.leases.get_mut(id) {
            r.expires_ms = expires_ms;
        }
        let current_version = st.secrets.get(&rec.path).map(|s| s.current.version);
        Ok(RenewOutcome {
            expires_ms,
            current_version,
        })
    }

    async fn revoke(&self, id: &str, how: Removal) -> Result<Option<LeaseRecord>, VaultError> {
        let mut st = self.lock();
        match how {
            Removal::Expired { at_ms } => {
                if st.leases.get(id).is_some_and(|r| r.expires_ms > at_ms) {
                    return Ok(None);
                }
                Ok(st.remove_lease(id))
            }
            Removal::Revoked { now_ms, until_ms } => {
                let removed = st.remove_lease(id);
                let until = removed.as_ref().map_or(until_ms, |r| r.max_expires_ms);
                st.tombstones.retain(|_, t| *t > now_ms);
                if until > now_ms {
                    st.tombstones.insert(id.to_owned(), until);
                }
                Ok(removed)
            }
        }
    }

    async fn restore(
        &self,
        holder: &LeaseRecord,
        now_ms: u64,
        increment_ms: u64,
    ) -> Result<RenewOutcome, VaultError> {
        {
            let mut st = self.lock();
            let path_s = || holder.path.to_string();
            if st.tombstones.get(&holder.id).is_some_and(|t| *t > now_ms) {
                return Err(VaultError::LeaseRevoked { path: path_s() });
            }
            if !st.leases.contains_key(&holder.id) {
                if holder.expires_ms <= now_ms {
                    return Err(VaultError::LeaseExpired { path: path_s() });
                }
                if !holder.renewable {
                    return Err(VaultError::NotRenewable { path: path_s() });
                }
                if let Some(fence) = holder.fence {
                    // Take the lock back only if it is free: never two holders.
                    if st
                        .exclusive
                        .get(&holder.path)
                        .is_some_and(|e| e.holder != holder.id && e.expires_ms > now_ms)
                    {
                        return Err(VaultError::LeaseRevoked { path: path_s() });
                    }
                    st.exclusive.insert(
                        holder.path.clone(),
                        Exclusive {
                            holder: holder.id.clone(),
                            expires_ms: holder.expires_ms,
                        },
                    );
                    let counter = st.fences.entry(holder.path.clone()).or_insert(0);
                    *counter = (*counter).max(fence);
                }
                st.expiries.insert((holder.expires_ms, holder.id.clone()));
                st.by_principal
                    .entry(holder.principal_key.clone())
                    .or_default()
                    .insert(holder.id.clone());
                st.leases.insert(holder.id.clone(), holder.clone());
            }
        }
        self.renew(&holder.id, now_ms, increment_ms).await
    }

    async fn lease_ids_with_prefix(&self, prefix: &str) -> Result<Vec<String>, VaultError> {
        Ok(self
            .lock()
            .leases
            .keys()
            .filter(|id| id.starts_with(prefix))
            .cloned()
            .collect())
    }

    async fn lease_ids_of(&self, principal_key: &str) -> Result<Vec<String>, VaultError> {
        Ok(self
            .lock()
            .by_principal
            .get(principal_key)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default())
    }

    async fn expired_lease_ids(
        &self,
        now_ms: u64,
        limit: usize,
    ) -> Result<Vec<String>, VaultError> {
        Ok(self
            .lock()
            .expiries
            .iter()
            .take_while(|(at, _)| *at <= now_ms)
            .take(limit)
            .map(|(_, id)| id.clone())
            .collect())
    }

    async fn exclusive_remaining(
        &self,
        path: &SecretPath,
        now_ms: u64,
    ) -> Result<Option<u64>, VaultError> {
        Ok(self
            .lock()
            .exclusive
            .get(path)
            .map(|e| e.expires_ms.saturating_sub(now_ms))
            .filter(|left| *left > 0))
    }

    fn record_audit(&self, record: AuditRecord) {
        self.lock().audit.push(record);
    }

    async fn audit(&self, limit: usize) -> Result<Vec<AuditRecord>, VaultError> {
        Ok(self.lock().audit.latest(limit))
    }
}

/// The denial for a capability that does not lease this kind of secret.
pub(crate) fn kind_denied(rec: &LeaseRecord, actual: SecretKind) -> VaultError {
    VaultError::PolicyDenied {
        principal: rec.principal.clone(),
        capability: rec.capability,
        path: rec.path.to_string(),
        reason: format!(
            "{} does not apply to a secret of kind {actual}",
            rec.capability
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::path::new_lease_id;
    use crate::vault::principal::Capability;

    const NOW: u64 = 1_000_000;

    async fn store_with_token() -> (MemoryBackend, SecretPath) {
        let store = MemoryBackend::default();
        let path: SecretPath = "discord/duck/bot_token".parse().unwrap();
        let token = SecretString::from("t");
        store
            .put_secret(&path, SecretKind::ProviderCredential, &token, true, 1)
            .await
            .unwrap();
        (store, path)
    }

    async fn grant_gateway(
        store: &MemoryBackend,
        path: &SecretPath,
    ) -> Result<LeaseRecord, VaultError> {
        let record = LeaseRecord {
            id: new_lease_id(path),
            path: path.clone(),
            principal_key: "gateway:discord/duck".to_owned(),
            principal: "gateway(discord/duck)".to_owned(),
            capability: Capability::ProviderGateway,
            version: 0,
            issued_ms: NOW,
            expires_ms: NOW + 1_000,
            max_expires_ms: NOW + 60_000,
            renewable: true,
            fence: None,
        };
        let req = GrantRequest {
            record,
            kind: SecretKind::ProviderCredential,
            quota: 10,
            exclusive: true,
        };
        let g = store.grant(&req, NOW).await?;
        Ok(LeaseRecord {
            version: g.version,
            fence: g.fence,
            ..req.record
        })
    }

    /// Loses a lease record as an empty restart would (lock and record gone).
    fn lose(store: &MemoryBackend, id: &str) {
        store.lock().remove_lease(id).unwrap();
    }

    #[tokio::test]
    async fn a_lost_exclusive_lease_is_restored_with_its_lock() {
        let (store, path) = store_with_token().await;
        let held = grant_gateway(&store, &path).await.unwrap();
        lose(&store, &held.id);
        let out = store.restore(&held, NOW + 10, 1_000).await.unwrap();
        assert_eq!(out.expires_ms, NOW + 1_010);
        assert!(matches!(
            grant_gateway(&store, &path).await,
            Err(VaultError::AlreadyHeld { .. })
        ));
        assert!(store.lock().fences[&path] >= held.fence.unwrap());
        // Restoring a record that is there is a plain renewal.
        store.restore(&held, NOW + 20, 1_000).await.unwrap();
    }

    #[tokio::test]
    async fn a_revoked_or_taken_over_lease_is_not_restored() {
        let (store, path) = store_with_token().await;
        let held = grant_gateway(&store, &path).await.unwrap();
        let revoke = Removal::Revoked {
            now_ms: NOW,
            until_ms: NOW + 60_000,
        };
        store.revoke(&held.id, revoke).await.unwrap();
        assert!(matches!(
            store.restore(&held, NOW + 10, 1_000).await,
            Err(VaultError::LeaseRevoked { .. })
        ));

        let held = grant_gateway(&store, &path).await.unwrap();
        lose(&store, &held.id);
        let taker = grant_gateway(&store, &path).await.unwrap();
        assert!(matches!(
            store.restore(&held, NOW + 10, 1_000).await,
            Err(VaultError::LeaseRevoked { .. })
        ));
        assert!(store.renew(&taker.id, NOW + 10, 1_000).await.is_ok());

        let expired = LeaseRecord {
            expires_ms: NOW,
            ..taker
        };
        lose(&store, &expired.id);
        assert!(matches!(
            store.restore(&expired, NOW + 10, 1_000).await,
            Err(VaultError::LeaseExpired { .. })
        ));
    }
}
