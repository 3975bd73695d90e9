//! `runtime.store` in the registry: each backend with its own fields, every problem
//! with its path, and a PostgreSQL URL (a secret) never shown.

use switchboard::config::{LoadOptions, Registry, StoreBackend};

fn load(store: &str) -> Result<Registry, String> {
    let yaml = format!(
        "runtime:\n  store: {store}\nproviders:\n  - provider: discord\n    tenant: duck\n    credentials: {{ bot_token: fake-duck }}\n"
    );
    Registry::from_yaml_str(&yaml, "t.yml", &LoadOptions::default()).map_err(|e| e.to_string())
}

#[test]
fn store_settings_are_checked_with_their_paths() {
    let reg = load("{ backend: sqlite, path: /tmp/x.sqlite }").unwrap();
    let store = reg.runtime.store.unwrap();
    assert_eq!(store.backend, StoreBackend::Sqlite);
    assert_eq!(store.describe(), "sqlite:/tmp/x.sqlite");
    // The default backend is SQLite at the default path.
    let reg = load("{}").unwrap();
    assert_eq!(
        reg.runtime.store.unwrap().describe(),
        "sqlite:data/switchboard.sqlite"
    );

    let err = load("{ backend: postgres }").unwrap_err();
    assert!(
        err.contains("runtime.store.url: required for backend postgres"),
        "{err}"
    );
    let err = load("{ backend: sqlite, url: 'postgres://u:pw@h/db' }").unwrap_err();
    assert!(
        err.contains("runtime.store.url: only for backend postgres"),
        "{err}"
    );
    let err = load("{ backend: postgres, url: 'postgres://h/db', path: x.db, max_connections: 0 }")
        .unwrap_err();
    assert!(
        err.contains("runtime.store.path") && err.contains("runtime.store.max_connections"),
        "{err}"
    );
    let err = load("{ backend: sideways }").unwrap_err();
    assert!(err.contains("runtime.store.backend"), "{err}");
}

#[test]
fn a_postgres_url_is_never_shown() {
    let err = load("{ backend: postgres, url: 'mysql://admin:hunter2@db/x' }").unwrap_err();
    assert!(
        err.contains("runtime.store.url: is not a PostgreSQL URL"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    let reg =
        load("{ backend: postgres, url: 'postgres://admin:hunter2@db.internal:5433/sb' }").unwrap();
    let store = reg.runtime.store.clone().unwrap();
    assert_eq!(store.describe(), "postgres://db.internal:5433/sb");
    assert!(!format!("{store:?}").contains("hunter2"));
    assert!(!format!("{:?}", reg.runtime).contains("hunter2"));
}

/// A tenant enabling a store handler without a store does not start, and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_handlers_need_a_store() {
    let yaml = "runtime:\n  handlers: [message-indexer]\nproviders:\n  - provider: discord\n    tenant: duck\n    credentials: { bot_token: fake-duck }\n";
    let reg = Registry::from_yaml_str(yaml, "t.yml", &LoadOptions::default()).unwrap();
    let err = switchboard::Runtime::builder()
        .config(reg)
        .admin_listen(None)
        .build()
        .await
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("tenant discord/duck: handler message-indexer needs runtime.store"),
        "{err}"
    );
}
