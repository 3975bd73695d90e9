//! The full default-policy matrix: every principal kind × every capability × own and
//! other tenant × provider credential and app secret, exercised through the vault.

use std::time::Duration;

use secrecy::SecretString;
use switchboard::vault::{Capability, ScopedVault, SecretKind, TenantId, VaultError, VaultHandle};

use crate::support::{config, memory_vault, path, seed};

fn duck() -> TenantId {
    TenantId::parse("discord", "duck").expect("valid")
}

/// One scope of every principal kind, minted the only way there is: by the vault.
fn principals(vault: &VaultHandle) -> Vec<(&'static str, ScopedVault)> {
    vec![
        ("gateway", vault.gateway_scope(&duck())),
        ("rest", vault.rest_scope(&duck())),
        ("worker(duck)", vault.worker_scope(Some(&duck()))),
        ("worker", vault.worker_scope(None)),
        ("admin", vault.admin_scope()),
        ("named", vault.named_scope("billing").expect("valid")),
    ]
}

/// What the default policy should allow. `own` means a path of `discord/duck`, the
/// tenant the gateway/rest/worker principals belong to.
fn expected(who: &str, cap: Capability, own: bool, kind: SecretKind) -> bool {
    let cred = kind == SecretKind::ProviderCredential;
    match (who, cap) {
        ("gateway", Capability::ProviderGateway) | ("rest", Capability::ProviderRest) => {
            own && cred
        }
        ("worker(duck)", Capability::SecretRead) => own && !cred,
        ("admin", Capability::SecretWrite | Capability::LeaseRevoke) => true,
        _ => false,
    }
}

#[tokio::test]
async fn default_policy_matrix() {
    let vault = memory_vault(config(Duration::from_secs(600))).await;
    seed(&vault, "v").await;
    let mut table = Vec::new();
    let mut held = Vec::new();
    for (who, scoped) in principals(&vault) {
        let principal = scoped.principal().clone();
        for cap in Capability::ALL {
            for (own, tenant) in [(true, "duck"), (false, "goose")] {
                for (kind, name) in [
                    (SecretKind::ProviderCredential, "bot_token"),
                    (SecretKind::AppSecret, "llm_key"),
                ] {
                    let p = path(&format!("discord/{tenant}/{name}"));
                    let result = match cap {
                        Capability::SecretWrite => scoped
                            .put(p.clone(), kind, SecretString::from(format!("v-{tenant}-x")))
                            .await
                            .map(|_| ()),
                        Capability::LeaseRevoke => scoped
                            .revoke(&format!("{p}/01J00000000000000000000000"))
                            .await
                            .map(|_| ()),
                        _ => scoped
                            .lease(p.clone(), cap, None)
                            .await
                            .map(|l| held.push(l)),
                    };
                    let want = expected(who, cap, own, kind);
                    match &result {
                        Ok(()) => {}
                        Err(VaultError::PolicyDenied {
                            principal: denied_who,
                            capability,
                            path: denied_path,
                            ..
                        }) => {
                            assert_eq!(denied_who, &principal.to_string());
                            assert_eq!(*capability, cap);
                            assert_eq!(denied_path, &p.to_string());
                        }
                        Err(e) => panic!("{who} {cap} {p}: unexpected error {e}"),
                    }
                    assert_eq!(
                        result.is_ok(),
                        want,
                        "{who} × {cap} × {p}: got {result:?}, expected allowed={want}"
                    );
                    table.push(format!(
                        "{who:13} {cap:17} {p:24} {}",
                        if want { "allow" } else { "deny" }
                    ));
                }
            }
        }
    }
    // 6 principals × 5 capabilities × 2 tenants × 2 kinds.
    assert_eq!(table.len(), 120);
    assert_eq!(
        table.iter().filter(|l| l.ends_with("allow")).count(),
        1 + 1 + 1 + 8
    );
    vault.stop();
}

#[tokio::test]
async fn denials_are_audited_with_principal_capability_and_path() {
    let vault = memory_vault(config(Duration::from_secs(600))).await;
    seed(&vault, "v").await;
    let worker = vault.worker_scope(Some(&duck()));
    let err = worker
        .lease(
            path("discord/duck/bot_token"),
            Capability::ProviderRest,
            None,
        )
        .await
        .expect_err("denied");
    let msg = err.to_string();
    assert!(msg.contains("worker(discord/duck)"), "{msg}");
    assert!(msg.contains("provider.rest"), "{msg}");
    assert!(msg.contains("discord/duck/bot_token"), "{msg}");
    // A worker serving nobody gets no app secret either.
    let idle = vault.worker_scope(None);
    assert!(matches!(
        idle.lease(path("discord/duck/llm_key"), Capability::SecretRead, None)
            .await,
        Err(VaultError::PolicyDenied { .. })
    ));
    let records = vault.audit(100).await.expect("audit");
    let denials: Vec<_> = records
        .iter()
        .filter(|r| r.event == switchboard::vault::AuditEvent::Deny)
        .collect();
    assert_eq!(denials.len(), 2, "{records:?}");
    assert_eq!(denials[0].principal, "worker(discord/duck)");
    assert_eq!(denials[0].capability.as_deref(), Some("provider.rest"));
    assert_eq!(denials[0].path, "discord/duck/bot_token");
    vault.stop();
}
