//! Redis killed and restarted (empty) mid-test: cached leases keep serving until they
//! expire, new grants fail with a typed error, grants resume when Redis is back, and
//! fences issued after the restart are higher than every fence before it.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use switchboard::vault::{Capability, LeaseEvent, Principal, SecretKind, VaultError};

use crate::common::eventually_some;
use crate::common::redis::TestRedis;
use crate::lifecycle::wait_event;
use crate::support::{config, path, redis_vault, seed};

#[tokio::test]
async fn redis_restart_mid_test() {
    let mut redis = TestRedis::start().await;
    let vault = redis_vault(&redis, config(Duration::from_secs(60))).await;
    seed(&vault, "v").await;
    let rest = Principal::rest("discord", "duck").expect("valid");
    let gw = Principal::gateway("discord", "goose").expect("valid");

    let cached = vault
        .lease(
            &rest,
            path("discord/duck/bot_token"),
            Capability::ProviderRest,
            Some(Duration::from_secs(3)),
        )
        .await
        .expect("lease");
    let before = highest_fence(&vault, &gw, 5).await;

    redis.kill();
    // Cached leases keep working.
    assert_eq!(
        cached.secret().expect("cached").expose_secret(),
        "v-duck-token"
    );
    // New grants fail fast with a typed error.
    let started = Instant::now();
    let err = eventually_some(Duration::from_secs(5), || async {
        vault
            .lease(
                &rest,
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
    let after = vault
        .lease(
            &gw,
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
    let fresh = vault
        .lease(
            &rest,
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

    // The old cached lease's record died with the old store: its next renewal finds
    // nothing, and its holder is told to re-lease.
    let mut rx = cached.subscribe();
    let ev = wait_event(&mut rx, Duration::from_secs(5), |e| {
        matches!(e, LeaseEvent::Revoked | LeaseEvent::Expired)
    })
    .await;
    assert!(matches!(ev, LeaseEvent::Revoked | LeaseEvent::Expired));
    assert!(matches!(
        cached.secret(),
        Err(VaultError::LeaseRevoked { .. } | VaultError::LeaseExpired { .. })
    ));
    assert!(vault.stats().await.expect("stats").backend_available);
}

/// Takes and releases the gateway lease `n` times; returns the highest fence seen.
async fn highest_fence(vault: &switchboard::vault::VaultHandle, gw: &Principal, n: usize) -> u64 {
    let mut highest = 0;
    for _ in 0..n {
        let l = vault
            .lease(
                gw,
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
