//! `runtime.groups` in the registry: loaded, and every mistake named with its path.

use switchboard::config::{ConfigError, LoadOptions, Registry};

fn load(runtime: &str) -> Result<Registry, ConfigError> {
    let yaml = format!(
        "runtime:\n{runtime}providers:\n  - provider: discord\n    tenant: duck\n    credentials:\n      bot_token: fake-duck\n    gateway: {{ intents: [guilds] }}\n"
    );
    Registry::from_yaml_str(&yaml, "groups.yml", &LoadOptions::default())
}

fn messages(err: &ConfigError) -> Vec<String> {
    err.issues.iter().map(ToString::to_string).collect()
}

#[test]
fn groups_load_with_workers_and_handlers() {
    let reg = load("  groups:\n    indexer: { workers: 3, handlers: [echo] }\n    audit: {}\n")
        .expect("valid groups");
    let g = &reg.runtime.groups;
    assert_eq!(g.len(), 2);
    assert_eq!(g["indexer"].workers, 3);
    assert_eq!(g["indexer"].handlers, ["echo"]);
    assert_eq!(g["audit"].workers, 2, "the default worker count");
    assert!(g["audit"].handlers.is_empty());
    assert!(load("  workers: 2\n").unwrap().runtime.groups.is_empty());
}

#[test]
fn bad_group_names_unknown_handlers_and_zero_workers_are_each_named() {
    let err = load(
        "  groups:\n    Index.er: { handlers: [echo] }\n    default: {}\n    indexer: { workers: 0, handlers: [nope, ping] }\n",
    )
    .expect_err("invalid groups");
    let all = messages(&err).join("\n");
    assert!(all.contains("runtime.groups.Index.er"), "{all}");
    assert!(all.contains("group name \"Index.er\""), "{all}");
    assert!(
        all.contains("runtime.groups.default") && all.contains("is the default group"),
        "{all}"
    );
    assert!(all.contains("runtime.groups.indexer.workers"), "{all}");
    assert!(
        all.contains("runtime.groups.indexer.handlers[0]")
            && all.contains("unknown handler \"nope\""),
        "{all}"
    );
    assert!(!all.contains("handlers[1]"), "ping is a built-in: {all}");
    assert_eq!(err.issues.len(), 4, "{all}");
}
