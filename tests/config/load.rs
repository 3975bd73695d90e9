//! The registry loader against real files.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use secrecy::ExposeSecret;
use switchboard::config::{BackendKind, ConfigError, LoadOptions, Registry, Shards};

fn opts(vars: &[(&str, &str)]) -> LoadOptions {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    LoadOptions {
        env: Arc::new(move |name| map.get(name).cloned()),
        ..LoadOptions::default()
    }
}

fn load_str(yaml: &str, o: &LoadOptions) -> Result<Registry, ConfigError> {
    Registry::from_yaml_str(yaml, "test.yml", o)
}

fn messages(err: &ConfigError) -> Vec<String> {
    err.issues.iter().map(ToString::to_string).collect()
}

const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/providers.yml");

#[test]
fn shipped_example_loads_with_env() {
    let o = opts(&[
        ("DISCORD_TOKEN_DUCK", "fake-duck-token"),
        ("DISCORD_TOKEN_GOOSE", "fake-goose-token"),
        ("LLM_KEY_DUCK", "fake-llm-key"),
    ]);
    let reg = Registry::load_with(SHIPPED, &o).expect("shipped example is valid");
    assert_eq!(reg.namespace, "promethean");
    assert_eq!(reg.runtime.workers, 8);
    assert_eq!(reg.runtime.handlers, ["ping", "echo"]);
    assert_eq!(reg.tenants.len(), 2);
    let duck = &reg.tenants[0];
    assert_eq!(duck.id().to_string(), "discord/duck");
    assert_eq!(
        duck.credentials
            .bot_token
            .as_ref()
            .map(|s| s.expose_secret().to_owned()),
        Some("fake-duck-token".to_owned())
    );
    assert_eq!(duck.secrets["llm_api_key"].expose_secret(), "fake-llm-key");
    assert_eq!(duck.settings["persona"], "a helpful duck");
    assert_eq!(duck.handlers(&reg.runtime), ["ping"]);
    assert_eq!(duck.gateway.shards, Shards::Auto);
    let goose = &reg.tenants[1];
    assert_eq!(goose.handlers(&reg.runtime), ["ping", "echo"]);
    assert_eq!(goose.gateway.shards, Shards::Fixed(1));
    assert_eq!(goose.storage_namespace(), "discord__goose");
}

#[test]
fn debug_output_never_contains_secrets() {
    let canary = "CANARY-7f3e9a-not-a-real-token";
    let o = opts(&[
        ("DISCORD_TOKEN_DUCK", canary),
        ("DISCORD_TOKEN_GOOSE", canary),
        ("LLM_KEY_DUCK", canary),
    ]);
    let reg = Registry::load_with(SHIPPED, &o).unwrap();
    let debug = format!("{reg:?} {:#?}", reg.tenants);
    assert!(!debug.contains(canary), "canary leaked into Debug output");
    assert!(debug.contains("REDACTED"));
}

#[test]
fn unknown_field_duplicate_tenant_and_unset_var_are_all_reported() {
    let yaml = r"
namespace: promethean
runtime:
  workerz: 3
providers:
  - provider: discord
    tenant: duck
    credentials:
      bot_token: ${MISSING_TOKEN}
  - provider: discord
    tenant: duck
    credentials:
      bot_token: literal
";
    let err = load_str(yaml, &opts(&[])).unwrap_err();
    let msgs = messages(&err);
    assert_eq!(msgs.len(), 3, "{msgs:#?}");
    assert!(
        msgs.contains(&"test.yml: runtime.workerz: unknown field".to_owned()),
        "{msgs:#?}"
    );
    assert!(msgs.contains(
        &"test.yml: providers[0].credentials.bot_token: environment variable MISSING_TOKEN is not set"
            .to_owned()
    ));
    assert!(msgs.contains(
        &"test.yml: providers[1]: duplicate tenant discord/duck (first defined at test.yml: providers[0])"
            .to_owned()
    ));
}

