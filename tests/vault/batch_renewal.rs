//! Batched renewals: the renewal schedule hands the vault the leases due about the
//! same time as one batch, renewed in one round trip per chunk. Each lease keeps its
//! own outcome: every live lease is extended, a lease whose exclusive lock another
//! holder took is reported lost (revoked) for that lease alone, a lease revoked
//! elsewhere is reported revoked; successful renewals are audited as one summary
//! record per batch, refused ones individually.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fred::prelude::*;
use secrecy::SecretString;
use switchboard::vault::backend::{Backend, GrantRequest, LeaseRecord, Removal};
use switchboard::vault::{
    AuditEvent, AuditRecord, Capability, Lease, LeaseEvent, SecretKind, SecretPath, TenantId,
    VaultError, VaultHandle,
};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::TryRecvError;

use crate::common::eventually_some;
use crate::common::redis::TestRedis;
use crate::support::{config, memory_vault, path, redis_backend, redis_vault, test_key};

const TENANTS: usize = 12;

fn tenant(i: usize) -> TenantId {
    TenantId::parse("discord", &format!("t{i}")).expect("valid")
}

async fn publish(vault: &VaultHandle) {
    for i in 0..TENANTS {
        vault
            .publish_tenant(
                "discord",
                &format!("t{i}"),
                [(
                    "bot_token",
                    SecretString::from(format!("token-{i}")),
                    SecretKind::ProviderCredential,
                )],
            )
            .await
            .expect("publish");
    }
}

/// Every tenant's exclusive gateway lease and its REST lease, granted back to back
/// (so they fall due together), with their event receivers.
async fn take_all(vault: &VaultHandle, ttl: Duration) -> Vec<(Lease, Receiver<LeaseEvent>)> {
    let mut out = Vec::new();
    for i in 0..TENANTS {
        let p = path(&format!("discord/t{i}/bot_token"));
        let gw = vault
            .gateway_scope(&tenant(i))
            .lease(p.clone(), Capability::ProviderGateway, Some(ttl))
            .await
            .expect("gateway lease");
        let rest = vault
            .rest_scope(&tenant(i))
            .lease(p, Capability::ProviderRest, Some(ttl))
            .await
            .expect("rest lease");
        for l in [gw, rest] {
            let rx = l.subscribe();
            out.push((l, rx));
        }
    }
    out
}

fn drain(rx: &mut Receiver<LeaseEvent>, into: &mut Vec<LeaseEvent>) {
    loop {
        match rx.try_recv() {
            Ok(ev) => into.push(ev),
            Err(TryRecvError::Lagged(_)) => {}
            Err(_) => return,
        }
    }
}

fn renewals(events: &[LeaseEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, LeaseEvent::Renewed { .. }))
        .count()
}

fn ended(events: &[LeaseEvent]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, LeaseEvent::Revoked | LeaseEvent::Expired))
}

