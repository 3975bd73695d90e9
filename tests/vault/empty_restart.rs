//! Redis killed and restarted *empty*: held leases are restored from their holders
//! (no Revoked event, the exclusive lock and a fence at least as high come back), a
//! real revocation still revokes, an exclusive lock another holder took in the gap is
//! lost, and a lease on a secret the store lost republishes it at once.

use std::time::Duration;

use fred::prelude::*;
use secrecy::{ExposeSecret, SecretString};
use switchboard::vault::{
    Capability, Lease, LeaseEvent, ScopedVault, SecretKind, TenantId, VaultError, VaultHandle,
};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::TryRecvError;

use crate::common::redis::TestRedis;
use crate::common::{eventually, eventually_some};
use crate::lifecycle::wait_event;
use crate::support::{config, path, redis_backend, redis_vault, seed, test_key};

/// TTL of the leases held across the outage: long enough to outlast a restart and
/// the client's reconnect backoff, short enough that several renewals happen.
const TTL: Duration = Duration::from_secs(4);

fn tenant(name: &str) -> TenantId {
    TenantId::parse("discord", name).expect("valid")
}

fn rest(vault: &VaultHandle, name: &str) -> ScopedVault {
    vault.rest_scope(&tenant(name))
}

fn gateway(vault: &VaultHandle, name: &str) -> ScopedVault {
    vault.gateway_scope(&tenant(name))
}

async fn take(who: &ScopedVault, p: &str, cap: Capability) -> Lease {
    who.lease(path(p), cap, Some(TTL)).await.expect("granted")
}

/// Every event received so far.
fn drain(rx: &mut Receiver<LeaseEvent>) -> Vec<LeaseEvent> {
    let mut out = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(ev) => out.push(ev),
            Err(TryRecvError::Lagged(_)) => {}
            Err(_) => return out,
        }
    }
}

/// Kills Redis, waits until the vault reports its backend down, and starts an empty
/// server on the same port.
async fn empty_restart(redis: &mut TestRedis, vault: &VaultHandle) {
    redis.kill();
    eventually(Duration::from_secs(10), || async {
        !vault.stats().await.expect("stats").backend_available
    })
    .await;
    redis.restart().await;
}

