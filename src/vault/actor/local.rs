//! The leases a vault actor granted that are still alive, by id and by secret path.
//!
//! Writing a secret asks for the leases of its path (the version its holders know,
//! and who to tell it rotated). The republisher writes every tenant's secrets again
//! each minute, so that question must not cost a scan of every lease: at 1,000
//! tenants the scan (2,000 leases for each of 2,000 writes a minute) was a quarter
//! of an idle node's CPU.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use crate::vault::lease::LeaseShared;
use crate::vault::path::SecretPath;

/// Live leases by id, with an index by secret path.
#[derive(Default)]
pub(super) struct LocalLeases {
    by_id: HashMap<String, Arc<LeaseShared>>,
    by_path: HashMap<SecretPath, Vec<Arc<LeaseShared>>>,
}

impl LocalLeases {
    /// Adds `lease` under `id` (replacing a lease of the same id).
    pub(super) fn insert(&mut self, id: String, lease: Arc<LeaseShared>) {
        self.unindex_id(&id);
        self.by_path
            .entry(lease.path.clone())
            .or_default()
            .push(Arc::clone(&lease));
        self.by_id.insert(id, lease);
    }

    /// Adds `lease` under `id` unless a lease of that id is already here (a
    /// restarted actor adopting the leases its holders renew).
    pub(super) fn adopt(&mut self, id: &str, lease: &Arc<LeaseShared>) {
        if !self.by_id.contains_key(id) {
            self.insert(id.to_owned(), Arc::clone(lease));
        }
    }

    pub(super) fn get(&self, id: &str) -> Option<&Arc<LeaseShared>> {
        self.by_id.get(id)
    }

    pub(super) fn remove(&mut self, id: &str) -> Option<Arc<LeaseShared>> {
        self.unindex_id(id);
        self.by_id.remove(id)
    }

    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(super) fn ids(&self) -> impl Iterator<Item = &String> {
        self.by_id.keys()
    }

    pub(super) fn leases(&self) -> impl Iterator<Item = &Arc<LeaseShared>> {
        self.by_id.values()
    }

    /// The live leases of secret `path`.
    pub(super) fn of_path(&self, path: &SecretPath) -> impl Iterator<Item = &Arc<LeaseShared>> {
        self.by_path.get(path).into_iter().flatten()
    }

    fn unindex_id(&mut self, id: &str) {
        let Some(old) = self.by_id.get(id) else {
            return;
        };
        if let Entry::Occupied(mut e) = self.by_path.entry(old.path.clone()) {
            e.get_mut().retain(|l| !Arc::ptr_eq(l, old));
            if e.get().is_empty() {
                e.remove();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::clock::Clock;
    use crate::vault::lease::NewLease;

    fn path(s: &str) -> SecretPath {
        s.parse().expect("valid path")
    }

    fn lease(id: &str, path: &str) -> Arc<LeaseShared> {
        let lease = NewLease::for_test(id, path, 30_000, 30_000);
        Arc::new(LeaseShared::new(lease, Clock::new()))
    }

    #[test]
    fn the_path_index_follows_inserts_replacements_and_removals() {
        let mut leases = LocalLeases::default();
        let a = lease("a", "discord/duck/bot_token");
        let b = lease("b", "discord/duck/bot_token");
        let c = lease("c", "discord/goose/bot_token");
        leases.insert("a".into(), Arc::clone(&a));
        leases.insert("b".into(), Arc::clone(&b));
        leases.adopt("c", &c);
        leases.adopt("c", &a); // already there: kept as it is
        let duck = path("discord/duck/bot_token");
        assert_eq!(leases.of_path(&duck).count(), 2);
        assert_eq!(leases.of_path(&path("discord/goose/bot_token")).count(), 1);

        // Replacing "b" with a lease of another path moves it in the index.
        let b2 = lease("b", "discord/goose/bot_token");
        leases.insert("b".into(), b2);
        assert_eq!(leases.of_path(&duck).count(), 1);
        assert_eq!(leases.of_path(&path("discord/goose/bot_token")).count(), 2);

        assert!(leases.remove("a").is_some());
        assert!(leases.remove("a").is_none());
        assert_eq!(leases.of_path(&duck).count(), 0);
        assert!(
            !leases.by_path.contains_key(&duck),
            "empty entries are dropped"
        );
        assert_eq!(leases.len(), 2);
    }
}
