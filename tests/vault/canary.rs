//! A canary token put in the vault never appears in any Redis value (every key
//! scanned), in captured log output, or in the `Debug` of any vault type.

use std::time::Duration;

use fred::prelude::*;
use fred::types::{ClusterHash, CustomCommand};
use secrecy::{ExposeSecret, SecretString};
use switchboard::vault::VaultKeys;
use switchboard::vault::{
    Capability, LeaseEvent, SecretKind, TenantId, VaultConfig, VaultError, VaultHandle,
};

use crate::common::redis::TestRedis;
use crate::common::{capture_logs, eventually};
use crate::support::{CANARY, config, path, redis_backend, test_key};

async fn cmd(client: &Client, name: &'static str, args: Vec<Value>) -> Value {
    client
        .custom(
            CustomCommand::new_static(name, ClusterHash::FirstKey, false),
            args,
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn flatten(v: &Value, out: &mut Vec<Vec<u8>>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        Value::Map(m) => m.clone().inner().iter().for_each(|(k, v)| {
            out.push(k.as_bytes().to_vec());
            flatten(v, out);
        }),
        other => {
            if let Some(b) = other.as_bytes() {
                out.push(b.to_vec());
            } else if let Some(s) = other.as_string() {
                out.push(s.into_bytes());
            }
        }
    }
}

/// Every key and every value in the store, type by type.
async fn dump_everything(client: &Client) -> Vec<Vec<u8>> {
    let keys = cmd(client, "KEYS", vec![Value::from("*")])
        .await
        .into_array();
    assert!(!keys.is_empty(), "the vault wrote nothing?");
    let mut out = Vec::new();
    for key in keys {
        let name = key.as_str().expect("key name").into_owned();
        out.push(name.clone().into_bytes());
        let k = Value::from(name.as_str());
        let kind = cmd(client, "TYPE", vec![k.clone()])
            .await
            .as_string()
            .unwrap_or_default();
        let v = match kind.as_str() {
            "string" => cmd(client, "GET", vec![k]).await,
            "hash" => cmd(client, "HGETALL", vec![k]).await,
            "set" => cmd(client, "SMEMBERS", vec![k]).await,
            "zset" => {
                cmd(
                    client,
                    "ZRANGE",
                    vec![
                        k,
                        Value::from(0),
                        Value::from(-1),
                        Value::from("WITHSCORES"),
                    ],
                )
                .await
            }
            "list" => cmd(client, "LRANGE", vec![k, Value::from(0), Value::from(-1)]).await,
            "stream" => {
                cmd(
                    client,
                    "XRANGE",
                    vec![k, Value::from("-"), Value::from("+")],
                )
                .await
            }
            other => panic!("unexpected key type {other} for {name}"),
        };
        flatten(&v, &mut out);
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one scenario, read top to bottom
async fn canary_never_leaks_into_redis_logs_or_debug() {
    let logs = capture_logs();
    let redis = TestRedis::start().await;
    let key = test_key();
    let backend = redis_backend(&redis, &key).await;
    let backend_debug = format!("{backend:?}");
    let vault = VaultHandle::spawn(
        VaultConfig {
            quota_per_principal: 3,
            ..config(Duration::from_secs(2))
        },
        &VaultKeys::full(&key),
        backend,
    )
    .await
    .expect("vault");

    publish_canary(&vault).await;

    let rest = vault.rest_scope(&TenantId::parse("discord", "duck").expect("valid"));
    let gw = vault.gateway_scope(&TenantId::parse("discord", "duck").expect("valid"));
    let worker = vault.worker_scope(Some(&TenantId::parse("discord", "duck").expect("valid")));
    let lease = rest
        .lease(
            path("discord/duck/bot_token"),
            Capability::ProviderRest,
            Some(Duration::from_millis(300)),
        )
        .await
        .expect("rest lease");
    assert!(
        lease
            .secret()
            .expect("live")
            .expose_secret()
            .starts_with(CANARY)
    );
    let gw_lease = gw
        .lease(
            path("discord/duck/bot_token"),
            Capability::ProviderGateway,
            None,
        )
        .await
        .expect("gateway lease");
    let app = worker
        .lease(path("discord/duck/llm_key"), Capability::SecretRead, None)
        .await
        .expect("app lease");
    let mut rx = lease.subscribe();
    // Let it auto-renew at least once.
    tokio::time::timeout(Duration::from_secs(2), async {
        while !matches!(rx.recv().await, Ok(LeaseEvent::Renewed { .. })) {}
    })
    .await
    .expect("renewed");

    let mut errors: Vec<VaultError> = Vec::new();
    errors.push(
        worker
            .lease(
                path("discord/duck/bot_token"),
                Capability::ProviderRest,
                None,
            )
            .await
            .expect_err("denied"),
    );
    errors.push(
        gw.lease(
            path("discord/duck/bot_token"),
            Capability::ProviderGateway,
            None,
        )
        .await
        .expect_err("held"),
    );
    let _extra = rest
        .lease(
            path("discord/duck/bot_token"),
            Capability::ProviderRest,
            None,
        )
        .await
        .expect("2nd");
    let _extra2 = rest
        .lease(
            path("discord/duck/bot_token"),
            Capability::ProviderRest,
            None,
        )
        .await
        .expect("3rd");
    errors.push(
        rest.lease(
            path("discord/duck/bot_token"),
            Capability::ProviderRest,
            None,
        )
        .await
        .expect_err("quota"),
    );

    let debugs = vec![
        format!("{vault:?}"),
        format!("{lease:?}"),
        format!("{gw_lease:?}"),
        format!("{app:?}"),
        format!("{:?}", lease.info()),
        format!("{:?}", lease.secret().expect("live")),
        format!("{key:?}"),
        backend_debug,
        format!("{errors:?}"),
        format!("{:?}", vault.stats().await.expect("stats")),
        format!("{rest:?}"),
        format!("{gw:?}"),
        format!("{:?}", vault.worker_secrets()),
        format!("{:?}", vault.audit(100).await.expect("audit")),
        serde_json::to_string(&lease.info()).expect("json"),
        serde_json::to_string(&vault.audit(100).await.expect("audit")).expect("json"),
    ];
    for d in &debugs {
        assert!(
            !d.contains(CANARY),
            "canary in Debug/serialized output: {d}"
        );
    }

    lease.release().await.expect("release");
    app.release().await.expect("release");
    drop(gw_lease);
    eventually(Duration::from_secs(5), || async {
        vault.audit(1000).await.is_ok_and(|a| a.len() >= 8)
    })
    .await;

    assert_redis_clean(&redis).await;

    let captured = logs.contents();
    assert!(
        captured.contains("vault audit"),
        "the capture works: {captured}"
    );
    assert!(!captured.contains(CANARY), "canary in logs:\n{captured}");
    assert!(!captured.contains("7f3e9a1b"), "canary fragment in logs");
    vault.stop();
}

/// Publishes the canary (credential and app secret) and rotates it once, so the
/// previous version is stored too.
async fn publish_canary(vault: &VaultHandle) {
    vault
        .publish_tenant(
            "discord",
            "duck",
            [
                (
                    "bot_token",
                    SecretString::from(CANARY),
                    SecretKind::ProviderCredential,
                ),
                (
                    "llm_key",
                    SecretString::from(format!("{CANARY}-llm")),
                    SecretKind::AppSecret,
                ),
            ],
        )
        .await
        .expect("publish");
    // Rotate once so the previous version is stored too.
    vault
        .admin_scope()
        .rotate(
            path("discord/duck/bot_token"),
            SecretKind::ProviderCredential,
            SecretString::from(format!("{CANARY}-v2")),
        )
        .await
        .expect("rotate");
}

/// Scans every key of the store: no canary anywhere, HMAC'd ids in the audit stream.
async fn assert_redis_clean(redis: &TestRedis) {
    let client = Builder::from_config(Config::from_url(&redis.url()).expect("url"))
        .build()
        .expect("client");
    client.init().await.expect("connect");
    let everything = dump_everything(&client).await;
    assert!(
        everything.len() > 10,
        "expected secrets, leases, indexes and audit records"
    );
    for v in &everything {
        assert!(
            !contains(v, CANARY.as_bytes()),
            "canary found in Redis: {:?}",
            String::from_utf8_lossy(v)
        );
        assert!(!contains(v, b"7f3e9a1b"), "canary fragment found in Redis");
    }
    // Lease ids are only stored as index entries, never in the audit stream.
    let audit = cmd(
        &client,
        "XRANGE",
        vec![
            Value::from(format!("{}:{{vault}}:audit", redis.prefix())),
            Value::from("-"),
            Value::from("+"),
        ],
    )
    .await;
    let mut audit_bytes = Vec::new();
    flatten(&audit, &mut audit_bytes);
    assert!(
        audit_bytes.iter().any(|b| contains(b, b"hmac-sha256:")),
        "audit stream holds HMAC'd ids"
    );
    assert!(
        !audit_bytes.iter().any(|b| contains(b, b"bot_token/01")),
        "raw lease ids in the audit stream"
    );
}
