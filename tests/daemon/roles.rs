//! An access node and a worker node on one Redis answer `!ping` together; the worker
//! node has no bot token in its environment.

use std::time::Duration;

use crate::redis_server::TestRedis;
use crate::support::{Daemon, eventually, registry, replies, say, sim, wait};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_and_worker_nodes_answer_together() {
    let redis = TestRedis::start().await;
    let sim = sim(&[("duck", "fake-duck")]).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = crate::support::redis_runtime(&redis, "", "");
    let reg = registry(dir.path(), &sim, &[("duck", "TOK_DUCK")], &extra);
    let key = "0000000000000000000000000000000000000000000000000000000000000001";
    let access = Daemon::start(
        &[
            "--config",
            reg.to_str().unwrap(),
            "--role",
            "access",
            "--node-id",
            "access-1",
        ],
        &[("TOK_DUCK", "fake-duck"), ("TEST_VAULT_KEY", key)],
    );
    // The worker node's environment has the vault key and nothing else.
    let worker = Daemon::start(
        &[
            "--config",
            reg.to_str().unwrap(),
            "--role",
            "worker",
            "--node-id",
            "worker-1",
        ],
        &[("TEST_VAULT_KEY", key)],
    );
    eventually(Duration::from_secs(60), "duck connected", || {
        sim.connected_sessions("duck") == 1
    })
    .await;
    say(&sim, "!ping");
    let answered = wait(Duration::from_secs(60), || {
        replies(&sim, "pong") == ["duck"]
    })
    .await;
    assert!(
        answered,
        "no pong
--- access:
{}
--- worker:
{}",
        access.output(),
        worker.output()
    );
    // The pong reaches the emulator before the worker has acked its delivery: poll.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status: serde_json::Value = reqwest::get(format!("{}/v1/status", worker.admin))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["workers"]["handled"].as_u64().unwrap() >= 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let access_status: serde_json::Value = reqwest::get(format!("{}/v1/status", access.admin))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        access_status["workers"].is_null(),
        "the access node runs no workers"
    );
    assert!(!worker.output().contains("fake-duck"));
}

