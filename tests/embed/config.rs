//! `runtime.fetch` and `runtime.embeddings` in the registry: defaults, values, and
//! every bad value reported with its path.

use switchboard::config::{ConfigError, LoadOptions, Registry};

const TENANT: &str =
    "providers:\n  - { provider: discord, tenant: a, credentials: { bot_token: t } }\n";

fn load(runtime: &str) -> Result<Registry, ConfigError> {
    Registry::from_yaml_str(
        &format!("{runtime}{TENANT}"),
        "test.yml",
        &LoadOptions::default(),
    )
}

#[test]
fn defaults_and_values_are_read() {
    let reg = load("").unwrap();
    assert_eq!(reg.runtime.fetch.max_bytes, 25 * 1024 * 1024);
    assert_eq!(reg.runtime.fetch.timeout_ms, 30_000);
    assert!(reg.runtime.embeddings.is_none());

    let reg = load(
        "runtime:\n  fetch: { max_bytes: 1000, timeout_ms: 500 }\n  embeddings: { url: \"http://127.0.0.1:9/\", model: m, secret: openai_key }\n",
    )
    .unwrap();
    assert_eq!(reg.runtime.fetch.max_bytes, 1000);
    let e = reg.runtime.embeddings.unwrap();
    assert_eq!((e.batch, e.rate_per_sec, e.max_retries), (64, 10, 5));
    assert_eq!((e.burst, e.dimension, e.timeout_ms), (None, None, 30_000));
    assert_eq!(e.secret, "openai_key");
}

#[test]
fn every_bad_value_is_reported_with_its_path() {
    let err = load(
        "runtime:\n  fetch: { max_bytes: 0, timeout_ms: 5, max_byte: 1 }\n  embeddings: { url: \"ftp://x\", model: \" \", secret: \"a/b\", batch: 0, rate_per_sec: 0, burst: 0, max_retries: 11, timeout_ms: 1, dimension: 0 }\n",
    )
    .unwrap_err();
    let msgs: Vec<String> = err.issues.iter().map(ToString::to_string).collect();
    for field in [
        "runtime.fetch.max_bytes: 0 is outside",
        "runtime.fetch.timeout_ms: 5 is outside 100–600000",
        "runtime.fetch.max_byte: unknown field",
        "runtime.embeddings.url: a ftp: URL",
        "runtime.embeddings.model: must not be empty",
        "runtime.embeddings.secret: secret name \"a/b\"",
        "runtime.embeddings.batch: 0 is outside 1–2048",
        "runtime.embeddings.rate_per_sec: must be at least 1",
        "runtime.embeddings.burst: must be at least 1",
        "runtime.embeddings.max_retries: 11 is more than 10",
        "runtime.embeddings.timeout_ms: 1 is outside",
        "runtime.embeddings.dimension: must be at least 1",
    ] {
        assert!(
            msgs.iter()
                .any(|m| m.starts_with(&format!("test.yml: {field}"))),
            "{field} not in {msgs:#?}"
        );
    }
    let missing = load("runtime:\n  embeddings: { url: \"http://h\" }\n").unwrap_err();
    let text = missing.to_string();
    assert!(text.contains("runtime.embeddings"), "{text}");
}
