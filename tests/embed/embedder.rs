//! `OpenAiEmbedder` against the local embeddings server: batching and order, retries
//! honouring `retry-after-ms`, failures that are not retried, the per-tenant rate
//! limit, and the tenant's key from the vault — sent as the Bearer token and never
//! in a log line or an error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use switchboard::TenantId;
use switchboard::config::EmbeddingsConfig;
use switchboard::embed::{EmbedError, Embedder, OpenAiEmbedder};
use switchboard::vault::{
    MemoryBackend, SecretKind, VaultConfig, VaultHandle, VaultKey, VaultKeys,
};

use crate::common::capture_logs;
use crate::common::embed_server::{DIM, EmbedServer, vector};

fn config(server: &EmbedServer) -> EmbeddingsConfig {
    EmbeddingsConfig {
        url: server.url().to_owned(),
        model: "test-embed-1".into(),
        secret: "openai_key".into(),
        dimension: Some(DIM),
        batch: 64,
        rate_per_sec: 1_000,
        burst: None,
        max_retries: 5,
        timeout_ms: 10_000,
    }
}

fn duck() -> TenantId {
    TenantId::parse("discord", "duck").unwrap()
}

fn texts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("message number {i} about ducks"))
        .collect()
}

#[tokio::test]
async fn large_inputs_are_batched_and_vectors_come_back_in_input_order() {
    let server = EmbedServer::start().await;
    let embedder = OpenAiEmbedder::new(&config(&server)).unwrap();
    assert_eq!(embedder.model(), "test-embed-1");
    assert_eq!(embedder.dimension(), Some(DIM));
    let input = texts(150);
    let key = SecretString::from("k");
    let vectors = embedder.embed(&duck(), &key, &input).await.unwrap();
    assert_eq!(server.requests(), 3);
    assert_eq!(server.batches(), [64, 64, 22]);
    assert_eq!(vectors.len(), 150);
    for (text, v) in input.iter().zip(&vectors) {
        assert_eq!(v, &vector(text), "{text}");
    }
    // Nothing to embed: no request.
    assert!(embedder.embed(&duck(), &key, &[]).await.unwrap().is_empty());
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn a_429_is_retried_after_the_time_the_service_asks() {
    let server = EmbedServer::start().await;
    let embedder = OpenAiEmbedder::new(&config(&server)).unwrap();
    server.fail_next(2, 429, Some(300));
    let started = Instant::now();
    let v = embedder
        .embed(&duck(), &SecretString::from("k"), &texts(3))
        .await
        .unwrap();
    assert_eq!(v.len(), 3);
    assert_eq!(server.requests(), 3, "two 429s, then success");
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "retry-after-ms 300 honoured twice: {:?}",
        started.elapsed()
    );
    // 5xx too; past max_retries the last answer is the error.
    server.fail_next(10, 503, Some(1));
    let mut cfg = config(&server);
    cfg.max_retries = 2;
    let strict = OpenAiEmbedder::new(&cfg).unwrap();
    let before = server.requests();
    let err = strict
        .embed(&duck(), &SecretString::from("k"), &texts(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            EmbedError::Status {
                status: 503,
                attempts: 3,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(server.requests() - before, 3, "one try and two retries");
}

#[tokio::test]
async fn the_tenants_vault_key_is_the_bearer_token_and_never_logged() {
    const CANARY: &str = "sk-canary-7f3a91c2e8";
    let logs = capture_logs();
    let server = EmbedServer::start().await;
    server.require_key(CANARY);

    // The key is duck's app secret in the vault, read as the worker serving duck
    // (what `Ctx::secret` does).
    let vault = VaultHandle::spawn(
        VaultConfig::default(),
        &VaultKeys::full(&VaultKey::from_bytes([9; 32])),
        MemoryBackend::default(),
    )
    .await
    .unwrap();
    vault
        .admin_scope()
        .put(
            "discord/duck/openai_key".parse().unwrap(),
            SecretKind::AppSecret,
            CANARY.into(),
        )
        .await
        .unwrap();
    let embedder = Arc::new(OpenAiEmbedder::new(&config(&server)).unwrap());
    let key = vault
        .worker_secrets()
        .app_secret(&duck(), embedder.secret_name())
        .await
        .unwrap();
    server.fail_next(1, 429, Some(1)); // a retry logs; it must not log the key
    let v = embedder.embed(&duck(), &key, &texts(2)).await.unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(
        server.auth_headers(),
        [format!("Bearer {CANARY}"), format!("Bearer {CANARY}")]
    );

    // A wrong key: the service echoes it in its 401; the error masks it and is not
    // retried.
    let wrong = SecretString::from("sk-wrong-canary-55d1");
    let before = server.requests();
    let err = embedder
        .embed(&duck(), &wrong, &texts(1))
        .await
        .unwrap_err();
    assert_eq!(server.requests() - before, 1, "a 401 is not retried");
    let shown = format!("{err} / {err:?}");
    assert!(
        matches!(err, EmbedError::Status { status: 401, .. }),
        "{shown}"
    );
    assert!(shown.contains("Incorrect API key"), "{shown}");
    assert!(!shown.contains("sk-wrong-canary-55d1"), "{shown}");
    tracing::warn!(error = %err, "embedding failed");

    let debug = format!("{embedder:?}");
    assert!(!debug.contains(CANARY), "{debug}");
    let captured = logs.contents();
    assert!(
        captured.contains("retried"),
        "the retry was logged: {captured}"
    );
    assert!(!captured.contains(CANARY), "the key leaked into logs");
    assert!(
        !captured.contains("sk-wrong-canary-55d1"),
        "the key leaked into logs"
    );
}

#[tokio::test]
async fn a_busy_tenant_is_rate_limited_and_another_is_not_held_up() {
    let server = EmbedServer::start().await;
    let mut cfg = config(&server);
    cfg.batch = 1;
    cfg.rate_per_sec = 10;
    cfg.burst = Some(1);
    let embedder = Arc::new(OpenAiEmbedder::new(&cfg).unwrap());
    let key = SecretString::from("k");
    // duck: 6 requests at 10/s with a burst of 1 take at least 0.5 s.
    let busy = {
        let (embedder, key) = (Arc::clone(&embedder), key.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            embedder.embed(&duck(), &key, &texts(6)).await.unwrap();
            started.elapsed()
        })
    };
    // goose, meanwhile: one request, its own bucket.
    let goose = TenantId::parse("discord", "goose").unwrap();
    let started = Instant::now();
    embedder.embed(&goose, &key, &texts(1)).await.unwrap();
    let goose_took = started.elapsed();
    let duck_took = busy.await.unwrap();
    assert!(
        duck_took >= Duration::from_millis(500),
        "duck was limited: {duck_took:?}"
    );
    assert!(
        goose_took < duck_took,
        "goose did not queue behind duck: {goose_took:?} vs {duck_took:?}"
    );
    assert_eq!(server.requests(), 7);
}

#[tokio::test]
async fn answers_that_break_the_contract_are_errors() {
    let server = EmbedServer::start().await;
    let mut cfg = config(&server);
    cfg.dimension = Some(DIM + 1);
    let embedder = OpenAiEmbedder::new(&cfg).unwrap();
    let err = embedder
        .embed(&duck(), &SecretString::from("k"), &texts(1))
        .await
        .unwrap_err();
    assert!(matches!(err, EmbedError::Invalid(_)), "{err}");
    assert!(err.to_string().contains("dimensions"), "{err}");
    cfg.url = "ftp://example.com".into();
    assert!(matches!(
        OpenAiEmbedder::new(&cfg).unwrap_err(),
        EmbedError::Config(_)
    ));
}