async fn raw(redis: &TestRedis) -> Client {
    redis_backend(redis, &test_key()).await.client().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_held_leases_survive_an_empty_restart() {
    let mut redis = TestRedis::start().await;
    let vault = redis_vault(&redis, config(Duration::from_secs(120))).await;
    seed(&vault, "v").await;
    // A second version, so a refill that restarted versions at 1 would show up as a
    // rotation.
    seed(&vault, "w").await;
    let held = take(
        &rest(&vault, "duck"),
        "discord/duck/bot_token",
        Capability::ProviderRest,
    )
    .await;
    let gw = take(
        &gateway(&vault, "goose"),
        "discord/goose/bot_token",
        Capability::ProviderGateway,
    )
    .await;
    let old_fence = gw.fence().expect("fence");
    let (mut held_rx, mut gw_rx) = (held.subscribe(), gw.subscribe());

    empty_restart(&mut redis, &vault).await;

    // The holders' next renewals put their records back: a renewal by id alone (no
    // holder to restore from) then finds them.
    eventually_some(Duration::from_secs(15), || async {
        vault.renew(held.id(), TTL).await.ok()?;
        vault.renew(gw.id(), TTL).await.ok()
    })
    .await;
    let client = raw(&redis).await;
    let prefix = redis.prefix();
    let lock: Option<String> = client
        .get(format!("{prefix}:{{discord:goose}}:excl:bot_token"))
        .await
        .expect("GET");
    assert_eq!(lock.as_deref(), Some(gw.id()), "the exclusive lock is back");
    let counter: Option<u64> = client
        .get(format!("{prefix}:{{discord:goose}}:fence:bot_token"))
        .await
        .expect("GET");
    assert!(
        counter.is_some_and(|c| c >= old_fence),
        "fence counter {counter:?} below the held fence {old_fence}"
    );
    // A fresh grant after the restart gets a higher fence than the restored holder's.
    let other = take(
        &gateway(&vault, "duck"),
        "discord/duck/bot_token",
        Capability::ProviderGateway,
    )
    .await;
    assert!(other.fence().expect("fence") > old_fence);

    // Renewals keep going, and nobody was told the lease ended or rotated.
    wait_event(&mut held_rx, TTL * 2, |e| {
        matches!(e, LeaseEvent::Renewed { .. })
    })
    .await;
    for (name, rx) in [("rest", &mut held_rx), ("gateway", &mut gw_rx)] {
        let events = drain(rx);
        assert!(
            events
                .iter()
                .all(|e| matches!(e, LeaseEvent::Renewed { .. })),
            "{name} lease saw {events:?}"
        );
    }
    assert_eq!(held.secret().expect("live").expose_secret(), "w-duck-token");
    assert_eq!(gw.secret().expect("live").expose_secret(), "w-goose-token");
    assert_eq!(gw.fence(), Some(old_fence), "the holder keeps its fence");
    eventually(Duration::from_secs(5), || async {
        vault.stats().await.expect("stats").backend_available
    })
    .await;

    // An operator revocation is still a revocation.
    assert!(vault.revoke(held.id()).await.expect("revoke"));
    wait_event(&mut held_rx, TTL, |e| *e == LeaseEvent::Revoked).await;
    assert!(matches!(
        held.secret(),
        Err(VaultError::LeaseRevoked { .. })
    ));
    drop(other);
    let _ = client.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_revocation_by_another_vault_is_not_restored() {
    let redis = TestRedis::start().await;
    let holder_vault = redis_vault(&redis, config(Duration::from_secs(120))).await;
    let operator_vault = redis_vault(&redis, config(Duration::from_secs(120))).await;
    seed(&holder_vault, "v").await;
    let held = take(
        &rest(&holder_vault, "duck"),
        "discord/duck/bot_token",
        Capability::ProviderRest,
    )
    .await;
    held.stop_renewal();
    let mut rx = held.subscribe();
    // The other vault does not hold it: only the store knows it was revoked.
    assert!(operator_vault.revoke(held.id()).await.expect("revoke"));
    let err = held.renew(TTL).await.expect_err("revoked");
    assert!(matches!(err, VaultError::LeaseRevoked { .. }), "{err}");
    wait_event(&mut rx, TTL, |e| *e == LeaseEvent::Revoked).await;
    assert!(held.secret().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_an_exclusive_lock_taken_in_the_gap_is_lost() {
    let mut redis = TestRedis::start().await;
    let first = redis_vault(&redis, config(Duration::from_secs(120))).await;
    seed(&first, "v").await;
    let gw = take(
        &gateway(&first, "goose"),
        "discord/goose/bot_token",
        Capability::ProviderGateway,
    )
    .await;
    // Renewals are driven by hand below, so the other node can win the race.
    gw.stop_renewal();
    let old_fence = gw.fence().expect("fence");
    let mut rx = gw.subscribe();

    empty_restart(&mut redis, &first).await;

    // Another node comes up on the empty store, publishes and takes the gateway lease.
    let second = redis_vault(&redis, config(Duration::from_secs(120))).await;
    seed(&second, "v").await;
    let taker = take(
        &gateway(&second, "goose"),
        "discord/goose/bot_token",
        Capability::ProviderGateway,
    )
    .await;
    assert!(
        taker.fence().expect("fence") > old_fence,
        "fences stay monotonic across an empty restart"
    );

    // The original holder's renewal cannot take the lock back: it has lost the lease.
    let err = eventually_some(Duration::from_secs(15), || async {
        gw.renew(TTL).await.err().filter(|e| !e.is_unavailable())
    })
    .await;
    assert!(matches!(err, VaultError::LeaseRevoked { .. }), "{err}");
    wait_event(&mut rx, TTL, |e| *e == LeaseEvent::Revoked).await;
    assert!(!gw.is_valid());
    assert!(taker.is_valid(), "one holder, the new one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_lease_after_an_empty_restart_republishes_lost_secrets() {
    let mut redis = TestRedis::start().await;
    let vault = redis_vault(&redis, config(Duration::from_secs(120))).await;
    vault
        .publish_tenant(
            "discord",
            "duck",
            [(
                "bot_token",
                SecretString::from("duck-token"),
                SecretKind::ProviderCredential,
            )],
        )
        .await
        .expect("publish");
    // Written by an operator, not published: nothing to refill it from.
    vault
        .admin_scope()
        .put(
            path("discord/duck/llm_key"),
            SecretKind::AppSecret,
            SecretString::from("duck-llm"),
        )
        .await
        .expect("put");

    empty_restart(&mut redis, &vault).await;

    // No republish by the caller: the first grant that reaches the store refills it.
    let lease = eventually_some(Duration::from_secs(15), || async {
        match rest(&vault, "duck")
            .lease(
                path("discord/duck/bot_token"),
                Capability::ProviderRest,
                None,
            )
            .await
        {
            Ok(l) => Some(l),
            Err(e) if e.is_unavailable() => None,
            Err(e) => panic!("a published secret lost with the store must come back: {e}"),
        }
    })
    .await;
    assert_eq!(lease.secret().expect("live").expose_secret(), "duck-token");
    let worker = vault.worker_scope(Some(&tenant("duck")));
    let err = worker
        .lease(path("discord/duck/llm_key"), Capability::SecretRead, None)
        .await
        .expect_err("never published");
    assert!(matches!(err, VaultError::NotFound { .. }), "{err}");

    // A tenant the registry dropped is forgotten, so it is not refilled.
    vault.retain_published(|t| t.tenant.as_str() != "duck");
    empty_restart(&mut redis, &vault).await;
    let err = eventually_some(Duration::from_secs(15), || async {
        rest(&vault, "duck")
            .lease(
                path("discord/duck/bot_token"),
                Capability::ProviderRest,
                None,
            )
            .await
            .err()
            .filter(|e| !e.is_unavailable())
    })
    .await;
    assert!(matches!(err, VaultError::NotFound { .. }), "{err}");
}
