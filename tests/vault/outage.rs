//! Redis killed and restarted (empty) mid-test: cached leases keep serving, new grants
//! fail with a typed error, grants resume when Redis is back, fences issued after the
//! restart are higher than every fence before it, and a held lease's record is
//! restored by its renewal (`empty_restart.rs` has the rest of the story).

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use switchboard::vault::{Capability, LeaseEvent, ScopedVault, SecretKind, TenantId};

use crate::common::eventually_some;
use crate::common::redis::TestRedis;
use crate::support::{config, path, redis_vault, seed};

#[tokio::test]
async fn redis_restart_mid_test() {
    let mut redis = TestRedis::start().await;
    let vault = redis_vault(&redis, config(Duration::from_secs(60))).await;
    seed(&vault, "v").await;
    let rest = vault.rest_scope(&TenantId::parse("discord", "duck").expect("valid"));
    let gw = vault.gateway_scope(&TenantId::parse("discord", "goose").expect("valid"));

    let cached = rest
        .lease(
            path("discord/duck/bot_token"),
            Capability::ProviderRest,
            Some(Duration::from_secs(3)),
        )
        .await
        .expect("lease");
    let mut cached_rx = cached.subscribe();
    let before = highest_fence(&gw, 5).await;

    redis.kill();
    // Cached leases keep working.
    assert_eq!(
        cached.secret().expect("cached").expose_secret(),
        "v-duck-token"
    );
    // New grants fail fast with a typed error.
    let started = Instant::now();
    let err = eventually_some(Duration::from_secs(5), || async {
        rest.lease(
            path("discord/duck/bot_token"),
            Capability::ProviderRest,
            None,
        )
        .await
        .err()
    })
    .await;
    assert!(err.is_unavailable(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(err.to_string().contains("unavailable"), "{err}");
    assert!(cached.secret().is_ok(), "still cached while Redis is down");

    redis.restart().await;
    // The store came back empty: republishing (as the daemon does periodically) refills
    // it, and grants resume once the client has reconnected.
    eventually_some(Duration::from_secs(10), || async {
        let token = SecretString::from("v-duck-token");
        vault
            .publish_tenant(
                "discord",
                "duck",
                [("bot_token", token, SecretKind::ProviderCredential)],
            )
            .await
            .ok()
    })
    .await;
    seed(&vault, "v").await;
    let after = gw
        .lease(
            path("discord/goose/bot_token"),
            Capability::ProviderGateway,
            None,
        )
        .await
        .expect("grants resume");
    assert!(
        after.fence().expect("fence") > before,
        "fence went backwards after a restart"
    );
    let fresh = rest
        .lease(
            path("discord/duck/bot_token"),
            Capability::ProviderRest,
            None,
        )
        .await
        .expect("grants resume");
    assert_eq!(
        fresh.secret().expect("live").expose_secret(),
        "v-duck-token"
    );

    // The old cached lease's record died with the old store: a renewal restores it
    // from its holder, which is never told the lease ended.
    eventually_some(Duration::from_secs(10), || async {
        vault.renew(cached.id(), Duration::from_secs(3)).await.ok()
    })
    .await;
    assert_eq!(
        cached.secret().expect("still live").expose_secret(),
        "v-duck-token"
    );
    while let Ok(ev) = cached_rx.try_recv() {
        assert!(
            !matches!(ev, LeaseEvent::Revoked | LeaseEvent::Expired),
            "the holder was told {ev:?}"
        );
    }
    assert!(vault.stats().await.expect("stats").backend_available);
}

/// Takes and releases the gateway lease `n` times; returns the highest fence seen.
async fn highest_fence(gw: &ScopedVault, n: usize) -> u64 {
    let mut highest = 0;
    for _ in 0..n {
        let l = gw
            .lease(
                path("discord/goose/bot_token"),
                Capability::ProviderGateway,
                None,
            )
            .await
            .expect("gateway");
        highest = highest.max(l.fence().expect("fence"));
        l.release().await.expect("release");
    }
    highest
}