#[test]
fn every_unknown_field_is_listed_not_just_the_first() {
    let yaml = r"
runtime: { bogus_a: 1, bogus_b: 2, admin: { listen: '127.0.0.1:1', colour: red } }
extra: true
providers:
  - { provider: discord, tenant: a, credentials: { bot_token: t, pin: 1 }, gatway: {} }
";
    let msgs = messages(&load_str(yaml, &opts(&[])).unwrap_err());
    for expected in [
        "test.yml: runtime.bogus_a: unknown field",
        "test.yml: runtime.bogus_b: unknown field",
        "test.yml: runtime.admin.colour: unknown field",
        "test.yml: providers[0].credentials.pin: unknown field",
        "test.yml: providers[0].gatway: unknown field",
    ] {
        assert!(
            msgs.iter().any(|m| m == expected),
            "missing {expected:?} in {msgs:#?}"
        );
    }
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("test.yml: extra: unknown field")),
        "{msgs:#?}"
    );
}

#[test]
fn bad_schedules_are_reported_with_their_paths() {
    let yaml = r#"
providers:
  - provider: discord
    tenant: duck
    credentials: { bot_token: t }
    schedules:
      - { name: tick, cron: "* * * * * *" }
      - { name: tick, cron: "0 9 * * MON-FRI", tz: Europe/Berlin }
      - { name: Bad, cron: "61 * * * *", tz: Mars/Olympus, missed: once }
      - { name: never, cron: "0 0 30 2 *", handler: "a.b" }
"#;
    let msgs = messages(&load_str(yaml, &opts(&[])).unwrap_err());
    let has = |prefix: &str| msgs.iter().any(|m| m.starts_with(prefix));
    for p in [
        "test.yml: providers[0].schedules[1].name: \"tick\" is used by another schedule",
        "test.yml: providers[0].schedules[2].name: schedule name \"Bad\"",
        "test.yml: providers[0].schedules[2].tz: unknown time zone \"Mars/Olympus\"",
        "test.yml: providers[0].schedules[3].cron: cron pattern \"0 0 30 2 *\": it never fires",
        "test.yml: providers[0].schedules[3].handler: handler name \"a.b\"",
    ] {
        assert!(has(p), "missing {p:?} in {msgs:#?}");
    }
    // A type error in the entry is named by its path too.
    let odd = load_str(
        "providers:\n  - provider: discord\n    tenant: duck\n    credentials: { bot_token: t }\n    schedules:\n      - { name: odd, cron: \"* * * * *\", missed: sometimes }\n",
        &opts(&[]),
    )
    .unwrap_err();
    assert_eq!(
        messages(&odd),
        [
            "test.yml: providers[0].schedules[0].missed: unknown variant `sometimes`, expected `skip` or `once`"
        ]
    );
    // A good one loads, with its payload as JSON.
    let ok = load_str(
        "providers:\n  - provider: discord\n    tenant: duck\n    credentials: { bot_token: t }\n    schedules:\n      - { name: tick, cron: \"*/5 * * * *\", payload: { n: 1 }, missed: once }\n",
        &opts(&[]),
    )
    .unwrap();
    let s = &ok.tenants[0].schedules[0];
    assert_eq!(
        (s.name.as_str(), s.payload.clone()),
        ("tick", Some(serde_json::json!({ "n": 1 })))
    );
}

