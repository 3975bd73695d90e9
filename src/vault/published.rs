//! What was published into the vault (the registry's credentials and app secrets),
//! remembered beside the store so the vault can refill a store that lost its data.
//!
//! A Redis that restarts empty loses every secret; the runtime republishes the registry
//! periodically, but a lease requested before then would fail with
//! [`VaultError::NotFound`](super::VaultError::NotFound), which holders treat as a
//! configuration error. With this copy, a grant that finds a published secret missing
//! republishes its tenant at once and tries again. Values stay
//! [`SecretString`]s (zeroized on drop, redacted in `Debug`); only the vault reads them.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use secrecy::SecretString;

use super::path::{SecretKind, SecretPath};
use crate::model::TenantId;

/// One published secret: name, value, kind.
pub(crate) type Item = (String, SecretString, SecretKind);

/// One tenant's published secrets by name.
type Named = HashMap<String, (SecretString, SecretKind)>;

/// The published secrets of every tenant, by tenant then name.
#[derive(Default)]
pub(crate) struct Published {
    tenants: RwLock<HashMap<TenantId, Named>>,
}

impl Published {
    /// Records what was published for `tenant` (a later value of a name replaces it).
    pub(crate) fn remember(&self, tenant: &TenantId, items: &[Item]) {
        let mut all = self.tenants.write().unwrap_or_else(PoisonError::into_inner);
        let mine = all.entry(tenant.clone()).or_default();
        for (name, value, kind) in items {
            mine.insert(name.clone(), (value.clone(), *kind));
        }
    }

    /// Every published secret of the tenant of `path`, if `path` itself was published.
    pub(crate) fn tenant_of(&self, path: &SecretPath) -> Option<(TenantId, Vec<Item>)> {
        let tenant = TenantId::parse(path.provider(), path.tenant()).ok()?;
        let all = self.tenants.read().unwrap_or_else(PoisonError::into_inner);
        let mine = all.get(&tenant)?;
        if !mine.contains_key(path.name()) {
            return None;
        }
        let items = mine
            .iter()
            .map(|(n, (v, k))| (n.clone(), v.clone(), *k))
            .collect();
        Some((tenant, items))
    }

    /// Forgets the tenants `keep` says no to (removed from the registry).
    pub(crate) fn retain(&self, mut keep: impl FnMut(&TenantId) -> bool) {
        self.tenants
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|t, _| keep(t));
    }
}