/// `switchboard ARGS` with only `env`; its stdout, or a panic naming stderr.
fn switchboard(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run switchboard");
    assert!(
        out.status.success(),
        "switchboard {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// A raw command as `client`'s user; `Err` holds Redis's error text.
async fn raw(client: &fred::prelude::Client, args: &[&str]) -> Result<fred::types::Value, String> {
    use fred::types::{ClusterHash, CustomCommand};
    let (cmd, rest) = args.split_first().expect("a command");
    let cmd = CustomCommand::new((*cmd).to_owned(), ClusterHash::Random, false);
    fred::interfaces::ClientLike::custom::<fred::types::Value, _>(
        client,
        cmd,
        rest.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>(),
    )
    .await
    .map_err(|e| e.to_string())
}

/// The split deployment of issue 13: an access node and a worker node, each under
/// the Redis user `switchboard redis-acl` prints for its role, the worker node with
/// the worker key alone. Every tenant answers; the worker's connection and key, taken
/// as an attacker would, reach no bot token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_under_its_acl_user_with_only_the_worker_key_reaches_no_token() {
    use secrecy::ExposeSecret as _;
    use switchboard::vault::{SecretKind, SecretPath, VaultKey, VaultKeys};

    let redis = TestRedis::start().await;
    let prefix = redis.prefix().to_owned();
    let tenants = [("duck", "fake-duck-canary"), ("goose", "fake-goose-canary")];
    let sim = sim(&tenants).await;
    let admin = redis.client().await;
    for (role, user, pw) in [
        ("access", "sbaccess", "access-pw"),
        ("worker", "sbworker", "worker-pw"),
    ] {
        let line = switchboard(
            &[
                "redis-acl",
                "--role",
                role,
                "--user",
                user,
                "--password-env",
                "PW",
                "--prefix",
                &prefix,
                "--format",
                "setuser",
            ],
            &[("PW", pw)],
        );
        assert!(!line.contains(pw), "the password is stored hashed");
        let args: Vec<&str> = line.split(' ').collect();
        raw(&admin, &args).await.expect("ACL SETUSER");
    }
    let url = |user: &str, pw: &str| format!("redis://{user}:{pw}@127.0.0.1:{}", redis.port());
    let master = "00000000000000000000000000000000000000000000000000000000000000aa";
    let worker_key = switchboard(
        &["vault-key", "worker"],
        &[("SWITCHBOARD_VAULT_KEY", master)],
    );
    assert_eq!(worker_key.len(), 64);
    assert_ne!(worker_key, master);

    // Tenants live in the cluster's shared registry (created below through the admin
    // API), so neither file lists one, and the worker's file is its Redis URL and the
    // names of its variables: no credential, no tenant.
    let runtime = |url: &str| {
        format!(
            "  vault: {{ backend: redis, url: '{url}', key_env: TEST_VAULT_KEY, worker_key_env: TEST_WORKER_KEY }}\n  bus: {{ backend: redis, url: '{url}' }}\n  redis_prefix: {prefix}\n  tenants_store: redis\n"
        )
    };
    let (access_dir, worker_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let access_reg = registry(
        access_dir.path(),
        &sim,
        &[],
        &runtime(&url("sbaccess", "access-pw")),
    );
    let worker_reg = registry(
        worker_dir.path(),
        &sim,
        &[],
        &runtime(&url("sbworker", "worker-pw")),
    );
    let access = Daemon::start(
        &[
            "--config",
            access_reg.to_str().unwrap(),
            "--role",
            "access",
            "--node-id",
            "access-1",
        ],
        &[
            ("TOK_DUCK", tenants[0].1),
            ("TOK_GOOSE", tenants[1].1),
            ("TEST_VAULT_KEY", master),
            ("TEST_ADMIN_TOKEN", "t0k"),
        ],
    );
    // The worker node: its Redis user, the worker key, nothing else.
    let worker = Daemon::start(
        &[
            "--config",
            worker_reg.to_str().unwrap(),
            "--role",
            "worker",
            "--node-id",
            "worker-1",
        ],
        &[("TEST_WORKER_KEY", worker_key.as_str())],
    );
    let http = reqwest::Client::new();
    for (tenant, var) in [("duck", "TOK_DUCK"), ("goose", "TOK_GOOSE")] {
        let created = http
            .post(format!("{}/v1/tenants", access.admin))
            .bearer_auth("t0k")
            .header("content-type", "application/yaml")
            .body(crate::support::tenant_file(&sim, tenant, var))
            .send()
            .await
            .unwrap();
        assert!(
            created.status().is_success(),
            "{}",
            created.text().await.unwrap()
        );
    }
    eventually(Duration::from_secs(60), "both bots connected", || {
        sim.connected_sessions("duck") == 1 && sim.connected_sessions("goose") == 1
    })
    .await;
    say(&sim, "!ping");
    let answered = wait(Duration::from_secs(60), || {
        let mut r = replies(&sim, "pong");
        r.sort();
        r == ["duck", "goose"]
    })
    .await;
    assert!(
        answered,
        "not every tenant answered\n--- access:\n{}\n--- worker:\n{}",
        access.output(),
        worker.output()
    );

    // The worker's connection, used by hand: no credential, however asked.
    let thief = crate::redis_server::client(&url("sbworker", "worker-pw")).await;
    for (tenant, _) in tenants {
        let cred = format!("{prefix}:vault:{{discord:{tenant}}}:cred:bot_token");
        let session = format!("{prefix}:{{discord:{tenant}}}:gateway:session:0");
        let interaction = format!("{prefix}:{{discord:{tenant}}}:interaction:1");
        for args in [
            vec!["GET", interaction.as_str()],
            vec!["HGETALL", cred.as_str()],
            vec!["HGET", cred.as_str(), "cur"],
            vec!["DUMP", cred.as_str()],
            vec!["GET", session.as_str()],
            vec![
                "EVAL",
                "return redis.call('HGET', KEYS[1], 'cur')",
                "1",
                cred.as_str(),
            ],
            // A key the script names only inside: Redis checks the command too.
            vec![
                "EVAL",
                "return redis.call('HGET', ARGV[1], 'cur')",
                "0",
                cred.as_str(),
            ],
        ] {
            let err = raw(&thief, &args).await.expect_err("refused");
            // NOPERM, or (a command inside a script) "can't access at least one of the keys".
            assert!(
                err.contains("NOPERM") || err.contains("can't access at least one of the keys"),
                "{args:?}: {err}"
            );
        }
    }
    // ... while its own keys answer.
    let own = format!("{prefix}:vault:{{vault}}:keycheck:worker");
    assert_eq!(
        raw(&thief, &["EXISTS", own.as_str()])
            .await
            .expect("own keys"),
        fred::types::Value::Integer(1)
    );

    // The worker key, given the credential's ciphertext (read as the default user):
    // it does not open, where the vault key with the same inputs does.
    let keys = VaultKeys::worker_only(&VaultKey::parse(&worker_key).unwrap());
    let full = VaultKeys::full(&VaultKey::parse(master).unwrap());
    for (tenant, token) in tenants {
        let cred = format!("{prefix}:vault:{{discord:{tenant}}}:cred:bot_token");
        let fields: Vec<Option<Vec<u8>>> =
            fred::interfaces::HashesInterface::hmget(&admin, &cred, vec!["version", "cur"])
                .await
                .unwrap();
        let version: u64 = String::from_utf8(fields[0].clone().expect("version"))
            .unwrap()
            .parse()
            .unwrap();
        let sealed = fields[1].clone().expect("ciphertext");
        let path = SecretPath::new("discord", tenant, "bot_token").unwrap();
        for kind in [SecretKind::ProviderCredential, SecretKind::AppSecret] {
            assert!(keys.open_stored(&sealed, &path, version, kind).is_err());
        }
        let opened = full
            .open_stored(&sealed, &path, version, SecretKind::ProviderCredential)
            .expect("the vault key opens it");
        assert_eq!(opened.expose_secret(), token);
    }
    let out = worker.output();
    assert!(
        !out.contains("NOPERM"),
        "the worker works within its user:\n{out}"
    );
    for (_, token) in tenants {
        assert!(!out.contains(token));
    }
}