#[test]
fn semantic_errors_name_field_and_expectation() {
    let yaml = r#"
namespace: Prom
runtime:
  workers: 0
  vault: { backend: redis, url: "http://x" }
  bus: { backend: memory, url: "redis://x" }
providers:
  - provider: discord
    tenant: Duck
    credentials: { bot_token: t, app_id: "12ab" }
    allow: { guilds: ["1x"], channels: ["*"] }
    gateway: { intents: [guilds, guild_mesages] }
    endpoints: { api: "ftp://x", gateway: "http://127.0.0.1:1/gateway" }
  - provider: matrix
    tenant: m
  - provider: discord
    tenant: nocreds
"#;
    let o = opts(&[("SWITCHBOARD_VAULT_KEY", "k")]);
    let msgs = messages(&load_str(yaml, &o).unwrap_err());
    let has = |prefix: &str| msgs.iter().any(|m| m.starts_with(prefix));
    for p in [
        "test.yml: namespace: \"Prom\" contains 'P' at position 0",
        "test.yml: runtime.workers: must be at least 1",
        "test.yml: runtime.vault.url: \"http://x\" is not a Redis URL",
        "test.yml: runtime.bus.url: only for backend redis",
        "test.yml: providers[0].tenant: invalid tenant name \"Duck\"",
        "test.yml: providers[0].credentials.app_id: \"12ab\" is not a snowflake id",
        "test.yml: providers[0].allow.guilds[0]: \"1x\" is not a snowflake id",
        "test.yml: providers[0].gateway.intents[1]: unknown intent \"guild_mesages\"",
        "test.yml: providers[0].endpoints.api: \"ftp://x\" is not a valid URL (expected http://host:port or https://host:port)",
        "test.yml: providers[0].endpoints.gateway: \"http://127.0.0.1:1/gateway\" is not a valid URL",
        "test.yml: providers[1].provider: unknown provider \"matrix\" (supported: discord)",
        "test.yml: providers[2].credentials.bot_token: required for provider discord",
    ] {
        assert!(has(p), "missing {p:?} in {msgs:#?}");
    }
}

#[test]
fn redis_tls_parameters_are_checked() {
    let base = "providers:\n  - { provider: discord, tenant: a, credentials: { bot_token: t } }\n";
    let runtime = |bus: &str, vault: &str| {
        format!(
            "runtime:\n  bus: {{ backend: redis, url: '{bus}' }}\n  vault: {{ backend: redis, url: '{vault}' }}\n{base}"
        )
    };
    let o = opts(&[("SWITCHBOARD_VAULT_KEY", "k")]);
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "no certificate here\n").expect("write");

    // `ca_file` asks for TLS: on redis:// it is an error, not ignored; a missing or
    // empty file is named.
    let yaml = runtime(
        "redis://:pw@127.0.0.1:6379/?ca_file=/etc/ca.pem",
        &format!("rediss://127.0.0.1:6380/?ca_file={}", ca.display()),
    );
    let msgs = messages(&load_str(&yaml, &o).unwrap_err());
    assert!(
        msgs.iter()
            .any(|m| m
                .starts_with("test.yml: runtime.bus.url: `ca_file` is only allowed on a TLS URL")),
        "{msgs:#?}"
    );
    assert!(
        msgs.iter().any(
            |m| m.starts_with("test.yml: runtime.vault.url: the Redis CA file")
                && m.contains("holds no PEM certificate")
        ),
        "{msgs:#?}"
    );
    assert!(!msgs.iter().any(|m| m.contains(":pw@")), "{msgs:#?}");

    // `check-config --no-env` does not read files (they belong to the deployment).
    let no_env = LoadOptions {
        resolve_env: false,
        ..opts(&[])
    };
    let yaml = runtime(
        "rediss://127.0.0.1:6380/?ca_file=/nonexistent/ca.pem",
        "rediss://127.0.0.1:6380",
    );
    load_str(&yaml, &no_env).expect("valid without reading files");
    let msgs = messages(&load_str(&yaml, &o).unwrap_err());
    assert!(
        msgs.iter().any(|m| m.starts_with(
            "test.yml: runtime.bus.url: cannot read the Redis CA file /nonexistent/ca.pem"
        )),
        "{msgs:#?}"
    );
}

