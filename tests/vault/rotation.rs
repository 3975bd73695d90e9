//! Rotation: the holder of the old version is told, keeps its old value until it
//! re-leases (nothing breaks mid-request), and gets the new value on re-lease.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use switchboard::vault::{Capability, LeaseEvent, SecretKind, TenantId, VaultHandle};

use crate::common::redis::TestRedis;
use crate::lifecycle::wait_event;
use crate::support::{config, memory_vault, path, redis_vault};

async fn rotation(holder_vault: &VaultHandle, admin_vault: &VaultHandle, within: Duration) {
    let p = path("discord/duck/bot_token");
    let admin = admin_vault.admin_scope();
    let rest = holder_vault.rest_scope(&TenantId::parse("discord", "duck").expect("valid"));
    let v1 = admin
        .put(
            p.clone(),
            SecretKind::ProviderCredential,
            SecretString::from("one"),
        )
        .await
        .expect("put");
    assert_eq!(v1, 1);

    let old = rest
        .lease(
            p.clone(),
            Capability::ProviderRest,
            Some(Duration::from_millis(600)),
        )
        .await
        .expect("lease");
    assert_eq!(old.secret().expect("live").expose_secret(), "one");
    let mut rx = old.subscribe();

    let v2 = admin
        .rotate(
            p.clone(),
            SecretKind::ProviderCredential,
            SecretString::from("two"),
        )
        .await
        .expect("rotate");
    assert_eq!(v2, 2);

    let ev = wait_event(&mut rx, within, |e| matches!(e, LeaseEvent::Rotated { .. })).await;
    assert_eq!(ev, LeaseEvent::Rotated { version: 2 });
    // Mid-request reads still work on the old lease.
    assert_eq!(old.secret().expect("still live").expose_secret(), "one");

    // The holder re-leases and gets the new value.
    let new = rest
        .lease(p, Capability::ProviderRest, None)
        .await
        .expect("re-lease");
    assert_eq!(new.version(), 2);
    assert_eq!(new.secret().expect("live").expose_secret(), "two");
    drop(old);
}

#[tokio::test(start_paused = true)]
async fn memory_rotation_notifies_the_holder() {
    let vault = memory_vault(config(Duration::from_secs(60))).await;
    rotation(&vault, &vault, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn redis_rotation_notifies_the_holder() {
    let redis = TestRedis::start().await;
    let vault = redis_vault(&redis, config(Duration::from_secs(60))).await;
    rotation(&vault, &vault, Duration::from_secs(1)).await;
}

/// A rotation made through another vault on the same store reaches the holder at its
/// next renewal.
#[tokio::test]
async fn redis_rotation_by_another_vault_is_seen_at_renewal() {
    let redis = TestRedis::start().await;
    let holder = redis_vault(&redis, config(Duration::from_secs(60))).await;
    let admin = redis_vault(&redis, config(Duration::from_secs(60))).await;
    rotation(&holder, &admin, Duration::from_secs(3)).await;
}

#[tokio::test(start_paused = true)]
async fn publish_is_idempotent_and_rotates_changed_values() {
    let vault = memory_vault(config(Duration::from_secs(60))).await;
    let creds = |token: &str| {
        [
            (
                "bot_token",
                SecretString::from(token.to_owned()),
                SecretKind::ProviderCredential,
            ),
            ("llm_key", SecretString::from("k"), SecretKind::AppSecret),
        ]
    };
    let r = vault
        .publish_tenant("discord", "duck", creds("a"))
        .await
        .expect("publish");
    assert_eq!((r.written, r.unchanged), (2, 0));
    let r = vault
        .publish_tenant("discord", "duck", creds("a"))
        .await
        .expect("republish");
    assert_eq!((r.written, r.unchanged), (0, 2));
    let r = vault
        .publish_tenant("discord", "duck", creds("b"))
        .await
        .expect("reload");
    assert_eq!((r.written, r.unchanged), (1, 1));
    assert!(
        vault
            .publish_tenant("discord", "Bad Tenant", creds("a"))
            .await
            .is_err()
    );
}
