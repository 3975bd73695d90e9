//! Capabilities are minted, not declared: a `WorkerSecrets` reads only the served
//! tenant's app secrets (even under a policy that would let a worker read anything),
//! and a `ScopedVault` minted for one REST actor leases only its own tenant's token.

use std::time::Duration;

use secrecy::ExposeSecret;
use switchboard::vault::{
    AuditEvent, Capability, Policy, SecretKind, TenantId, VaultConfig, VaultError, VaultHandle,
};

use crate::common::eventually_some;
use crate::common::redis::TestRedis;
use crate::support::{config, memory_vault, path, redis_vault, seed};

fn tenant(name: &str) -> TenantId {
    TenantId::parse("discord", name).expect("valid")
}

/// A policy misconfigured to let any principal read any secret (`secret.read` on
/// every path): only the capability itself stands between a worker and the rest.
fn permissive() -> VaultConfig {
    VaultConfig {
        policy: Policy::default().with("allow any secret.read *".parse().expect("rule")),
        ..config(Duration::from_secs(600))
    }
}

async fn worker_secrets_stay_in_their_tenant(vault: &VaultHandle) {
    seed(vault, "v").await;
    // An app secret only goose has.
    vault
        .admin_scope()
        .put(
            path("discord/goose/goose_only"),
            SecretKind::AppSecret,
            "goose-only-value".into(),
        )
        .await
        .expect("put");
    let duck = tenant("duck");

    // The policy really is permissive: a general worker scope serving duck could read
    // goose's app secret, and a worker could read duck's token as an app secret if
    // the store did not check kinds. Neither is reachable through `WorkerSecrets`.
    let loose = vault.worker_scope(Some(&duck));
    let goose_llm = loose
        .lease(path("discord/goose/llm_key"), Capability::SecretRead, None)
        .await
        .expect("the permissive policy lets a worker scope read another tenant");
    assert_eq!(
        goose_llm.secret().expect("live").expose_secret(),
        "v-goose-llm"
    );
    drop(goose_llm);

    let secrets = vault.worker_secrets();
    // Its own app secret: yes.
    let own = secrets
        .app_secret(&duck, "llm_key")
        .await
        .expect("duck's own app secret");
    assert_eq!(own.expose_secret(), "v-duck-llm");

    // Another tenant's app secret: its name resolves under the served tenant only.
    let err = secrets
        .app_secret(&duck, "goose_only")
        .await
        .expect_err("goose's secret is not duck's");
    assert!(matches!(err, VaultError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("discord/duck/goose_only"), "{err}");
    for sneaky in [
        "goose/llm_key",
        "../goose/llm_key",
        "discord/goose/llm_key",
        "",
    ] {
        let err = secrets
            .app_secret(&duck, sneaky)
            .await
            .expect_err("a name is one segment");
        assert!(
            matches!(err, VaultError::InvalidPath { .. }),
            "{sneaky:?}: {err}"
        );
    }

    // Its own provider credential: never, whatever the policy says.
    let err = secrets
        .app_secret(&duck, "bot_token")
        .await
        .expect_err("a provider credential is never an app secret");
    assert!(matches!(err, VaultError::PolicyDenied { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("worker(discord/duck)"), "{text}");
    assert!(!text.contains("v-duck-token"), "{text}");

    // The refusal is audited under the worker's principal, and nothing was granted
    // to it on a token.
    // (The Redis audit stream is written behind the answer: poll for it.)
    let records = eventually_some(Duration::from_secs(10), || async {
        let records = vault.audit(1000).await.ok()?;
        records
            .iter()
            .any(|r| {
                r.event == AuditEvent::Deny
                    && r.principal == "worker(discord/duck)"
                    && r.path == "discord/duck/bot_token"
            })
            .then_some(records)
    })
    .await;
    assert!(
        !records.iter().any(|r| r.event == AuditEvent::Grant
            && r.principal.starts_with("worker")
            && r.path.ends_with("/bot_token")),
        "{records:?}"
    );
    vault.stop();
}

#[tokio::test(start_paused = true)]
async fn memory_worker_secrets_read_only_the_served_tenants_app_secrets() {
    let vault = memory_vault(permissive()).await;
    worker_secrets_stay_in_their_tenant(&vault).await;
}

#[tokio::test]
async fn redis_worker_secrets_read_only_the_served_tenants_app_secrets() {
    let redis = TestRedis::start().await;
    let vault = redis_vault(&redis, permissive()).await;
    worker_secrets_stay_in_their_tenant(&vault).await;
}

#[tokio::test(start_paused = true)]
async fn a_rest_scope_leases_its_own_tenants_token_only() {
    let vault = memory_vault(config(Duration::from_secs(600))).await;
    seed(&vault, "v").await;
    let rest = vault.rest_scope(&tenant("duck"));
    assert_eq!(rest.principal().to_string(), "rest(discord/duck)");

    let own = rest
        .lease(
            path("discord/duck/bot_token"),
            Capability::ProviderRest,
            None,
        )
        .await
        .expect("duck's REST actor leases duck's token");
    assert_eq!(own.secret().expect("live").expose_secret(), "v-duck-token");

    let err = rest
        .lease(
            path("discord/goose/bot_token"),
            Capability::ProviderRest,
            None,
        )
        .await
        .expect_err("not goose's");
    match &err {
        VaultError::PolicyDenied {
            principal,
            capability,
            path,
            ..
        } => {
            assert_eq!(principal, "rest(discord/duck)");
            assert_eq!(*capability, Capability::ProviderRest);
            assert_eq!(path, "discord/goose/bot_token");
        }
        other => panic!("expected a policy denial, got {other}"),
    }
    // Nor as the gateway: the scope is bound to the REST principal.
    let err = rest
        .lease(
            path("discord/duck/bot_token"),
            Capability::ProviderGateway,
            None,
        )
        .await
        .expect_err("a REST scope is not a gateway");
    assert!(matches!(err, VaultError::PolicyDenied { .. }), "{err}");

    // Goose's own scope, minted by the same authority, does get goose's token.
    let goose = vault
        .rest_scope(&tenant("goose"))
        .lease(
            path("discord/goose/bot_token"),
            Capability::ProviderRest,
            None,
        )
        .await
        .expect("goose's REST actor leases goose's token");
    assert_eq!(
        goose.secret().expect("live").expose_secret(),
        "v-goose-token"
    );
    vault.stop();
}

#[tokio::test(start_paused = true)]
async fn a_named_scope_gets_nothing_unless_a_rule_names_it() {
    let vault = memory_vault(VaultConfig {
        policy: Policy::default().with(
            "allow named:billing secret.read discord/duck/llm_key"
                .parse()
                .expect("rule"),
        ),
        ..config(Duration::from_secs(600))
    })
    .await;
    seed(&vault, "v").await;
    assert!(matches!(
        vault.named_scope("Not Valid"),
        Err(VaultError::InvalidPath { .. })
    ));
    let billing = vault.named_scope("billing").expect("valid name");
    billing
        .lease(path("discord/duck/llm_key"), Capability::SecretRead, None)
        .await
        .expect("named in a rule");
    let other = vault.named_scope("reports").expect("valid name");
    let err = other
        .lease(path("discord/duck/llm_key"), Capability::SecretRead, None)
        .await
        .expect_err("named in no rule");
    assert!(matches!(err, VaultError::PolicyDenied { .. }), "{err}");
    vault.stop();
}