#[test]
fn unknown_backend_and_bad_types_are_named() {
    let yaml = "runtime:\n  vault: { backend: etcd }\n  bus: { backend: kafka }\nproviders:\n  - { provider: discord, tenant: a, credentials: { bot_token: t }, gateway: { shards: 0 } }\n";
    let msgs = messages(&load_str(yaml, &opts(&[])).unwrap_err());
    assert!(
        msgs.iter().any(|m| m.starts_with(
            "test.yml: runtime.vault.backend: unknown variant `etcd`, expected `memory` or `redis`"
        )),
        "{msgs:#?}"
    );
    assert!(
        msgs.iter().any(|m| m
            .starts_with("test.yml: providers[0].gateway.shards: shard count must be at least 1")),
        "{msgs:#?}"
    );
}

#[test]
fn strict_mode_rejects_plaintext_secrets() {
    let yaml = r"
providers:
  - provider: discord
    tenant: duck
    credentials: { bot_token: plain-token-value }
    secrets: { llm: also-plain, ok: '${LLM}' }
";
    let mut o = opts(&[("LLM", "v")]);
    assert!(
        load_str(yaml, &o).is_ok(),
        "plaintext is allowed outside strict mode"
    );
    o.strict = true;
    let msgs = messages(&load_str(yaml, &o).unwrap_err());
    assert_eq!(
        msgs,
        [
            "test.yml: providers[0].credentials.bot_token: plaintext secret; strict mode requires a ${VAR} reference",
            "test.yml: providers[0].secrets.llm: plaintext secret; strict mode requires a ${VAR} reference",
        ]
    );
    // `runtime.strict: true` in the file has the same effect.
    let in_file = format!("runtime: {{ strict: true }}\n{yaml}");
    assert_eq!(
        messages(&load_str(&in_file, &opts(&[("LLM", "v")])).unwrap_err()).len(),
        2
    );
}

#[test]
fn no_env_leaves_references_unresolved() {
    let o = LoadOptions {
        resolve_env: false,
        ..opts(&[])
    };
    let reg = Registry::load_with(SHIPPED, &o).unwrap();
    assert_eq!(
        reg.tenants[0]
            .credentials
            .bot_token
            .as_ref()
            .unwrap()
            .expose_secret(),
        "${DISCORD_TOKEN_DUCK}"
    );
}

#[test]
fn tenants_dir_is_merged_and_duplicates_across_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("main.yml");
    std::fs::create_dir(dir.path().join("tenants.d")).unwrap();
    std::fs::write(
        &main,
        "runtime: { tenants_dir: tenants.d, vault: { backend: memory } }\nproviders:\n  - { provider: discord, tenant: duck, credentials: { bot_token: a } }\n",
    )
    .unwrap();
    let write = |name: &str, body: &str| {
        std::fs::write(dir.path().join("tenants.d").join(name), body).unwrap();
    };
    write(
        "crow.yml",
        "provider: discord\ntenant: crow\ncredentials: { bot_token: '${CROW}' }\n",
    );
    write("notes.txt", "ignored: not yaml by extension");
    let reg = Registry::load_with(&main, &opts(&[("CROW", "c")])).unwrap();
    let ids: Vec<String> = reg.tenants.iter().map(|t| t.id().to_string()).collect();
    assert_eq!(ids, ["discord/duck", "discord/crow"]);
    assert!(reg.tenants[1].source.ends_with("tenants.d/crow.yml"));
    assert_eq!(
        reg.runtime.tenants_dir.as_deref(),
        Some(dir.path().join("tenants.d").as_path())
    );

    write(
        "duck.yml",
        "provider: discord\ntenant: duck\ncredentials: { bot_token: b }\n",
    );
    let msgs = messages(&Registry::load_with(&main, &opts(&[("CROW", "c")])).unwrap_err());
    assert_eq!(msgs.len(), 1, "{msgs:#?}");
    assert!(
        msgs[0].contains("tenants.d/duck.yml: duplicate tenant discord/duck (first defined at "),
        "{msgs:#?}"
    );
    assert!(msgs[0].contains("main.yml: providers[0])"), "{msgs:#?}");
}

