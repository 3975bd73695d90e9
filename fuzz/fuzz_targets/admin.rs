//! The admin API's tenant documents (the body of `POST /v1/tenants` and
//! `PUT /v1/tenants/{provider}/{tenant}`, YAML or JSON), parsed as the admin code
//! does, without HTTP: first the probe for the names the body describes
//! (`serde_yaml_ng::Value`, then `provider` and `tenant` — as in
//! `src/runtime/admin_impl.rs` and the `PUT` handler), then
//! `Registry::with_tenant_documents`, the parse and validation a document in the
//! shared tenant store goes through (the same steps as a file in `tenants_dir`, with
//! secrets required to be `${VAR}` references). It must report problems, never panic.

#![no_main]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use switchboard::config::{LoadOptions, Registry};

/// A deterministic environment: variables starting with A–M are set, others are not.
fn env(name: &str) -> Option<String> {
    name.starts_with(|c: char| ('A'..='M').contains(&c))
        .then(|| format!("value-of-{name}"))
}

fn options() -> LoadOptions {
    LoadOptions {
        env: Arc::new(env),
        ..LoadOptions::default()
    }
}

/// The registry the document is added to: one tenant, `discord/duck`.
static BASE: LazyLock<Registry> = LazyLock::new(|| {
    let yaml = "runtime:\n  workers: 2\nproviders:\n  - provider: discord\n    tenant: duck\n    credentials:\n      bot_token: ${BOT_TOKEN}\n";
    Registry::from_yaml_str(yaml, "base.yml", &options()).expect("the base registry is valid")
});

fuzz_target!(|data: &[u8]| {
    // axum hands the handlers a `String` body: only UTF-8 gets this far.
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    let probe: Result<serde_yaml_ng::Value, _> = serde_yaml_ng::from_str(body);
    let names = probe.ok().and_then(|v| {
        Some((
            v.get("provider")?.as_str()?.to_owned(),
            v.get("tenant")?.as_str()?.to_owned(),
        ))
    });
    let label = match &names {
        Some((p, t)) => format!("redis:{p}/{t}"),
        None => "redis:unnamed".to_owned(),
    };
    if let Ok(registry) = BASE
        .clone()
        .with_tenant_documents(&[(label, body.to_owned())], &options())
    {
        assert!(
            registry.tenants.len() <= 2,
            "one document, at most one tenant"
        );
    }
});
