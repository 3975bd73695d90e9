//! Where a tenant should run: rendezvous (highest-random-weight) hashing over the
//! live access-capable nodes gives every tenant a preference order of nodes that
//! every node computes alike, and each node aims at its fair share,
//! `ceil(tenants / nodes)`. The exclusive gateway lease stays the truth: placement
//! only decides how long a node waits before it tries to take a free lease, and
//! which tenant a node over its share hands off.
//!
//! A joining or leaving node moves only the tenants whose preference changes (the
//! property of rendezvous hashing), and a node hands off at most one tenant per
//! heartbeat, and only while another node is under its share — so placement
//! converges without flapping.

use std::time::Duration;

use sha2::{Digest, Sha256};

/// A node as placement sees it: its id and how many tenants it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Node id.
    pub id: String,
    /// Tenants it holds now.
    pub held: usize,
}

/// The rendezvous weight of `node` for `tenant`: the same on every node, in every
/// version (SHA-256, not a seeded hasher).
#[must_use]
pub fn weight(tenant: &str, node: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(tenant.as_bytes());
    h.update([0]);
    h.update(node.as_bytes());
    let d = h.finalize();
    let mut b = [0_u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b)
}

/// `ceil(tenants / nodes)`, at least 1.
#[must_use]
pub fn fair_share(tenants: usize, nodes: usize) -> usize {
    tenants.div_ceil(nodes.max(1)).max(1)
}

/// The nodes in `tenant`'s order of preference (highest weight first; ids break ties).
#[must_use]
pub fn preference<'a>(tenant: &str, nodes: &'a [Candidate]) -> Vec<&'a Candidate> {
    let mut v: Vec<&Candidate> = nodes.iter().collect();
    v.sort_by(|a, b| {
        weight(tenant, &b.id)
            .cmp(&weight(tenant, &a.id))
            .then_with(|| a.id.cmp(&b.id))
    });
    v
}

/// How long node `me` waits before it takes `tenant`'s free lease: at once when it is
/// the most preferred node with room, one `step` later for each node with room
/// preferred before it, and `fallback` when it is already at its share (someone with
/// room should take it first; nobody taking it means the view is stale, and the
/// tenant must run somewhere).
#[must_use]
pub fn claim_delay(
    tenant: &str,
    me: &str,
    nodes: &[Candidate],
    tenants: usize,
    step: Duration,
    fallback: Duration,
) -> Duration {
    let share = fair_share(tenants, nodes.len());
    let held = nodes.iter().find(|n| n.id == me).map_or(0, |n| n.held);
    if held >= share {
        return fallback;
    }
    let ahead = preference(tenant, nodes)
        .into_iter()
        .take_while(|n| n.id != me)
        .filter(|n| n.held < share)
        .count();
    step * u32::try_from(ahead).unwrap_or(u32::MAX)
}

/// Which of `held` (tenants node `me` holds) to hand off, if `me` holds more than its
/// share and some node has room: the one `me` is least preferred for.
#[must_use]
pub fn hand_off<'a>(
    me: &str,
    held: &'a [String],
    nodes: &[Candidate],
    tenants: usize,
) -> Option<&'a String> {
    let share = fair_share(tenants, nodes.len());
    let room = nodes.iter().any(|n| n.id != me && n.held < share);
    if held.len() <= share || !room {
        return None;
    }
    held.iter().min_by_key(|t| (weight(t, me), (*t).clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(held: &[(&str, usize)]) -> Vec<Candidate> {
        held.iter()
            .map(|(id, held)| Candidate {
                id: (*id).to_owned(),
                held: *held,
            })
            .collect()
    }

    const STEP: Duration = Duration::from_millis(250);
    const FALLBACK: Duration = Duration::from_secs(5);

    #[test]
    fn every_node_agrees_on_the_preferred_node() {
        let n = nodes(&[("a", 0), ("b", 0), ("c", 0)]);
        for t in (0..50).map(|i| format!("discord/t{i}")) {
            let zero: Vec<_> = ["a", "b", "c"]
                .iter()
                .filter(|me| claim_delay(&t, me, &n, 9, STEP, FALLBACK).is_zero())
                .collect();
            assert_eq!(zero.len(), 1, "{t}: exactly one node claims at once");
            assert_eq!(*zero[0], preference(&t, &n)[0].id);
        }
    }

    #[test]
    fn preference_spreads_tenants_evenly_enough() {
        let n = nodes(&[("a", 0), ("b", 0), ("c", 0)]);
        let mut count = std::collections::BTreeMap::new();
        for t in (0..900).map(|i| format!("discord/t{i}")) {
            *count.entry(preference(&t, &n)[0].id.clone()).or_insert(0) += 1;
        }
        assert!(count.values().all(|c| (240..=360).contains(c)), "{count:?}");
    }

    #[test]
    fn a_full_node_waits_for_the_fallback_and_a_node_with_room_goes_first() {
        // 9 tenants, 3 nodes: share 3.
        let n = nodes(&[("a", 3), ("b", 1), ("c", 2)]);
        for t in (0..20).map(|i| format!("discord/t{i}")) {
            assert_eq!(claim_delay(&t, "a", &n, 9, STEP, FALLBACK), FALLBACK);
            let b = claim_delay(&t, "b", &n, 9, STEP, FALLBACK);
            let c = claim_delay(&t, "c", &n, 9, STEP, FALLBACK);
            assert!(b <= STEP && c <= STEP && b != c, "{t}: {b:?} {c:?}");
        }
    }

    #[test]
    fn only_a_node_over_its_share_hands_off_and_only_if_someone_has_room() {
        let held: Vec<String> = (0..5).map(|i| format!("discord/t{i}")).collect();
        // 9 tenants over 3 nodes: share 3; a holds 5.
        let n = nodes(&[("a", 5), ("b", 2), ("c", 2)]);
        let off = hand_off("a", &held, &n, 9).expect("a hands one off");
        assert!(held.contains(off));
        assert_eq!(
            hand_off("a", &held[..3], &nodes(&[("a", 3), ("b", 3), ("c", 3)]), 9),
            None
        );
        let full = nodes(&[("a", 5), ("b", 3), ("c", 3)]);
        assert_eq!(hand_off("a", &held, &full, 9), None, "nobody has room");
        // The choice is stable: the tenant a is least preferred for.
        assert_eq!(hand_off("a", &held, &n, 9), Some(off));
    }

    #[test]
    fn a_lone_node_takes_everything_at_once() {
        let n = nodes(&[("a", 7)]);
        assert_eq!(fair_share(9, 1), 9);
        assert!(claim_delay("discord/t1", "a", &n, 9, STEP, FALLBACK).is_zero());
        assert_eq!(fair_share(0, 0), 1);
    }
}