#[test]
fn yaml_syntax_errors_and_missing_files_are_reported() {
    let err = load_str("providers: [\n  - {", &opts(&[])).unwrap_err();
    assert!(err.issues[0].path.starts_with("line "), "{err}");
    assert!(err.issues[0].message.starts_with("not valid YAML"), "{err}");
    let err = Registry::load_with(Path::new("/nonexistent/registry.yml"), &opts(&[])).unwrap_err();
    assert!(
        err.to_string()
            .contains("/nonexistent/registry.yml: cannot read file"),
        "{err}"
    );
}

#[test]
fn defaults_apply_when_sections_are_missing() {
    let reg = load_str("providers: []", &opts(&[])).unwrap();
    assert_eq!(reg.namespace, "promethean");
    assert_eq!(reg.runtime.workers, 8);
    assert_eq!(reg.runtime.vault.backend, BackendKind::Memory);
    assert_eq!(reg.runtime.max_deliveries, 5);
    assert_eq!(reg.runtime.admin.listen.to_string(), "127.0.0.1:7878");
    assert!(!reg.runtime.admin.auth_reads);
    assert!(reg.tenants.is_empty());
}

#[test]
fn a_non_loopback_admin_address_needs_a_token() {
    let yaml = |admin: &str| format!("runtime:\n  admin: {admin}\nproviders: []\n");
    // Loopback needs nothing; any other address needs token_env naming a set variable.
    for ok in [
        "{ listen: '127.0.0.1:7878' }",
        "{ listen: '[::1]:7878' }",
        "{ listen: '0.0.0.0:7878', token_env: ADMIN_TOK }",
    ] {
        let r = load_str(&yaml(ok), &opts(&[("ADMIN_TOK", "t")]));
        assert!(r.is_ok(), "{ok}: {:?}", r.err().map(|e| messages(&e)));
    }
    let cases = [
        (
            "{ listen: '0.0.0.0:7878' }",
            &[][..],
            "test.yml: runtime.admin.listen: 0.0.0.0:7878 is not a loopback address and runtime.admin.token_env is not set",
        ),
        (
            "{ listen: '[::]:7878' }",
            &[][..],
            "test.yml: runtime.admin.listen: [::]:7878 is not a loopback address",
        ),
        (
            "{ listen: '10.1.2.3:7878', token_env: ADMIN_TOK }",
            &[][..],
            "test.yml: runtime.admin.token_env: environment variable ADMIN_TOK is not set or empty, and runtime.admin.listen 10.1.2.3:7878 is not a loopback address",
        ),
        (
            "{ listen: '10.1.2.3:7878', token_env: ADMIN_TOK }",
            &[("ADMIN_TOK", "")][..],
            "test.yml: runtime.admin.token_env: environment variable ADMIN_TOK is not set or empty",
        ),
        (
            "{ auth_reads: true }",
            &[][..],
            "test.yml: runtime.admin.auth_reads: needs runtime.admin.token_env",
        ),
        (
            "{ token_env: 'not a var' }",
            &[][..],
            "test.yml: runtime.admin.token_env: \"not a var\" is not a variable name",
        ),
    ];
    for (admin, vars, want) in cases {
        let err = load_str(&yaml(admin), &opts(vars)).unwrap_err();
        let m = messages(&err);
        assert_eq!(m.len(), 1, "{admin}: {m:?}");
        assert!(m[0].starts_with(want), "{admin}: {m:?}");
    }
    // `--no-env` cannot see the variable: the reference is enough.
    let o = LoadOptions {
        resolve_env: false,
        ..opts(&[])
    };
    let reg = load_str(
        &yaml("{ listen: '0.0.0.0:7878', token_env: ADMIN_TOK, auth_reads: true }"),
        &o,
    )
    .unwrap();
    assert!(reg.runtime.admin.auth_reads);
}

