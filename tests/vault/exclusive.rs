//! Exclusive `provider.gateway` leases: one holder across every vault sharing a store,
//! strictly increasing fences, take-over after the holder stops renewing.

use std::time::Duration;

use switchboard::vault::VaultKeys;
use switchboard::vault::{Capability, MemoryBackend, TenantId, VaultError, VaultHandle, VaultKey};

use crate::common::eventually_some;
use crate::common::redis::TestRedis;
use crate::support::{config, path, redis_vault, seed};

async fn contend(first: &VaultHandle, second: &VaultHandle, ttl: Duration) {
    let duck = TenantId::parse("discord", "duck").expect("valid");
    let cred = path("discord/duck/bot_token");
    // Each vault mints duck's gateway scope, as each node's tenant supervisor does.
    let grab = |v: &VaultHandle| {
        let gw = v.gateway_scope(&duck);
        let cred = cred.clone();
        async move { gw.lease(cred, Capability::ProviderGateway, Some(ttl)).await }
    };

    // Both ask at once: exactly one wins.
    let (ra, rb) = tokio::join!(grab(first), grab(second));
    let (winner, loser_vault, loser_err) = match (ra, rb) {
        (Ok(l), Err(e)) => (l, second, e),
        (Err(e), Ok(l)) => (l, first, e),
        (ra, rb) => panic!("exactly one must win: {ra:?} / {rb:?}"),
    };
    assert!(
        matches!(loser_err, VaultError::AlreadyHeld { .. }),
        "{loser_err}"
    );
    let first_fence = winner.fence().expect("exclusive leases carry a fence");

    // While the winner renews, the other keeps losing.
    tokio::time::sleep(ttl * 2).await;
    assert!(winner.is_valid());
    assert!(matches!(
        grab(loser_vault).await,
        Err(VaultError::AlreadyHeld { .. })
    ));

    // The winner stops renewing (as a hung daemon would): the other takes over with a
    // higher fence once the lock lapses.
    winner.stop_renewal();
    let next = eventually_some(ttl * 10, || async { grab(loser_vault).await.ok() }).await;
    let next_fence = next.fence().expect("fence");
    assert!(
        next_fence > first_fence,
        "{next_fence} must be > {first_fence}"
    );

    // The old holder cannot renew its way back.
    let err = winner.renew(ttl).await.expect_err("lost");
    assert!(
        matches!(
            err,
            VaultError::LeaseExpired { .. }
                | VaultError::LeaseRevoked { .. }
                | VaultError::LeaseNotFound { .. }
        ),
        "{err}"
    );
    assert!(!winner.is_valid());

    // Releasing hands over at once, with a still higher fence.
    next.release().await.expect("release");
    let third = grab(first).await.expect("free after release");
    assert!(third.fence().expect("fence") > next_fence);
}

#[tokio::test(start_paused = true)]
async fn memory_two_vaults_contend_for_the_gateway_lease() {
    let store = MemoryBackend::default();
    let key = VaultKey::from_bytes([1; 32]);
    let cfg = config(Duration::from_secs(600));
    let a = VaultHandle::spawn(cfg.clone(), &VaultKeys::full(&key), store.clone())
        .await
        .expect("a");
    let b = VaultHandle::spawn(cfg, &VaultKeys::full(&key), store)
        .await
        .expect("b");
    seed(&a, "v").await;
    contend(&a, &b, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn redis_two_vaults_contend_for_the_gateway_lease() {
    let redis = TestRedis::start().await;
    let cfg = config(Duration::from_secs(600));
    let a = redis_vault(&redis, cfg.clone()).await;
    let b = redis_vault(&redis, cfg).await;
    seed(&a, "v").await;
    contend(&a, &b, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn redis_fences_increase_across_many_grants() {
    let redis = TestRedis::start().await;
    let vault = redis_vault(&redis, config(Duration::from_secs(60))).await;
    seed(&vault, "v").await;
    let gw = vault.gateway_scope(&TenantId::parse("discord", "duck").expect("valid"));
    let mut last = 0;
    for _ in 0..20 {
        let l = gw
            .lease(
                path("discord/duck/bot_token"),
                Capability::ProviderGateway,
                None,
            )
            .await
            .expect("granted");
        let f = l.fence().expect("fence");
        assert!(f > last, "{f} after {last}");
        last = f;
        l.release().await.expect("release");
    }
    // Another tenant's gateway is independent of duck's.
    let goose = vault.gateway_scope(&TenantId::parse("discord", "goose").expect("valid"));
    let _g = goose
        .lease(
            path("discord/goose/bot_token"),
            Capability::ProviderGateway,
            None,
        )
        .await
        .expect("goose's own lock");
}
