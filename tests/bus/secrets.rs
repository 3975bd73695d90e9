//! `Ctx::secret` through the real vault: a worker gets the app secrets of the tenant
//! it serves, and nothing else.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use switchboard::actors::{WorkerPoolConfig, WorkerPoolHandle};
use switchboard::bus::Bus;
use switchboard::handler::{Ctx, Handler, HandlerResult, HandlerSet};
use switchboard::model::SocialMessageCreated;
use switchboard::vault::{
    Capability, SecretKind, SecretPath, TenantId, VaultConfig, VaultError, VaultHandle,
};

use crate::support::{bus_config, eventually, message, tenant};

/// What the handler saw: secret name → value or error text.
type Seen = Arc<Mutex<Vec<(String, Result<String, String>)>>>;

struct AsksForSecrets {
    seen: Seen,
}

impl Handler for AsksForSecrets {
    fn name(&self) -> &'static str {
        "asks"
    }
    async fn on_message(&self, ctx: &Ctx, _msg: &SocialMessageCreated) -> HandlerResult {
        for name in ["llm_api_key", "bot_token", "missing"] {
            let r = ctx
                .secret(name)
                .await
                .map(|s| s.expose_secret().to_owned())
                .map_err(|e| e.to_string());
            self.seen.lock().unwrap().push((name.to_owned(), r));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctx_secret_is_scoped_to_the_served_tenant() {
    let vault = VaultHandle::memory(VaultConfig::default()).await.unwrap();
    let put = |t: &str, name: &str, kind: SecretKind, value: &str| {
        let vault = vault.clone();
        let (t, name, value) = (t.to_owned(), name.to_owned(), value.to_owned());
        async move {
            vault
                .admin_scope()
                .put(
                    SecretPath::new("discord", &t, &name).unwrap(),
                    kind,
                    SecretString::from(value),
                )
                .await
                .unwrap();
        }
    };
    put("t0", "llm_api_key", SecretKind::AppSecret, "key-of-t0").await;
    put("t1", "llm_api_key", SecretKind::AppSecret, "key-of-t1").await;
    put(
        "t0",
        "bot_token",
        SecretKind::ProviderCredential,
        "fake-token-t0",
    )
    .await;

    let bus = Bus::memory(bus_config(1, 4, 100));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut set = HandlerSet::new();
    set.add(&tenant(0), Arc::new(AsksForSecrets { seen: seen.clone() }));
    let config = WorkerPoolConfig {
        workers: 1,
        secrets: Some(vault.worker_secrets()),
        ..WorkerPoolConfig::default()
    };
    let (pool, _) = WorkerPoolHandle::start(config, bus.clone(), set, None)
        .await
        .unwrap();
    bus.publish(message(&tenant(0), "hi")).await.unwrap();
    eventually(Duration::from_secs(30), "the handler asked", || {
        let n = seen.lock().unwrap().len();
        async move { n == 3 }
    })
    .await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen[0],
        ("llm_api_key".to_owned(), Ok("key-of-t0".to_owned()))
    );
    let token = seen[1].1.as_ref().expect_err("a provider token is refused");
    assert!(token.contains("denied"), "{token}");
    assert!(!token.contains("fake-token-t0"));
    assert!(seen[2].1.is_err());

    // The worker principal bound to t0 cannot lease t1's secret either.
    let worker = vault.worker_scope(Some(&TenantId::parse("discord", "t0").unwrap()));
    let other = worker
        .lease(
            SecretPath::new("discord", "t1", "llm_api_key").unwrap(),
            Capability::SecretRead,
            None,
        )
        .await;
    assert!(
        matches!(other, Err(VaultError::PolicyDenied { .. })),
        "{other:?}"
    );
    pool.shutdown().await;
    bus.close().await;
    vault.stop();
}