/// The leases of the gateway of tenant 3 (its lock taken by someone else) and the
/// REST lease of tenant 5 (revoked by another vault) end; every other lease keeps
/// being renewed past its first TTL, in batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_batch_renews_each_lease_on_its_own() {
    let redis = TestRedis::start().await;
    let vault = redis_vault(&redis, config(Duration::from_secs(120))).await;
    let other = redis_vault(&redis, config(Duration::from_secs(120))).await;
    publish(&vault).await;
    let ttl = Duration::from_secs(2);
    let mut leases = take_all(&vault, ttl).await;
    // Index in `leases`: tenant i's gateway lease is 2i, its REST lease 2i + 1.
    let (lost, revoked) = (2 * 3, 2 * 5 + 1);

    let client = redis_backend(&redis, &test_key()).await.client().clone();
    let lock = format!("{}:{{discord:t3}}:excl:bot_token", redis.prefix());
    let _: () = client
        .set(
            &lock,
            "someone-else",
            Some(Expiration::PX(60_000)),
            None,
            false,
        )
        .await
        .expect("SET");
    assert!(
        other
            .revoke(leases[revoked].0.id())
            .await
            .expect("revoked elsewhere"),
        "the other vault revokes it in the store"
    );

    // Poll (bounded) until the two have ended and every other lease was renewed twice:
    // past its first TTL, so it was extended, not merely left alive.
    let mut events: Vec<Vec<LeaseEvent>> = vec![Vec::new(); leases.len()];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        for ((_, rx), seen) in leases.iter_mut().zip(events.iter_mut()) {
            drain(rx, seen);
        }
        let done = events.iter().enumerate().all(|(i, seen)| {
            if i == lost || i == revoked {
                ended(seen)
            } else {
                renewals(seen) >= 2
            }
        });
        if done {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "renewals did not complete: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert!(events[lost].contains(&LeaseEvent::Revoked), "{events:?}");
    assert!(matches!(
        leases[lost].0.secret(),
        Err(VaultError::LeaseRevoked { .. })
    ));
    assert!(events[revoked].contains(&LeaseEvent::Revoked), "{events:?}");
    assert!(matches!(
        leases[revoked].0.secret(),
        Err(VaultError::LeaseRevoked { .. })
    ));
    for (i, ((lease, _), seen)) in leases.iter().zip(&events).enumerate() {
        if i != lost && i != revoked {
            assert!(!ended(seen), "lease {i} ended: {seen:?}");
            assert!(lease.is_valid(), "lease {i} is still valid");
        }
    }
    // Compare-and-extend did not touch the lock the other holder took.
    let holder: Option<String> = client.get(&lock).await.expect("GET");
    assert_eq!(holder.as_deref(), Some("someone-else"));

    // Audited: the batches as summaries, the lost lock on its own.
    let records: Vec<AuditRecord> = eventually_some(Duration::from_secs(10), || async {
        let r = vault.audit(1_000).await.ok()?;
        let summary = r.iter().any(|x| {
            x.event == AuditEvent::Renew
                && x.principal == "system"
                && x.detail
                    .as_deref()
                    .is_some_and(|d| d.starts_with("renewed "))
        });
        let refused = r.iter().any(|x| {
            x.event == AuditEvent::Renew
                && x.principal == "gateway(discord/t3)"
                && x.detail
                    .as_deref()
                    .is_some_and(|d| d.starts_with("refused"))
        });
        (summary && refused).then_some(r)
    })
    .await;
    let per_lease_renewals = records
        .iter()
        .filter(|x| x.event == AuditEvent::Renew && x.lease.is_some())
        .filter(|x| x.detail.as_deref().is_some_and(|d| d.starts_with("ttl")))
        .count();
    assert_eq!(per_lease_renewals, 0, "plain renewals are summarized");
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn record(id: String, p: &SecretPath, capability: Capability, now: u64) -> LeaseRecord {
    LeaseRecord {
        id,
        path: p.clone(),
        principal_key: "test".to_owned(),
        principal: "test".to_owned(),
        capability,
        version: 0,
        issued_ms: now,
        expires_ms: now + 1_000,
        max_expires_ms: now + 60_000,
        renewable: true,
        fence: None,
    }
}

/// The store's side: one `renew_many` over live leases, a lost lock, a revoked lease
/// and an id that does not parse gives each its own answer, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_renew_many_answers_per_lease() {
    let redis = TestRedis::start().await;
    let vault = redis_vault(&redis, config(Duration::from_secs(120))).await;
    publish(&vault).await;
    let backend = redis_backend(&redis, &test_key()).await;
    let now = now_ms();
    let mut ids = Vec::new();
    for i in 0..TENANTS {
        let p = path(&format!("discord/t{i}/bot_token"));
        for (capability, exclusive) in [
            (Capability::ProviderGateway, true),
            (Capability::ProviderRest, false),
        ] {
            let id = format!("{p}/{}", ulid_like(ids.len()));
            let req = GrantRequest {
                record: record(id.clone(), &p, capability, now),
                kind: SecretKind::ProviderCredential,
                quota: 1_000,
                exclusive,
            };
            backend.grant(&req, now).await.expect("granted");
            ids.push(id);
        }
    }
    let (lost, revoked) = (2 * 3, 2 * 5 + 1);
    let client = backend.client().clone();
    let _: () = client
        .set(
            format!("{}:{{discord:t3}}:excl:bot_token", redis.prefix()),
            "someone-else",
            Some(Expiration::PX(60_000)),
            None,
            false,
        )
        .await
        .expect("SET");
    backend
        .revoke(
            &ids[revoked],
            Removal::Revoked {
                now_ms: now,
                until_ms: now + 60_000,
            },
        )
        .await
        .expect("revoke");

    let mut batch: Vec<(&str, u64)> = ids.iter().map(|id| (id.as_str(), 5_000)).collect();
    batch.push(("not a lease id", 5_000));
    let later = now + 500;
    let results = backend.renew_many(&batch, later).await;
    assert_eq!(results.len(), batch.len());
    let mut by_kind: HashMap<&str, usize> = HashMap::new();
    for (i, r) in results.iter().enumerate() {
        let kind = match r {
            Ok(out) => {
                assert_eq!(out.expires_ms, later + 5_000, "lease {i} extended");
                assert_eq!(out.current_version, Some(1));
                "ok"
            }
            Err(VaultError::LeaseRevoked { path }) => {
                assert_eq!(i, lost, "only the lost lock is refused: {path}");
                "lost"
            }
            Err(VaultError::LeaseNotFound { .. }) => {
                assert_eq!(i, revoked, "only the revoked record is missing");
                "gone"
            }
            Err(VaultError::InvalidLeaseId { .. }) => {
                assert_eq!(i, ids.len());
                "invalid"
            }
            Err(e) => panic!("lease {i}: {e}"),
        };
        *by_kind.entry(kind).or_default() += 1;
    }
    assert_eq!(by_kind.get("ok"), Some(&(2 * TENANTS - 2)), "{by_kind:?}");
    // The extended exclusive locks follow their leases' new expiry.
    let pttl: i64 = client
        .pttl(format!("{}:{{discord:t0}}:excl:bot_token", redis.prefix()))
        .await
        .expect("PTTL");
    assert!(pttl > 1_000, "lock extended with its lease: {pttl}");
}

/// A lease id suffix of the shape the vault issues (26 Crockford base32 characters).
fn ulid_like(n: usize) -> String {
    format!("01J{n:023}")
}

/// With paused time, leases granted together are renewed as one batch: one summary
/// record per round of renewals, covering every lease.
#[tokio::test(start_paused = true)]
async fn memory_leases_due_together_are_renewed_in_one_batch() {
    let vault = memory_vault(config(Duration::from_secs(600))).await;
    publish(&vault).await;
    let leases = take_all(&vault, Duration::from_secs(30)).await;
    let mut rx = leases[0].0.subscribe();
    // The first round of renewals (at 2/3 of the TTL).
    tokio::time::timeout(Duration::from_secs(60), async {
        while !matches!(rx.recv().await, Ok(LeaseEvent::Renewed { .. })) {}
    })
    .await
    .expect("renewed");
    let records = vault.audit(1_000).await.expect("audit");
    let summaries: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| r.event == AuditEvent::Renew)
        .collect();
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    assert_eq!(
        summaries[0].detail.as_deref(),
        Some(format!("renewed {} leases in one batch", 2 * TENANTS).as_str())
    );
    assert!(leases.iter().all(|(l, _)| l.is_valid()));
}
