//! TTL, renewal (capped), automatic renewal, revocation (one, by prefix, by principal)
//! and expiry — the same checks on the memory backend with paused time and on a real
//! Redis. Durations are multiples of a `unit` (1 s on paused memory, 200 ms on Redis).

use std::time::Duration;

use switchboard::vault::{
    Capability, LeaseEvent, ScopedVault, TenantId, VaultConfig, VaultError, VaultHandle,
};
use tokio::sync::broadcast::Receiver;

use crate::common::eventually_some;
use crate::common::redis::TestRedis;
use crate::support::{config, memory_vault, path, redis_vault, seed};

/// The scope a tenant supervisor mints for `discord/<tenant>`'s REST actor.
fn rest(vault: &VaultHandle, tenant: &str) -> ScopedVault {
    vault.rest_scope(&TenantId::parse("discord", tenant).expect("valid"))
}

/// Waits for `want` among the next events (skipping others).
pub(crate) async fn wait_event(
    rx: &mut Receiver<LeaseEvent>,
    within: Duration,
    want: impl Fn(&LeaseEvent) -> bool,
) -> LeaseEvent {
    tokio::time::timeout(within, async {
        loop {
            match rx.recv().await {
                Ok(ev) if want(&ev) => return ev,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event channel closed: {e}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no matching lease event within {within:?}"))
}

fn cfg(unit: Duration) -> VaultConfig {
    config(unit * 10)
}

/// Granted TTL, renewal by an increment, and the cap at `max_ttl`.
async fn ttl_and_capped_renewal(vault: &VaultHandle, unit: Duration) {
    let slack = unit / 2;
    let lease = rest(vault, "duck")
        .lease(
            path("discord/duck/bot_token"),
            Capability::ProviderRest,
            Some(unit * 2),
        )
        .await
        .expect("granted");
    lease.stop_renewal();
    let info = lease.info();
    assert!(
        info.ttl <= unit * 2 && info.ttl + slack >= unit * 2,
        "{info:?}"
    );
    assert!(
        info.max_ttl <= unit * 10 && info.max_ttl + slack >= unit * 10,
        "{info:?}"
    );
    assert!(info.renewable);
    assert_eq!(info.version, 1);
    assert_eq!(info.fence, None);

    let granted = lease.renew(unit * 3).await.expect("renews");
    assert!(
        granted <= unit * 3 && granted + slack >= unit * 3,
        "{granted:?}"
    );
    assert!(lease.info().ttl + slack >= unit * 3);

    let capped = lease.renew(unit * 100).await.expect("renews");
    assert!(
        capped <= unit * 10,
        "renewal must be capped by max_ttl: {capped:?}"
    );
    assert!(capped + slack * 2 >= unit * 10, "{capped:?}");
    lease.release().await.expect("released");
}

/// A lease renews itself at about 2/3 of its TTL and lives past its first TTL, until
/// its maximum.
async fn auto_renewal(vault: &VaultHandle, unit: Duration) {
    let lease = rest(vault, "duck")
        .lease(
            path("discord/duck/bot_token"),
            Capability::ProviderRest,
            Some(unit * 3),
        )
        .await
        .expect("granted");
    let mut rx = lease.subscribe();
    let ev = wait_event(&mut rx, unit * 3, |e| {
        matches!(e, LeaseEvent::Renewed { .. })
    })
    .await;
    let LeaseEvent::Renewed { ttl } = ev else {
        unreachable!()
    };
    assert!(ttl <= unit * 3, "{ttl:?}");
    tokio::time::sleep(unit * 4).await;
    assert!(lease.is_valid(), "auto-renewed past its first TTL");
    // Renewals stop at max_ttl (10 units after grant); then it expires.
    wait_event(&mut rx, unit * 12, |e| *e == LeaseEvent::Expired).await;
    assert!(matches!(
        lease.secret(),
        Err(VaultError::LeaseExpired { .. })
    ));
}

/// A lease whose holder stops renewing expires, is swept and audited.
async fn expiry(vault: &VaultHandle, unit: Duration) {
    let lease = rest(vault, "duck")
        .lease(
            path("discord/duck/bot_token"),
            Capability::ProviderRest,
            Some(unit * 2),
        )
        .await
        .expect("granted");
    lease.stop_renewal();
    let mut rx = lease.subscribe();
    assert!(lease.secret().is_ok());
    wait_event(&mut rx, unit * 6, |e| *e == LeaseEvent::Expired).await;
    assert!(matches!(
        lease.secret(),
        Err(VaultError::LeaseExpired { .. })
    ));
    let err = vault.renew(lease.id(), unit).await.expect_err("gone");
    assert!(
        matches!(
            err,
            VaultError::LeaseExpired { .. } | VaultError::LeaseNotFound { .. }
        ),
        "{err}"
    );
    eventually_some(unit * 20, || async {
        let records = vault.audit(1000).await.ok()?;
        records
            .iter()
            .any(|r| r.event == switchboard::vault::AuditEvent::Expire)
            .then_some(())
    })
    .await;
}

/// `revoke`, `revoke_prefix`, `revoke_principal`.
async fn revocations(vault: &VaultHandle) {
    let lease = |p: ScopedVault, s: &'static str, cap| async move {
        p.lease(path(s), cap, None).await.expect("granted")
    };
    let worker = vault.worker_scope(Some(&TenantId::parse("discord", "duck").expect("valid")));
    let duck_rest = lease(
        rest(vault, "duck"),
        "discord/duck/bot_token",
        Capability::ProviderRest,
    )
    .await;
    let duck_app = lease(
        worker.clone(),
        "discord/duck/llm_key",
        Capability::SecretRead,
    )
    .await;
    let goose_rest = lease(
        rest(vault, "goose"),
        "discord/goose/bot_token",
        Capability::ProviderRest,
    )
    .await;
    let goose_rest2 = lease(
        rest(vault, "goose"),
        "discord/goose/bot_token",
        Capability::ProviderRest,
    )
    .await;
    let one = lease(
        rest(vault, "duck"),
        "discord/duck/bot_token",
        Capability::ProviderRest,
    )
    .await;

    let mut rx = one.subscribe();
    assert!(vault.revoke(one.id()).await.expect("revoke"));
    assert_eq!(rx.recv().await.expect("event"), LeaseEvent::Revoked);
    assert!(matches!(one.secret(), Err(VaultError::LeaseRevoked { .. })));
    assert!(matches!(
        vault.renew(one.id(), Duration::from_secs(1)).await,
        Err(VaultError::LeaseNotFound { .. })
    ));
    assert!(!vault.revoke(one.id()).await.expect("revoke again"));

    // A removed tenant loses every lease at once.
    assert_eq!(
        vault.revoke_prefix("discord/duck/").await.expect("prefix"),
        2
    );
    assert!(!duck_rest.is_valid() && !duck_app.is_valid());
    assert!(goose_rest.is_valid() && goose_rest2.is_valid());

    // Leases die with the actor that held them.
    assert_eq!(
        vault
            .revoke_principal(rest(vault, "goose").principal())
            .await
            .expect("principal"),
        2
    );
    assert!(!goose_rest.is_valid() && !goose_rest2.is_valid());
    assert_eq!(vault.stats().await.expect("stats").local_leases, 0);
}

#[tokio::test(start_paused = true)]
async fn memory_ttl_and_capped_renewal() {
    let unit = Duration::from_secs(1);
    let vault = memory_vault(cfg(unit)).await;
    seed(&vault, "v").await;
    ttl_and_capped_renewal(&vault, unit).await;
}

#[tokio::test(start_paused = true)]
async fn memory_auto_renewal_until_max_ttl() {
    let unit = Duration::from_secs(1);
    let vault = memory_vault(cfg(unit)).await;
    seed(&vault, "v").await;
    auto_renewal(&vault, unit).await;
}

#[tokio::test(start_paused = true)]
async fn memory_expiry() {
    let unit = Duration::from_secs(1);
    let vault = memory_vault(cfg(unit)).await;
    seed(&vault, "v").await;
    expiry(&vault, unit).await;
}

#[tokio::test(start_paused = true)]
async fn memory_revocations() {
    let vault = memory_vault(cfg(Duration::from_secs(1))).await;
    seed(&vault, "v").await;
    revocations(&vault).await;
}

#[tokio::test]
async fn redis_ttl_and_capped_renewal() {
    let redis = TestRedis::start().await;
    let unit = Duration::from_millis(200);
    let vault = redis_vault(&redis, cfg(unit)).await;
    seed(&vault, "v").await;
    ttl_and_capped_renewal(&vault, unit).await;
}

#[tokio::test]
async fn redis_auto_renewal_until_max_ttl() {
    let redis = TestRedis::start().await;
    let unit = Duration::from_millis(200);
    let vault = redis_vault(&redis, cfg(unit)).await;
    seed(&vault, "v").await;
    auto_renewal(&vault, unit).await;
}

#[tokio::test]
async fn redis_expiry() {
    let redis = TestRedis::start().await;
    let unit = Duration::from_millis(200);
    let vault = redis_vault(&redis, cfg(unit)).await;
    seed(&vault, "v").await;
    expiry(&vault, unit).await;
}

#[tokio::test]
async fn redis_revocations() {
    let redis = TestRedis::start().await;
    let vault = redis_vault(&redis, cfg(Duration::from_secs(1))).await;
    seed(&vault, "v").await;
    revocations(&vault).await;
}

#[tokio::test(start_paused = true)]
async fn memory_quota_refuses_past_the_cap() {
    let vault = crate::support::memory_vault(VaultConfig {
        quota_per_principal: 2,
        ..config(Duration::from_secs(60))
    })
    .await;
    seed(&vault, "v").await;
    quota(&vault).await;
}

#[tokio::test]
async fn redis_quota_refuses_past_the_cap() {
    let redis = TestRedis::start().await;
    let vault = redis_vault(
        &redis,
        VaultConfig {
            quota_per_principal: 2,
            ..config(Duration::from_secs(60))
        },
    )
    .await;
    seed(&vault, "v").await;
    quota(&vault).await;
}

async fn quota(vault: &VaultHandle) {
    let p = rest(vault, "duck");
    let get = || {
        p.lease(
            path("discord/duck/bot_token"),
            Capability::ProviderRest,
            None,
        )
    };
    let a = get().await.expect("first");
    let _b = get().await.expect("second");
    let err = get().await.expect_err("third is past the quota");
    assert!(
        matches!(err, VaultError::QuotaExceeded { limit: 2, .. }),
        "{err}"
    );
    // Another principal has its own quota.
    rest(vault, "goose")
        .lease(
            path("discord/goose/bot_token"),
            Capability::ProviderRest,
            None,
        )
        .await
        .expect("goose has its own quota");
    a.release().await.expect("release");
    get().await.expect("room again after a release");
}

/// A vault actor restarted over the same store adopts the leases its holders renew:
/// renewals reach the holder again, and a revocation after the restart cuts it off at
/// once rather than at its next renewal.
#[tokio::test(start_paused = true)]
async fn memory_a_restarted_vault_adopts_held_leases() {
    let unit = Duration::from_secs(1);
    let vault = memory_vault(cfg(unit)).await;
    seed(&vault, "v").await;
    let lease = rest(&vault, "duck")
        .lease(
            path("discord/duck/bot_token"),
            Capability::ProviderRest,
            Some(unit * 3),
        )
        .await
        .expect("granted");
    let mut rx = lease.subscribe();
    let before = vault.actor_cell().get_id();
    vault.restart(None).await.expect("restarts");
    assert_ne!(vault.actor_cell().get_id(), before, "a new actor");
    wait_event(&mut rx, unit * 3, |e| {
        matches!(e, LeaseEvent::Renewed { .. })
    })
    .await;
    tokio::time::sleep(unit * 4).await;
    assert!(lease.is_valid(), "still renewed through the new actor");
    let revoked = vault.revoke_prefix("discord/duck/").await.expect("revokes");
    assert!(revoked >= 1, "{revoked}");
    assert!(matches!(
        lease.secret(),
        Err(VaultError::LeaseRevoked { .. })
    ));
}