#[test]
fn allow_lists_filter_guilds_and_channels() {
    let yaml = "providers:\n  - { provider: discord, tenant: a, credentials: { bot_token: t }, allow: { guilds: ['111'], channels: ['222', '333'] } }\n";
    let reg = load_str(yaml, &opts(&[])).unwrap();
    let allow = &reg.tenants[0].allow;
    assert!(allow.allows(Some("111"), Some("222")));
    assert!(!allow.allows(Some("111"), Some("444")));
    assert!(!allow.allows(Some("999"), Some("222")));
    assert!(
        !allow.allows(None, Some("222")),
        "a DM passes only a '*' guild list"
    );
}

/// The cluster's shared tenant registry: it needs the Redis bus; its documents are
/// merged like `tenants_dir` files, must hold secrets only as `${VAR}` references,
/// and may not redefine a tenant of the file.
#[test]
fn shared_tenant_documents_are_checked_and_merged() {
    let o = opts(&[("TOK_DUCK", "fake-duck"), ("TOK_GOOSE", "fake-goose")]);
    let base = "runtime:\n  tenants_store: redis\nproviders:\n  - provider: discord\n    tenant: duck\n    credentials:\n      bot_token: ${TOK_DUCK}\n";
    let err = load_str(base, &o).expect_err("tenants_store redis on the memory bus");
    assert!(
        messages(&err)
            .iter()
            .any(|m| m.contains("runtime.tenants_store")),
        "{err}"
    );
    let base = base.replace(
        "runtime:\n",
        "runtime:\n  bus: { backend: redis, url: 'redis://127.0.0.1:6379' }\n",
    );
    let reg = load_str(&base, &o).expect("valid");
    let goose = "provider: discord\ntenant: goose\ncredentials:\n  bot_token: ${TOK_GOOSE}\n";
    let merged = reg
        .clone()
        .with_tenant_documents(&[("redis:discord/goose".into(), goose.into())], &o)
        .expect("merged");
    let ids: Vec<String> = merged.tenants.iter().map(|t| t.id().to_string()).collect();
    assert_eq!(ids, ["discord/duck", "discord/goose"]);
    let token = merged.tenants[1]
        .credentials
        .bot_token
        .as_ref()
        .expect("resolved");
    assert_eq!(token.expose_secret(), "fake-goose");

    let literal = goose.replace("${TOK_GOOSE}", "fake-goose");
    let err = reg
        .clone()
        .with_tenant_documents(&[("redis:discord/goose".into(), literal)], &o)
        .expect_err("a literal secret");
    let m = messages(&err);
    assert!(
        m.iter()
            .any(|m| m.contains("redis:discord/goose") && m.contains("plaintext secret")),
        "{m:?}"
    );
    let duck = goose.replace("goose", "duck");
    let err = reg
        .with_tenant_documents(&[("redis:discord/duck".into(), duck)], &o)
        .expect_err("a duplicate");
    assert!(
        messages(&err)
            .iter()
            .any(|m| m.contains("duplicate tenant discord/duck")),
        "{err}"
    );
}

#[test]
fn interaction_deadlines_are_checked() {
    let ok = "runtime: { interactions: { defer_after_ms: 1000 } }\nproviders:\n  - { provider: discord, tenant: a, credentials: { bot_token: t } }\n";
    let reg = load_str(ok, &opts(&[])).expect("valid");
    assert_eq!(reg.runtime.interactions.defer_after_ms, 1000);
    assert_eq!(reg.runtime.interactions.answer_within_ms, 10_000, "default");
    let bad = "runtime: { interactions: { defer_after_ms: 3000, answer_within_ms: 5, defer_aftr: 1 } }\nproviders:\n  - { provider: discord, tenant: a, credentials: { bot_token: t } }\n";
    let msgs = messages(&load_str(bad, &opts(&[])).unwrap_err());
    for field in [
        "runtime.interactions.defer_after_ms: 3000 is outside 100–2500",
        "runtime.interactions.answer_within_ms: 5 is outside 1000–840000",
        "runtime.interactions.defer_aftr: unknown field",
    ] {
        assert!(
            msgs.iter()
                .any(|m| m.starts_with(&format!("test.yml: {field}"))),
            "{field} not in {msgs:#?}"
        );
    }
}
