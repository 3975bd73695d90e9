//! Test databases (a SQLite file, or a fresh PostgreSQL database dropped on drop) and
//! a runtime serving tenants against a fresh emulator.

use std::fmt::Write as _;
use std::time::Duration;

use switchboard::config::{LoadOptions, Registry};
use switchboard::model::{
    Envelope, Event, Job, JobPayload, Payload, SocialMessageCreated, TenantId, UserRef,
};
use switchboard::runtime::{Runtime, RuntimeBuilder};
use switchboard::sim::{Sim, SimConfig, SimHandle};
use switchboard::store::{Store, StoreConfig};

/// Where the test PostgreSQL server listens (trust auth, user `postgres`).
const PG: &str = "postgres://postgres@127.0.0.1:5432";

/// The topic namespace of the test registries.
pub(crate) const NS: &str = "storetest";

/// A database for one test: a SQLite file in a temporary folder, or a PostgreSQL
/// database `test_<random>` that is dropped when this value is (pass or fail).
pub(crate) struct TestDb {
    config: StoreConfig,
    yaml: String,
    url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    /// A SQLite file in a fresh temporary folder (created by the store).
    pub(crate) fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/store.sqlite");
        Self {
            config: StoreConfig::sqlite(&path),
            yaml: format!("{{ backend: sqlite, path: '{}' }}", path.display()),
            url: format!("sqlite://{}?mode=rwc", path.display()),
            _dir: Some(dir),
            pg_name: None,
        }
    }

    /// A fresh PostgreSQL database.
    pub(crate) async fn postgres() -> Self {
        use sqlx::Connection as _;
        let name = format!("test_{:016x}", rand::random::<u64>());
        let mut admin = sqlx::PgConnection::connect(&format!("{PG}/postgres"))
            .await
            .expect("the test PostgreSQL server at 127.0.0.1:5432 is reachable");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let url = format!("{PG}/{name}");
        Self {
            config: StoreConfig::postgres(&url),
            yaml: format!("{{ backend: postgres, url: '{url}' }}"),
            url,
            _dir: None,
            pg_name: Some(name),
        }
    }

    /// `sqlite` or `postgres`, for printed figures.
    pub(crate) fn name(&self) -> &'static str {
        if self.pg_name.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    }

    /// The `runtime.store` value, as inline YAML.
    pub(crate) fn yaml(&self) -> &str {
        &self.yaml
    }

    /// Its sqlx URL (for a test's own queries through `sqlx::AnyPool`).
    #[allow(dead_code)] // tests/daemon/indexer.rs
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Its backend.
    #[allow(dead_code)] // tests/daemon/indexer.rs
    pub(crate) fn backend(&self) -> switchboard::store::StoreBackend {
        self.config.backend
    }

    /// A new connection pool to it.
    pub(crate) async fn connect(&self) -> Store {
        Store::connect(&self.config).await.unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs inside the test's runtime: drop the database from a thread of
        // its own, with its own runtime, and wait for it.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                use sqlx::Connection as _;
                let mut admin = sqlx::PgConnection::connect(&format!("{PG}/postgres")).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop a test database: {dropped:?}");
        }
    }
}

/// A tenant id.
pub(crate) fn tenant(name: &str) -> TenantId {
    TenantId::parse("discord", name).unwrap()
}

/// A message `id` in `channel` saying `content`.
pub(crate) fn message(id: &str, channel: &str, content: &str) -> SocialMessageCreated {
    SocialMessageCreated {
        message_id: id.to_owned(),
        channel_id: channel.to_owned(),
        guild_id: Some("1".to_owned()),
        author: UserRef {
            id: "42".to_owned(),
            name: "mallard".to_owned(),
            display_name: None,
            bot: false,
        },
        content: content.to_owned(),
        attachments: Vec::new(),
        mentions: Vec::new(),
        reply_to: None,
        timestamp_ms: 1_700_000_000_000,
        from_self: false,
    }
}

/// A registry of `tenants` (each with `handlers`, if given) with `runtime.store` on
/// `db`; `extra` goes into the `runtime:` section.
pub(crate) fn registry_yaml(db: &TestDb, extra: &str, tenants: &[(&str, Option<&str>)]) -> String {
    let mut yaml = format!(
        "namespace: {NS}\nruntime:\n  workers: 4\n  handlers: []\n  store: {}\n{extra}providers:\n",
        db.yaml()
    );
    for (name, handlers) in tenants {
        let _ = writeln!(
            yaml,
            "  - provider: discord\n    tenant: {name}\n    credentials: {{ bot_token: fake-{name} }}\n    gateway: {{ intents: [guilds, guild_messages, message_content] }}"
        );
        if let Some(h) = handlers {
            let _ = writeln!(yaml, "    handlers: {h}");
        }
    }
    yaml
}

/// Starts an emulator for `yaml`'s tenants (`tweak` applied to its configuration).
pub(crate) async fn start_sim(yaml: &str, tweak: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let reg = Registry::from_yaml_str(yaml, "t.yml", &LoadOptions::default()).unwrap();
    let mut config = SimConfig::from_registry(&reg).unwrap();
    tweak(&mut config);
    Sim::start(config, "127.0.0.1:0").await.unwrap()
}

/// Builds a runtime for `yaml` against `sim` and waits until every tenant's gateway
/// is connected.
pub(crate) async fn start_runtime(
    sim: &SimHandle,
    yaml: &str,
    build: impl FnOnce(RuntimeBuilder) -> RuntimeBuilder,
) -> Runtime {
    let mut reg = Registry::from_yaml_str(yaml, "t.yml", &LoadOptions::default()).unwrap();
    for t in &mut reg.tenants {
        t.endpoints.api = Some(format!("http://{}", sim.api_host()));
        t.endpoints.gateway = Some(sim.gateway_url());
    }
    let names: Vec<String> = reg.tenants.iter().map(|t| t.tenant.to_string()).collect();
    let runtime = build(Runtime::builder().config(reg).admin_listen(None))
        .build()
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for name in &names {
        while sim.connected_sessions(name) < 1 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} never connected"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    runtime
}

/// Waits until every envelope published is acked or dead-lettered and nothing waits
/// or runs.
pub(crate) async fn settled(runtime: &Runtime, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let b = runtime.bus().stats();
        if b.published == b.acked + b.dead_lettered
            && b.scheduler.waiting == 0
            && b.scheduler.in_flight == 0
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "envelopes unaccounted for: {b:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Publishes `event` for `tenant` on the runtime's bus, as a fresh envelope (a
/// redelivery as far as handlers can tell).
pub(crate) async fn publish(runtime: &Runtime, tenant: &TenantId, event: Event) {
    let env = Envelope::new(NS, tenant, Payload::Event(event)).unwrap();
    runtime.bus().publish(env).await.unwrap();
}

/// A job for the handler `handler` carrying `payload`.
pub(crate) fn job(handler: &str, payload: serde_json::Value) -> Event {
    Event::Job(Job {
        schedule: "manual".to_owned(),
        slot_ms: 0,
        handler: Some(handler.to_owned()),
        payload: JobPayload::Json(payload),
        recovered: false,
    })
}

/// Polls `check` (bounded) until it returns `true`.
pub(crate) async fn until<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
