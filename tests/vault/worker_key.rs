//! A vault holding only the worker key, connected as the worker Redis user
//! (`switchboard::vault::setuser_args`): app secrets work end to end — lease, renew,
//! the sweep of another node's expired credential lease — and a provider credential
//! is refused by construction.

use std::time::Duration;

use fred::prelude::*;
use fred::types::{ClusterHash, CustomCommand};
use secrecy::{ExposeSecret, SecretString};
use switchboard::vault::{AclRole, setuser_args};
use switchboard::vault::{
    Capability, RedisBackend, RedisOptions, SecretKind, TenantId, VaultError, VaultHandle,
    VaultKeys,
};

use crate::common::redis::TestRedis;
use crate::support::{CANARY, config, path, publish_duck, test_key};

/// The worker user `w` (password `worker-pw`) for keys under `prefix`.
async fn add_worker_user(admin: &Client, prefix: &str) {
    let password = SecretString::from("worker-pw".to_owned());
    let _: Value = admin
        .custom(
            CustomCommand::new_static("ACL", ClusterHash::Random, false),
            std::iter::once("SETUSER".to_owned())
                .chain(setuser_args("w", AclRole::Worker, prefix, &password))
                .collect::<Vec<_>>(),
        )
        .await
        .expect("ACL SETUSER");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_key_vault_serves_app_secrets_under_the_worker_user() {
    let redis = TestRedis::start().await;
    let prefix = redis.prefix().to_owned();
    let vault_prefix = format!("{prefix}:vault");
    let admin = redis.client().await;
    add_worker_user(&admin, &prefix).await;

    // An access node's vault publishes a token and an app secret, and holds a short
    // credential lease it will never renew.
    let master = test_key();
    let full = VaultKeys::full(&master);
    let backend = RedisBackend::connect(&RedisOptions::new(redis.url(), &vault_prefix), &full)
        .await
        .expect("access vault connects");
    let access = VaultHandle::spawn(config(Duration::from_secs(2)), &full, backend)
        .await
        .expect("access vault");
    publish_duck(
        &access,
        &[
            ("bot_token", CANARY, SecretKind::ProviderCredential),
            ("api_key", "app-v1", SecretKind::AppSecret),
        ],
    )
    .await;
    let duck = TenantId::parse("discord", "duck").expect("tenant");
    let token = access
        .rest_scope(&duck)
        .lease(
            path("discord/duck/bot_token"),
            Capability::ProviderRest,
            Some(Duration::from_millis(300)),
        )
        .await
        .expect("the access vault leases the token");
    token.stop_renewal();
    let token_id = token.id().to_owned();
    access.stop();

    // The worker node's vault: its Redis user, the worker key.
    let worker_url = format!("redis://w:worker-pw@127.0.0.1:{}", redis.port());
    let keys = VaultKeys::worker_only(&master.worker_key());
    let backend = RedisBackend::connect(&RedisOptions::new(worker_url, &vault_prefix), &keys)
        .await
        .expect("the worker vault connects under the worker user");
    let worker = VaultHandle::spawn(config(Duration::from_secs(2)), &keys, backend)
        .await
        .expect("worker vault");
    let lease = worker
        .worker_scope(Some(&duck))
        .lease(path("discord/duck/api_key"), Capability::SecretRead, None)
        .await
        .expect("an app secret leases");
    assert_eq!(lease.secret().expect("value").expose_secret(), "app-v1");
    lease
        .renew(Duration::from_secs(1))
        .await
        .expect("and renews under the worker user");

    // A credential is refused before Redis is asked, even for a principal the policy
    // would let lease it.
    let value = worker
        .worker_secrets()
        .app_secret(&duck, "api_key")
        .await
        .expect("Ctx::secret's way");
    assert_eq!(value.expose_secret(), "app-v1");
    let err = worker
        .rest_scope(&duck)
        .lease(
            path("discord/duck/bot_token"),
            Capability::ProviderRest,
            None,
        )
        .await
        .expect_err("no access key");
    assert!(matches!(err, VaultError::AccessKeyNotHeld { .. }), "{err}");
    assert!(!err.to_string().contains(CANARY));

    // The access node's expired lease is swept by the worker vault, within its user.
    let expiry = format!("{vault_prefix}:{{vault}}:expiry");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let score: Option<f64> = admin.zscore(&expiry, &token_id).await.expect("zscore");
        if score.is_none() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the expired credential lease was not swept"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let stats = worker.stats().await.expect("stats");
    assert!(
        stats.backend_available,
        "every call of the worker vault succeeded under its user"
    );
    drop(token);
}
